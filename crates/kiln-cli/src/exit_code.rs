//! Exit codes, and the one-line error each failure prints.
//!
//! A guest's own exit status (0-255) passes through unchanged. Kiln's own
//! failures use codes in the range shells and container tools already use
//! for "the tool failed" or "killed by a signal", each failure kind its own:
//!
//! | code | meaning |
//! |---|---|
//! | 2   | bad command line |
//! | 119 | a host resource the run asks for is unavailable (a host port with `-p` already in use, a missing or busy TAP device) |
//! | 120 | no such image, or a registry refused or could not be reached |
//! | 121 | the guest crate failed to build |
//! | 122 | the image is invalid or does not fit the memory given |
//! | 123 | the host cannot run the VM (no usable /dev/kvm, out of host memory, a host system call that failed...) |
//! | 124 | the guest ran past `--timeout` (as `timeout(1)`) |
//! | 125 | the guest broke the hypercall ABI (a bad or hostile call) |
//! | 127 | the guest found boot info from an incompatible monitor (the guest exits so by itself) |
//! | 134 | the guest panicked (128 + SIGABRT, as an aborting process) |
//! | 137 | the guest ran out of memory (128 + SIGKILL, as a container the OOM killer ended), or gdb killed it |
//! | 139 | the guest faulted (128 + SIGSEGV, as a crashing process) |

use std::fmt;
use std::process::ExitCode;

/// The command line did not parse.
pub const USAGE: u8 = 2;
/// A host resource the run names is unavailable: a published port in use,
/// a TAP device that is missing or busy. The host itself can run VMs.
pub const UNAVAILABLE: u8 = 119;
/// The image store or a registry failed (no such image, access denied,
/// unreachable).
pub const REGISTRY: u8 = 120;
/// The guest build failed.
pub const BUILD: u8 = 121;
/// The image is not runnable.
pub const IMAGE: u8 = 122;
/// The host could not run the VM.
pub const HOST: u8 = 123;
/// `--timeout` passed.
pub const TIMEOUT: u8 = 124;
/// The guest broke the ABI.
pub const VIOLATION: u8 = 125;
/// The guest panicked.
pub const PANIC: u8 = 134;
/// The guest ran out of memory.
pub const OUT_OF_MEMORY: u8 = 137;
/// gdb killed the guest (128 + SIGKILL, as a process killed so).
pub const KILLED: u8 = 137;
/// The guest faulted.
pub const FAULT: u8 = 139;

/// A failure of kiln itself (not of the guest program), with its exit code.
#[derive(Debug)]
pub struct Failure {
    /// The process exit code.
    pub code: u8,
    /// One line saying what went wrong.
    pub message: String,
}

impl Failure {
    /// A failure with `code`.
    pub fn new(code: u8, message: impl fmt::Display) -> Self {
        Self {
            code,
            message: message.to_string(),
        }
    }

    /// Prints the message and yields the exit code.
    pub fn report(self) -> ExitCode {
        tell!("kiln: error: {}", self.message);
        ExitCode::from(self.code)
    }
}

/// Reports a command-line error on one line (help and version print as usual).
pub fn usage(error: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            // Printing help to a closed stdout is not worth a second error.
            let _ = error.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = error.print();
            ExitCode::from(USAGE)
        }
        _ => {
            let rendered = error.render().to_string();
            let mut lines = rendered.lines();
            let mut first = lines
                .next()
                .unwrap_or("invalid arguments")
                .trim_start_matches("error: ")
                .to_string();
            // "...not provided:" is followed by the list that says what.
            if first.ends_with(':') {
                let list: Vec<&str> = lines.map(str::trim).take_while(|l| !l.is_empty()).collect();
                first = format!("{first} {}", list.join(", "));
            }
            if let Some(hint) = trailing_args_hint(&error, &rendered) {
                first = format!("{first}; {hint}");
            }
            Failure::new(USAGE, format!("{first} (see 'kiln --help')")).report()
        }
    }
}

/// A word that did not parse, given to a command that takes its program's
/// arguments after `--` (`kiln run app arg`): says where they go. Flags
/// (`-x`) get clap's own tip instead.
fn trailing_args_hint(error: &clap::Error, rendered: &str) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if error.kind() != ErrorKind::UnknownArgument {
        return None;
    }
    let Some(ContextValue::String(word)) = error.get(ContextKind::InvalidArg) else {
        return None;
    };
    let usage = rendered.lines().find_map(|l| l.strip_prefix("Usage: "))?;
    let (command, _) = usage.split_once(" [-- <")?;
    (!word.starts_with('-'))
        .then(|| format!("the program's arguments go after '--': '{command} -- {word}'"))
}
