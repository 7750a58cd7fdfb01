//! `kiln test`: a crate's own test suite, each test binary booted as a
//! Kiln unikernel; what `cargo test` prints and returns, otherwise.
//!
//! Every test harness is built with the same link as `kiln build` (one
//! `cargo rustc --profile test` per target, since only one target may take
//! the freestanding link's arguments), then run by `kiln run` with the
//! harness's arguments. As under `cargo test`, a test starts in its
//! package's directory and sees `CARGO_MANIFEST_DIR` and `CARGO_PKG_*`: the
//! directory is given to the guest as a read-only volume at its own path
//! (`--no-crate-volume` leaves it out).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use clap::Args;

use crate::exit_code::{BUILD, Failure, HOST, USAGE};
use crate::guest_build::{self, Package, TestKind, TestTarget};
use crate::units::{parse_duration, parse_memory};
use crate::{BuildOptions, Outcome};

/// The exit code of a failed `cargo test`.
const TESTS_FAILED: u8 = 101;

/// Arguments of `kiln test`.
#[derive(Args, Debug)]
pub struct TestArgs {
    /// The crate's directory.
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Build with optimisations (cargo's bench profile, as `cargo test --release`).
    #[arg(long)]
    release: bool,
    /// Test only the library's unit tests.
    #[arg(long)]
    lib: bool,
    /// Test only the binaries' unit tests.
    #[arg(long)]
    bins: bool,
    /// Test every target that has `test = true` (the library, binaries and
    /// integration tests), as `cargo test --tests`: no doc tests.
    #[arg(long)]
    tests: bool,
    /// Test only this integration test (repeatable).
    #[arg(long = "test", value_name = "NAME")]
    test: Vec<String>,
    /// Run every test binary, even after one fails.
    #[arg(long)]
    no_fail_fast: bool,
    /// Do not give the guest the crate's directory (read-only, at its own
    /// path, and the starting directory; a `-v` at that path replaces it).
    #[arg(long)]
    no_crate_volume: bool,
    /// The guest memory limit for each test binary, e.g. 512M.
    #[arg(short = 'm', long, value_parser = parse_memory)]
    memory: Option<u64>,
    /// Set a guest environment variable: KEY=VALUE, or KEY to pass the host's value.
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Give the guests a host directory (repeatable): HOST_DIR:GUEST_DIR[:ro].
    #[arg(short = 'v', long = "volume", value_name = "HOST_DIR:GUEST_DIR[:ro]")]
    volumes: Vec<String>,
    /// End a test binary after this long, e.g. 60s (it then fails).
    #[arg(long, value_parser = parse_duration)]
    timeout: Option<Duration>,
    /// Arguments for the test harness (after `--`), as `cargo test -- ...`:
    /// filters, `--exact`, `--nocapture`, `--test-threads N`, `--list`...
    #[arg(last = true)]
    harness_args: Vec<String>,
}

/// Builds and runs the selected test binaries; the exit code is 0 when all
/// passed, 101 otherwise (as `cargo test`).
pub fn test(args: TestArgs) -> Outcome {
    crate::run::guest_env(&args.env)?;
    let volumes = crate::run::volume::parse_volumes(&args.volumes)?;
    let (manifest, package) = guest_build::read_package(&args.dir)?;
    // A volume the user gives at the crate's own path (`-v DIR:DIR` to let
    // tests write there, as they may natively) replaces the read-only one.
    let crate_dir = package.dir.display().to_string();
    let crate_volume = if args.no_crate_volume {
        CrateVolume::None
    } else if volumes.iter().any(|volume| volume.guest() == crate_dir) {
        CrateVolume::Users
    } else {
        CrateVolume::ReadOnly
    };
    let targets = select(&package, &args)?;
    let options = BuildOptions {
        release: args.release,
        ..BuildOptions::default()
    };
    // Built first, all of them, as cargo does; one that cannot be built is
    // reported and the others still run.
    let mut failed = Vec::new();
    let mut built = Vec::new();
    let mut link = guest_build::SharedLink::default();
    for target in &targets {
        match guest_build::build_tests(&manifest, &package, &options, target, &mut link) {
            Ok(image) => built.push((target, image)),
            Err(failure) => {
                tell!(
                    "kiln: error: {}: {}",
                    target.source.display(),
                    failure.message
                );
                failed.push(target.selector().join(" "));
            }
        }
    }
    if !failed.is_empty() && !args.no_fail_fast {
        return Err(Failure::new(BUILD, "could not build the tests (see above)"));
    }
    for (target, image) in built {
        let what = match target.kind {
            TestKind::Test => target.source.display().to_string(),
            _ => format!("unittests {}", target.source.display()),
        };
        tell!(
            "     Running {what} ({})",
            relative(&image, &package.dir).display()
        );
        let code = run_one(&args, &package, crate_volume, &image)?;
        if code != 0 {
            let rerun = target.selector().join(" ");
            tell!("error: test failed, to rerun pass `{rerun}`");
            if !args.no_fail_fast {
                return Ok(ExitCode::from(exit_code(code)));
            }
            failed.push(rerun);
        }
    }
    if failed.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    tell!(
        "error: {} target{} failed:",
        failed.len(),
        if failed.len() == 1 { "" } else { "s" }
    );
    for rerun in &failed {
        tell!("    `{rerun}`");
    }
    Ok(ExitCode::from(TESTS_FAILED))
}

/// What a failed binary makes `kiln test` return: its own code when it is
/// the harness's (101) or kiln's (a timeout, a fault...), 101 otherwise.
fn exit_code(code: i32) -> u8 {
    u8::try_from(code)
        .ok()
        .filter(|&c| c != 0)
        .unwrap_or(TESTS_FAILED)
}

/// The targets the flags select; with none, what `cargo test` tests.
fn select<'a>(package: &'a Package, args: &TestArgs) -> Result<Vec<&'a TestTarget>, Failure> {
    for name in &args.test {
        let known = package
            .test_targets
            .iter()
            .any(|t| t.kind == TestKind::Test && &t.name == name);
        if !known {
            return Err(Failure::new(
                USAGE,
                format!("package {} has no test target named {name}", package.name),
            ));
        }
    }
    let chosen = args.lib || args.bins || args.tests || !args.test.is_empty();
    let targets: Vec<&TestTarget> = package
        .test_targets
        .iter()
        .filter(|t| {
            if !chosen {
                return t.tested_by_default;
            }
            (args.tests && t.tested_by_default)
                || match t.kind {
                    TestKind::Lib => args.lib,
                    TestKind::Bin => args.bins,
                    TestKind::Test => args.test.contains(&t.name),
                }
        })
        .collect();
    if targets.is_empty() {
        return Err(Failure::new(
            USAGE,
            format!(
                "package {} has no tests to run with these flags",
                package.name
            ),
        ));
    }
    Ok(targets)
}

/// How a test binary sees the crate's directory.
#[derive(Clone, Copy)]
enum CrateVolume {
    /// Read-only at its own path, and the starting directory.
    ReadOnly,
    /// Through the user's own volume at its path; still the starting
    /// directory.
    Users,
    /// Not at all (`--no-crate-volume`).
    None,
}

/// Runs one test binary with `kiln run` (this executable) and returns its
/// exit code.
fn run_one(
    args: &TestArgs,
    package: &Package,
    crate_volume: CrateVolume,
    image: &Path,
) -> Result<i32, Failure> {
    // This very executable, even if a rebuild replaced its file meanwhile
    // (the kernel keeps the running one reachable as /proc/self/exe).
    let kiln = std::env::current_exe()
        .ok()
        .filter(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from("/proc/self/exe"));
    let mut command = Command::new(kiln);
    command.arg("run");
    if let Some(memory) = args.memory {
        command.arg(format!("--memory={memory}"));
    }
    if let Some(timeout) = args.timeout {
        command.arg(format!("--timeout={}ms", timeout.as_millis()));
    }
    let dir = package.dir.display().to_string();
    match crate_volume {
        CrateVolume::ReadOnly => {
            command.arg(format!("--volume={dir}:{dir}:ro"));
            command.arg(format!("--workdir={dir}"));
        }
        CrateVolume::Users => {
            command.arg(format!("--workdir={dir}"));
        }
        CrateVolume::None => {}
    }
    // What cargo sets for the tests it runs.
    for (key, value) in [
        ("CARGO_MANIFEST_DIR", dir.as_str()),
        ("CARGO_PKG_NAME", package.name.as_str()),
        ("CARGO_PKG_VERSION", package.version.as_str()),
    ] {
        command.arg(format!("--env={key}={value}"));
    }
    command.args(args.env.iter().map(|e| format!("--env={e}")));
    command.args(args.volumes.iter().map(|v| format!("--volume={v}")));
    command.arg(image).arg("--").args(&args.harness_args);
    let status = command
        .status()
        .map_err(|e| Failure::new(HOST, format!("cannot run kiln: {e}")))?;
    Ok(status.code().unwrap_or(i32::from(TESTS_FAILED)))
}

/// `path` relative to the package directory when it is inside it (cargo's
/// `Running` lines name `target/...`).
fn relative<'a>(path: &'a Path, dir: &Path) -> &'a Path {
    path.strip_prefix(dir).unwrap_or(path)
}
