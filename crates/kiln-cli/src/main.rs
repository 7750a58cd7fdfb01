//! `kiln`: build, run and inspect Kiln unikernels.
//!
//! This binary is thin on purpose: argument parsing and presentation live
//! here, the guest build in [`guest_build`], and everything about VMs in the
//! `kiln-monitor` library.
#![forbid(unsafe_code)]

/// `println!` that drops output to a closed stdout instead of panicking
/// (`kiln run app | head -1` must not crash kiln).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `eprintln!` that drops output to a closed stderr instead of panicking.
macro_rules! tell {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// `eprint!` that drops output to a closed stderr instead of panicking.
macro_rules! tell_raw {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr(), $($arg)*);
    }};
}

mod exit_code;
mod guest_build;
mod inspect;
mod instance;
mod run;
mod serve;
mod units;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use exit_code::Failure;

/// Build and run unikernels: one program plus exactly the OS it needs, booted
/// on KVM in about a millisecond.
#[derive(Parser, Debug)]
#[command(name = "kiln", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Build a crate into a Kiln image and print its path and size.
    Build {
        /// The crate's directory.
        #[arg(default_value = ".")]
        dir: PathBuf,
        #[command(flatten)]
        options: BuildOptions,
    },
    /// Run an image, or build a crate directory first and run it.
    Run(Box<run::RunArgs>),
    /// Serve a host port on demand: boot instances when connections
    /// arrive, hand each connection over without dropping it, and stop
    /// instances that stay idle.
    Serve(Box<serve::ServeArgs>),
    /// Describe an image (ABI version, entry, sections, services, files),
    /// or an instance (what it runs, its state, its last crash).
    Inspect {
        /// An image file, or an instance's name or id.
        target: PathBuf,
        /// Output for an instance: table or json.
        #[arg(long, value_enum, default_value_t)]
        format: instance::commands::Format,
    },
    /// List running instances (`kiln run -d`).
    Ps {
        /// Exited instances too.
        #[arg(short, long)]
        all: bool,
        /// Output: table or json.
        #[arg(long, value_enum, default_value_t)]
        format: instance::commands::Format,
    },
    /// Show an instance's console output.
    Logs {
        /// The instance's name or id.
        name: String,
        /// Keep printing new output until the instance ends.
        #[arg(short, long)]
        follow: bool,
        /// Only the last N lines.
        #[arg(short = 'n', long, value_name = "N")]
        tail: Option<usize>,
    },
    /// What instances use: CPU time, memory, VM exits by kind, console and volume bytes.
    Stats {
        /// Names or ids.
        #[arg(required = true)]
        names: Vec<String>,
        /// Output: table or json.
        #[arg(long, value_enum, default_value_t)]
        format: instance::commands::Format,
    },
    /// Stop instances: SIGTERM, then SIGKILL after the timeout.
    Stop {
        /// Names or ids.
        #[arg(required = true)]
        names: Vec<String>,
        /// How long to wait before killing, e.g. 10s (default 10s).
        #[arg(short, long, value_parser = units::parse_duration)]
        timeout: Option<std::time::Duration>,
    },
    /// Start stopped instances again.
    Start {
        /// Names or ids.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove instances' records.
    Rm {
        /// Names or ids.
        #[arg(required = true)]
        names: Vec<String>,
        /// Stop running ones first.
        #[arg(short, long)]
        force: bool,
    },
    /// Run an instance's program and keep its records (started by `kiln run -d`).
    #[command(hide = true)]
    Supervise {
        /// The instance's id.
        id: String,
    },
}

/// How to build a guest crate (cargo's meanings).
#[derive(Args, Debug, Clone, Default)]
pub struct BuildOptions {
    /// Build with the release profile.
    #[arg(long, conflicts_with = "profile")]
    release: bool,
    /// Build with the named profile.
    #[arg(long, value_name = "NAME")]
    profile: Option<String>,
    /// The binary to build, when the crate has several.
    #[arg(long, value_name = "NAME")]
    bin: Option<String>,
    /// Bake a host file or directory into the image at an absolute guest
    /// path (repeatable; after the manifest's `[package.metadata.kiln]
    /// include` list).
    #[arg(long, value_name = "HOST_PATH:GUEST_PATH", value_parser = guest_build::Include::from_arg)]
    include: Vec<guest_build::Include>,
}

fn main() -> ExitCode {
    let started_ns = kiln_monitor::clock::host_now_ns(libc::CLOCK_MONOTONIC);
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return exit_code::usage(error),
    };
    let result = match cli.command {
        Command::Build { dir, options } => guest_build::build_and_report(&dir, &options),
        Command::Run(args) => run::run(*args, started_ns),
        Command::Serve(args) => serve::serve(*args),
        // A path (or anything that exists) is an image; a bare word an instance.
        Command::Inspect { target, .. } if target.exists() || target.components().count() > 1 => {
            inspect::inspect(&target)
        }
        Command::Inspect { target, format } => {
            instance::commands::inspect(&target.to_string_lossy(), format)
        }
        Command::Ps { all, format } => instance::commands::ps(all, format),
        Command::Logs { name, follow, tail } => instance::commands::logs(&name, follow, tail),
        Command::Stats { names, format } => instance::commands::stats(&names, format),
        Command::Stop { names, timeout } => instance::commands::stop(&names, timeout),
        Command::Start { names } => instance::commands::start(&names),
        Command::Rm { names, force } => instance::commands::rm(&names, force),
        Command::Supervise { id } => instance::supervise(&id),
    };
    match result {
        Ok(code) => code,
        Err(failure) => failure.report(),
    }
}

/// What every subcommand returns: its own exit code, or a failure to report.
type Outcome = Result<ExitCode, Failure>;
