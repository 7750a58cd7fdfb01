//! What `kiln run --hypervisor qemu|firecracker` shares: the options only
//! Kiln's monitor offers, refused; the guest's command line; the VMM's
//! console read back with crash reports symbolized and the exit status the
//! guest printed picked out.

use std::io::{BufRead, BufReader};
use std::process::Child;

use super::RunArgs;
use crate::exit_code::{Failure, USAGE};

/// Refuses what only Kiln's monitor offers, naming `hypervisor`; `-p` too
/// unless the VMM `publishes` ports itself.
pub fn check(args: &RunArgs, hypervisor: &str, publishes: bool) -> Result<(), Failure> {
    let addressing =
        args.ip.is_some() || args.gateway.is_some() || args.mac.is_some() || args.dns.is_some();
    let unsupported = [
        (!args.volumes.is_empty(), "-v"),
        (!publishes && !args.publish.is_empty(), "-p"),
        (args.net.is_some(), "--net"),
        (addressing, "--ip/--gateway/--mac/--dns"),
        (args.detach, "-d"),
        (args.core.is_some(), "--core"),
        (args.flame_graph.is_some(), "--profile"),
        (args.timeout.is_some(), "--timeout"),
        (args.gdb.is_some(), "--gdb"),
    ];
    match unsupported.iter().find(|(given, _)| *given) {
        Some((_, flag)) => Err(Failure::new(
            USAGE,
            format!("{flag} is not available with --hypervisor {hypervisor} (Kiln's monitor only)"),
        )),
        None => Ok(()),
    }
}

/// The guest's command line: `KEY=VALUE ... -- NAME ARGS...`, after
/// `leading` (words for the library OS), as the PVH boot parses it.
pub fn command_line(
    args: &RunArgs,
    name: &str,
    leading: &[&str],
    hypervisor: &str,
) -> Result<String, Failure> {
    let env = super::guest_env(&args.env)?;
    let words: Vec<&str> = leading
        .iter()
        .copied()
        .chain(env.iter().map(String::as_str))
        .chain(["--", name])
        .chain(args.args.iter().map(String::as_str))
        .collect();
    if words.iter().any(|w| w.contains(' ') || w.is_empty()) {
        return Err(Failure::new(
            USAGE,
            format!(
                "with --hypervisor {hypervisor}, arguments and environment values cannot hold spaces or be empty"
            ),
        ));
    }
    Ok(words.join(" "))
}

/// What the guest's console said about its end.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ConsoleEnd {
    /// The status of the last crash report, if one was printed.
    pub crashed: Option<u8>,
    /// The status of the last `kiln-exit: NNN` line, if the guest printed
    /// one (it does when its command line asks).
    pub exited: Option<u8>,
}

impl ConsoleEnd {
    /// The guest's exit status, from a crash report or its status line.
    pub fn status(&self) -> Option<u8> {
        self.crashed.or(self.exited)
    }
}

/// The prefix of the status line the PVH platform prints at exit when
/// asked (`kiln-libos/src/platform/pvh/mod.rs`).
const EXIT_PREFIX: &str = "kiln-exit: ";

/// Copies the child's console (its stdout) to ours, its stderr to ours
/// without the lines `noise` matches, crash reports symbolized against
/// `image`; status lines are taken out. Returns when the console closes.
pub fn follow_console(child: &mut Child, image: &[u8], noise: fn(&str) -> bool) -> ConsoleEnd {
    let errors = BufReader::new(child.stderr.take().expect("stderr is piped"));
    let forwarder = std::thread::spawn(move || {
        for line in errors.lines().map_while(Result::ok) {
            if !noise(&line) {
                eprintln!("{line}");
            }
        }
    });
    let console = BufReader::new(child.stdout.take().expect("stdout is piped"));
    let end = read_console(
        console,
        image,
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    );
    let _ = forwarder.join();
    end
}

/// [`follow_console`]'s reading of the console, on any streams.
fn read_console(
    console: impl BufRead,
    image: &[u8],
    out: &mut dyn std::io::Write,
    reports: &mut dyn std::io::Write,
) -> ConsoleEnd {
    let mut exited = None;
    let mut kept = |line: &str| match line.strip_prefix(EXIT_PREFIX) {
        Some(status) => {
            exited = status.trim().parse::<u8>().ok();
            false
        }
        None => true,
    };
    let crashed = crate::symbolize::filter_lines(console, image, out, reports, &mut kept);
    ConsoleEnd { crashed, exited }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_are_taken_out_and_read() {
        let console = b"Hello\nkiln-exit: 042\r\n".as_slice();
        let mut out = Vec::new();
        let end = read_console(console, &[], &mut out, &mut Vec::new());
        assert_eq!(out, b"Hello\n");
        assert_eq!(
            end,
            ConsoleEnd {
                crashed: None,
                exited: Some(42)
            }
        );
        assert_eq!(end.status(), Some(42));
    }

    #[test]
    fn a_console_without_a_status_line_gives_none() {
        let end = read_console(
            b"kiln-exit: x\n".as_slice(),
            &[],
            &mut Vec::new(),
            &mut Vec::new(),
        );
        assert_eq!(end.status(), None);
    }
}
