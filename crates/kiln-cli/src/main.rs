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
mod images;
mod inspect;
mod instance;
mod run;
mod serve;
mod state;
mod symbolize;
mod testing;
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
    /// Build a crate into a Kiln image and print its path and size; with
    /// -t, also store it as an OCI image under that reference.
    Build {
        /// The crate's directory.
        #[arg(default_value = ".")]
        dir: PathBuf,
        #[command(flatten)]
        options: BuildOptions,
        #[command(flatten)]
        image: ImageOptions,
    },
    /// Run an image, or build a crate directory first and run it.
    Run(Box<run::RunArgs>),
    /// Run a crate's tests, each test binary as a unikernel: `cargo test`
    /// for Kiln (its output and exit code).
    Test(Box<testing::TestArgs>),
    /// Serve a host port on demand: boot instances when connections
    /// arrive, hand each connection over without dropping it, and stop
    /// instances that stay idle.
    Serve(Box<serve::ServeArgs>),
    /// Print the directory of the Kiln sources this kiln carries (unpacked
    /// into the per-user cache on first use): a no_std guest depends on the
    /// library OS there, `kiln-libos = { path = "DIR/kiln-libos" }`.
    Sources,
    /// Describe an image file (ABI version, entry, sections, services,
    /// files), an instance (what it runs, its state, its last crash), or a
    /// stored image (its reference, digest and run settings).
    Inspect {
        /// An image file, or an instance's name or id.
        target: PathBuf,
        /// Output for an instance: table or json.
        #[arg(long, value_enum, default_value_t)]
        format: instance::commands::Format,
    },
    /// Symbolize the crash reports in a serial console log of an image
    /// booted on another hypervisor: `kiln symbolize IMAGE < console.log`.
    Symbolize {
        /// The image file that crashed.
        image: PathBuf,
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
    /// Attach gdb to a running instance: wait for gdb on a port (loopback
    /// unless an address is given), stop the guest when it attaches, and
    /// let it run on when gdb detaches.
    Debug {
        /// The instance's name or id.
        name: String,
        /// Where to wait for gdb: PORT or ADDR:PORT (port 0 picks one).
        #[arg(long, value_name = "[ADDR:]PORT", value_parser = run::gdb::parse_address)]
        gdb: std::net::SocketAddr,
    },
    /// Sample a running instance's stacks for a while and write a flame
    /// graph (an SVG), with the folded stacks beside it (FILE.folded).
    Profile {
        /// The instance's name or id.
        name: String,
        /// How long to sample, in seconds (at most an hour).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=kiln_monitor::control::PROFILE_SECONDS_MAX))]
        seconds: u64,
        /// Where the flame graph goes.
        #[arg(short, long, value_name = "FILE.svg")]
        output: PathBuf,
        /// Samples per second of each vCPU's running time, 1 to 1000.
        #[arg(long, value_name = "HZ", default_value_t = kiln_monitor::profile::DEFAULT_HZ, value_parser = clap::value_parser!(u32).range(1..=1000))]
        rate: u32,
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
    /// List stored images.
    Images {
        /// Output: table or json.
        #[arg(long, value_enum, default_value_t)]
        format: instance::commands::Format,
    },
    /// Remove stored images (their blobs go when no reference needs them).
    Rmi {
        /// References, e.g. app:v1.
        #[arg(required = true)]
        references: Vec<String>,
        /// Also an image instances were created from.
        #[arg(short, long)]
        force: bool,
    },
    /// Give a stored image another reference.
    Tag {
        /// The image's reference.
        source: String,
        /// The new reference, e.g. localhost:5000/app:v1.
        target: String,
    },
    /// Send a stored image to its registry.
    Push {
        /// The reference, e.g. registry.example.com/team/app:v1.
        reference: String,
    },
    /// Fetch an image from a registry into the store.
    Pull {
        /// The reference, e.g. registry.example.com/team/app:v1.
        reference: String,
    },
    /// Log in to a registry (the credentials are checked, then kept readable
    /// by you only; Docker's logins are used too).
    Login {
        /// The registry, HOST[:PORT].
        registry: String,
        /// The user name (asked for on a terminal when not given).
        #[arg(short, long)]
        username: Option<String>,
        /// The password (visible to other users: prefer --password-stdin).
        #[arg(short, long, conflicts_with = "password_stdin")]
        password: Option<String>,
        /// Read the password from stdin (otherwise it is asked for on a
        /// terminal, without echo).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Forget the login for a registry.
    Logout {
        /// The registry, HOST[:PORT].
        registry: String,
    },
    /// Write stored images as an OCI image layout archive (for `kiln load`,
    /// `ctr image import`, `skopeo`, `podman load`).
    Save {
        /// References.
        #[arg(required = true)]
        references: Vec<String>,
        /// The archive file (default: stdout).
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Read images from an OCI image layout archive.
    Load {
        /// The archive file (default: stdin).
        #[arg(short, long, value_name = "FILE")]
        input: Option<PathBuf>,
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

/// What `kiln build -t` records in the image for `kiln run REF`.
#[derive(Args, Debug, Clone, Default)]
pub struct ImageOptions {
    /// Also store the image under this reference (repeatable), e.g. app:v1
    /// or localhost:5000/team/app:v1.
    #[arg(short = 't', long = "tag", value_name = "REFERENCE")]
    pub tags: Vec<String>,
    /// An environment variable the image sets (repeatable): KEY=VALUE.
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE", requires = "tags")]
    pub env: Vec<String>,
    /// The guest memory limit the image runs with unless `kiln run -m`
    /// says otherwise, e.g. 256M.
    #[arg(short = 'm', long, value_parser = units::parse_memory, requires = "tags")]
    pub memory: Option<u64>,
    /// A port the program listens on (repeatable): PORT[/tcp|/udp].
    #[arg(long, value_name = "PORT[/PROTO]", requires = "tags")]
    pub expose: Vec<String>,
    /// Default arguments for the program (after `--`), replaced by those
    /// given to `kiln run`.
    #[arg(last = true, requires = "tags")]
    pub args: Vec<String>,
}

fn main() -> ExitCode {
    let started_ns = kiln_monitor::clock::host_now_ns(libc::CLOCK_MONOTONIC);
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return exit_code::usage(error),
    };
    let result = match cli.command {
        Command::Build {
            dir,
            options,
            image,
        } => images::build(&dir, &options, &image),
        Command::Run(args) => run::run(*args, started_ns),
        Command::Test(args) => testing::test(*args),
        Command::Sources => guest_build::sources::print(),
        Command::Serve(args) => serve::serve(*args),
        // A path (or anything that exists) is an image; a bare word an instance.
        Command::Inspect { target, .. } if target.exists() || target.components().count() > 1 => {
            inspect::inspect(&target)
        }
        // An instance's name first, as Docker prefers containers.
        Command::Inspect { target, format } => {
            let key = target.to_string_lossy();
            match instance::commands::exists(&key) {
                Ok(false) if images::commands::is_stored(&key) => {
                    images::commands::inspect(&key, format)
                }
                _ => instance::commands::inspect(&key, format),
            }
        }
        Command::Symbolize { image } => symbolize::symbolize(&image),
        Command::Ps { all, format } => instance::commands::ps(all, format),
        Command::Logs { name, follow, tail } => instance::commands::logs(&name, follow, tail),
        Command::Stats { names, format } => instance::commands::stats(&names, format),
        Command::Stop { names, timeout } => instance::commands::stop(&names, timeout),
        Command::Start { names } => instance::commands::start(&names),
        Command::Debug { name, gdb } => instance::debug(&name, gdb),
        Command::Profile {
            name,
            seconds,
            output,
            rate,
        } => instance::profile(&name, seconds, rate, &output),
        Command::Rm { names, force } => instance::commands::rm(&names, force),
        Command::Supervise { id } => instance::supervise(&id),
        Command::Images { format } => images::commands::images(format),
        Command::Rmi { references, force } => images::commands::rmi(&references, force),
        Command::Tag { source, target } => images::commands::tag(&source, &target),
        Command::Push { reference } => images::transfer::push(&reference),
        Command::Pull { reference } => images::transfer::pull(&reference),
        Command::Login {
            registry,
            username,
            password,
            password_stdin,
        } => images::transfer::login(&registry, username, password, password_stdin),
        Command::Logout { registry } => images::transfer::logout(&registry),
        Command::Save { references, output } => {
            images::commands::save(&references, output.as_deref())
        }
        Command::Load { input } => images::commands::load(input.as_deref()),
    };
    match result {
        Ok(code) => code,
        Err(failure) => failure.report(),
    }
}

/// What every subcommand returns: its own exit code, or a failure to report.
type Outcome = Result<ExitCode, Failure>;
