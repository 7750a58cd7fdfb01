//! Talking to cargo: package metadata in, a built executable out.

use std::io::{BufRead, BufReader, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;

use super::TARGET;
use super::progress::Progress;
use crate::BuildOptions;
use crate::exit_code::{BUILD, Failure};

/// What `kiln build` needs to know about the crate.
#[derive(Debug)]
pub struct Package {
    /// The package name.
    pub name: String,
    /// Its binary targets.
    pub bins: Vec<String>,
    /// Cargo's target directory for it.
    pub target_dir: PathBuf,
    /// Whether it is a native Kiln program (it depends on the library OS);
    /// otherwise it is an ordinary `std` program for the C library.
    pub native: bool,
    /// `[package.metadata.kiln] include`: `HOST:GUEST` specs, host paths
    /// relative to the crate directory.
    pub includes: Vec<String>,
    /// `[package.metadata.kiln.image]`: what `kiln build -t` records.
    pub image: ImageDefaults,
    /// The targets with tests, in cargo's order.
    pub test_targets: Vec<TestTarget>,
    /// The package's directory.
    pub dir: PathBuf,
    /// Its version.
    pub version: String,
}

/// `[package.metadata.kiln.image]`: how the stored image runs, as a
/// Dockerfile's `ENV`, `CMD` and `EXPOSE` would say (the command line's
/// `-e`, `-m`, `--expose` and arguments add to or replace these).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageDefaults {
    /// `KEY=VALUE` entries.
    #[serde(default)]
    pub env: Vec<String>,
    /// Default arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// The guest memory limit, e.g. "256M".
    #[serde(default)]
    pub memory: Option<String>,
    /// Ports, `PORT[/tcp|/udp]`.
    #[serde(default)]
    pub expose: Vec<String>,
}

impl Package {
    /// The binary to build: the one asked for, or the only one there is.
    pub fn pick_bin(&self, wanted: Option<&str>) -> Result<String, Failure> {
        match (wanted, self.bins.as_slice()) {
            (Some(name), bins) if bins.iter().any(|b| b == name) => Ok(name.to_string()),
            (Some(name), bins) => Err(Failure::new(
                BUILD,
                format!(
                    "package {} has no binary named {name} (it has: {})",
                    self.name,
                    bins.join(", ")
                ),
            )),
            (None, [only]) => Ok(only.clone()),
            (None, []) => Err(Failure::new(
                BUILD,
                format!("package {} has no binary target", self.name),
            )),
            (None, bins) => Err(Failure::new(
                BUILD,
                format!(
                    "package {} has several binaries ({}); pick one with --bin",
                    self.name,
                    bins.join(", ")
                ),
            )),
        }
    }
}

#[derive(Deserialize)]
struct Metadata {
    packages: Vec<MetaPackage>,
    target_directory: PathBuf,
}

#[derive(Deserialize)]
struct MetaPackage {
    name: String,
    version: String,
    manifest_path: PathBuf,
    targets: Vec<MetaTarget>,
    dependencies: Vec<MetaDependency>,
    /// `[package.metadata]`, free-form (`null` when absent).
    #[serde(default)]
    metadata: serde_json::Value,
}

#[derive(Deserialize)]
struct MetaDependency {
    name: String,
}

#[derive(Deserialize)]
struct MetaTarget {
    name: String,
    kind: Vec<String>,
    #[serde(default)]
    src_path: PathBuf,
    #[serde(default = "tested")]
    test: bool,
}

fn tested() -> bool {
    true
}

#[derive(Deserialize)]
struct ArtifactProfile {
    test: bool,
}

fn cargo() -> Command {
    // Inside `cargo test` (or any cargo-run tool) use the same cargo.
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    // A guest is one static image, but a -sys crate that finds its C
    // library with pkg-config names the shared object, which makes the
    // image dynamic (the build then fails, naming it). pkg-config links
    // static archives when asked, except the system's own (in /usr/lib);
    // zlib, which most such crates need (libgit2-sys, flate2's zlib
    // backend), is built from libz-sys's bundled source instead.
    command
        .env("PKG_CONFIG_ALL_STATIC", "1")
        .env("LIBZ_SYS_STATIC", "1");
    command
}

/// Reads the package whose manifest is `manifest`.
pub fn metadata(manifest: &Path) -> Result<Package, Failure> {
    let output = cargo()
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(manifest)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| Failure::new(BUILD, format!("cannot run cargo: {e}")))?;
    if !output.status.success() {
        return Err(Failure::new(
            BUILD,
            format!("cargo cannot read {}", manifest.display()),
        ));
    }
    let meta: Metadata = serde_json::from_slice(&output.stdout)
        .map_err(|e| Failure::new(BUILD, format!("unexpected cargo metadata output: {e}")))?;
    let manifest = manifest
        .canonicalize()
        .map_err(|e| Failure::new(BUILD, format!("{}: {e}", manifest.display())))?;
    let package = meta
        .packages
        .into_iter()
        .find(|p| p.manifest_path == manifest)
        .ok_or_else(|| {
            Failure::new(
                BUILD,
                format!(
                    "{} is a workspace manifest; pass the member's directory",
                    manifest.display()
                ),
            )
        })?;
    Ok(Package {
        includes: kiln_includes(&package.metadata).ok_or_else(|| {
            Failure::new(
                BUILD,
                format!(
                    "{}: [package.metadata.kiln] include must be a list of \"HOST_PATH:GUEST_PATH\" strings",
                    manifest.display()
                ),
            )
        })?,
        image: match package.metadata.pointer("/kiln/image") {
            None => ImageDefaults::default(),
            Some(table) => serde_json::from_value(table.clone()).map_err(|e| {
                Failure::new(
                    BUILD,
                    format!("{}: [package.metadata.kiln.image]: {e}", manifest.display()),
                )
            })?,
        },
        native: package.dependencies.iter().any(|d| d.name == "kiln-libos"),
        bins: package
            .targets
            .iter()
            .filter(|t| t.kind.iter().any(|k| k == "bin"))
            .map(|t| t.name.clone())
            .collect(),
        dir: manifest.parent().map(Path::to_path_buf).unwrap_or_default(),
        test_targets: test_targets(&package.targets, manifest.parent().unwrap_or(Path::new("/"))),
        version: package.version,
        name: package.name,
        target_dir: meta.target_directory,
    })
}

/// The targets `cargo test` can build harnesses for: the library (a
/// `lib`, `rlib`... kind), binaries and integration tests; not examples or
/// benchmarks.
fn test_targets(targets: &[MetaTarget], dir: &Path) -> Vec<TestTarget> {
    let library = |kind: &String| {
        matches!(
            kind.as_str(),
            "lib" | "rlib" | "dylib" | "cdylib" | "staticlib"
        )
    };
    targets
        .iter()
        .filter_map(|target| {
            let kind = if target.kind.iter().any(library) {
                TestKind::Lib
            } else if target.kind.iter().any(|k| k == "bin") {
                TestKind::Bin
            } else if target.kind.iter().any(|k| k == "test") {
                TestKind::Test
            } else {
                return None;
            };
            Some(TestTarget {
                kind,
                name: target.name.clone(),
                source: target
                    .src_path
                    .strip_prefix(dir)
                    .unwrap_or(&target.src_path)
                    .to_path_buf(),
                tested_by_default: target.test,
            })
        })
        .collect()
}

/// The strings of `[package.metadata.kiln] include` (none if absent), or
/// `None` if it is not a list of strings.
fn kiln_includes(metadata: &serde_json::Value) -> Option<Vec<String>> {
    match metadata.pointer("/kiln/include") {
        None => Some(Vec::new()),
        Some(list) => list
            .as_array()?
            .iter()
            .map(|spec| spec.as_str().map(str::to_owned))
            .collect(),
    }
}

/// What a guest build makes.
#[derive(Clone, Copy, Debug)]
pub enum Unit<'a> {
    /// The program, from this binary target.
    Program(&'a str),
    /// The test harness of a target (`cargo test`'s executable for it).
    Tests(&'a TestTarget),
}

impl Unit<'_> {
    /// The target's name (a binary's, the library's, a test file's).
    pub fn name(&self) -> &str {
        match self {
            Unit::Program(bin) => bin,
            Unit::Tests(target) => &target.name,
        }
    }
}

/// A target with tests: the library, a binary, or an integration test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestTarget {
    /// Which kind.
    pub kind: TestKind,
    /// Its name.
    pub name: String,
    /// Its source file, relative to the package (for `Running` lines).
    pub source: PathBuf,
    /// Whether `cargo test` tests it without being asked (`test = true`).
    pub tested_by_default: bool,
}

/// The kinds of targets `cargo test` builds harnesses for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestKind {
    /// The library's unit tests.
    Lib,
    /// A binary's unit tests.
    Bin,
    /// An integration test (`tests/*.rs`).
    Test,
}

impl TestTarget {
    /// Cargo's flags selecting this target, e.g. `--test api`.
    pub fn selector(&self) -> Vec<String> {
        match self.kind {
            TestKind::Lib => vec!["--lib".into()],
            TestKind::Bin => vec!["--bin".into(), self.name.clone()],
            TestKind::Test => vec!["--test".into(), self.name.clone()],
        }
    }
}

/// One guest build.
pub struct BuildRequest<'a> {
    /// The crate's manifest.
    pub manifest: &'a Path,
    /// What to build.
    pub unit: Unit<'a>,
    /// The guest target directory.
    pub target_dir: &'a Path,
    /// Profile selection.
    pub options: &'a BuildOptions,
    /// Guest compiler flags (for every crate).
    pub rustflags: Vec<String>,
    /// Arguments for the final crate's `rustc` only (the freestanding link,
    /// the C library's link inputs): part of its fingerprint, so a changed
    /// C library relinks it.
    pub final_args: Vec<String>,
    /// Hide cargo's progress output and report it here instead.
    pub progress: Option<&'a Progress>,
    /// The program is an ordinary `std` program linked against Kiln's C
    /// library (not a native Kiln program).
    pub c_library: bool,
}

#[derive(Deserialize)]
struct Message {
    reason: String,
    #[serde(default)]
    executable: Option<PathBuf>,
    #[serde(default)]
    filenames: Vec<PathBuf>,
    #[serde(default)]
    target: Option<MetaTarget>,
    #[serde(default)]
    profile: Option<ArtifactProfile>,
    #[serde(default)]
    message: Option<Diagnostic>,
    /// Cargo found the artifact up to date (it compiled nothing).
    #[serde(default)]
    fresh: bool,
}

#[derive(Deserialize)]
struct Diagnostic {
    #[serde(default)]
    rendered: Option<String>,
}

/// Cargo's messages for one build, with compiler diagnostics printed as they
/// come, except link failures over missing symbols, which are collected.
#[derive(Default)]
struct Messages {
    artifacts: Vec<Message>,
    missing_symbols: Vec<String>,
}

impl Messages {
    fn read(stdout: impl std::io::Read, progress: Option<&Progress>) -> Self {
        let mut messages = Self::default();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let Ok(message) = serde_json::from_str::<Message>(&line) else {
                continue;
            };
            match message.reason.as_str() {
                "compiler-artifact" => {
                    // A build script is part of its package's compilation.
                    let crate_name = message
                        .target
                        .as_ref()
                        .filter(|t| !t.kind.iter().any(|k| k == "custom-build"))
                        .map(|t| t.name.as_str());
                    if let (Some(progress), Some(name), false) =
                        (progress, crate_name, message.fresh)
                    {
                        progress.compiled(name);
                    }
                    messages.artifacts.push(message);
                }
                "compiler-message" => messages.diagnostic(message),
                _ => {}
            }
        }
        messages.missing_symbols.sort();
        messages.missing_symbols.dedup();
        messages
    }

    fn diagnostic(&mut self, message: Message) {
        let Some(rendered) = message.message.and_then(|m| m.rendered) else {
            return;
        };
        let missing: Vec<String> = rendered
            .lines()
            .filter_map(|l| l.split("undefined symbol: ").nth(1))
            .map(|s| s.trim().to_string())
            .collect();
        if missing.is_empty() {
            tell_raw!("{rendered}");
        } else {
            self.missing_symbols.extend(missing);
        }
    }
}

fn message_format() -> &'static str {
    if std::io::stderr().is_terminal() {
        "--message-format=json-diagnostic-rendered-ansi"
    } else {
        "--message-format=json"
    }
}

/// Runs cargo and returns the executable it produced.
pub fn build(request: &BuildRequest<'_>) -> Result<PathBuf, Failure> {
    let mut command = cargo();
    command
        .args(["rustc", message_format(), "--target", TARGET])
        .arg("--manifest-path")
        .arg(request.manifest)
        .env("CARGO_TARGET_DIR", request.target_dir)
        .env("CARGO_ENCODED_RUSTFLAGS", request.rustflags.join("\x1f"))
        .env_remove("RUSTFLAGS")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if request.progress.is_some() {
        command.arg("--quiet");
    }
    let mut profiles = vec!["DEV".to_string(), "RELEASE".to_string()];
    match request.unit {
        Unit::Program(bin) => {
            command.args(["--bin", bin]);
            if request.options.release {
                command.arg("--release");
            }
            if let Some(profile) = &request.options.profile {
                command.args(["--profile", profile]);
                profiles.push(profile.to_uppercase().replace('-', "_"));
            }
        }
        Unit::Tests(target) => {
            // `cargo rustc --profile test` builds as `cargo test` does; its
            // optimised twin is the bench profile (release settings).
            let profile = if request.options.release {
                "bench"
            } else {
                "test"
            };
            command.args(target.selector()).args(["--profile", profile]);
            profiles.extend(["TEST".to_string(), "BENCH".to_string()]);
        }
    }
    for profile in profiles {
        if request.c_library {
            // The C library is linked beside the program, not compiled into
            // it, and calls `core` and `alloc` functions that cross-crate LTO
            // (`lto = true` or "thin", as fd and tokei set) internalises or
            // drops: the link then fails on them. LTO stays within each crate.
            command.env(format!("CARGO_PROFILE_{profile}_LTO"), "false");
        } else {
            // Native Kiln programs abort on panic in every profile (the
            // library OS has no unwinder); std programs keep their profile's
            // strategy, as the C library unwinds.
            command.env(format!("CARGO_PROFILE_{profile}_PANIC"), "abort");
        }
    }

    command.arg("--").args(&request.final_args);
    // Each C-library fingerprint links its own copy of the program, and
    // cargo does not copy a fresh one back into place over another's: so
    // remove the copy in place and let cargo restore the right one. (Test
    // harnesses are not copied out of `deps/`.)
    if let Unit::Program(bin) = request.unit {
        let _ = std::fs::remove_file(uplifted_path(request, bin));
    }
    let messages = run(command, request.progress)?;
    let name = request.unit.name();
    if !messages.missing_symbols.is_empty() {
        return Err(Failure::new(
            BUILD,
            format!(
                "{name} needs C-library functions Kiln does not provide: {}",
                messages.missing_symbols.join(", ")
            ),
        ));
    }
    let tests = matches!(request.unit, Unit::Tests(_));
    messages
        .artifacts
        .into_iter()
        .filter(|m| {
            let built_as_test = m.profile.as_ref().is_some_and(|p| p.test);
            m.target.as_ref().is_some_and(|t| t.name == name) && built_as_test == tests
        })
        .find_map(|m| m.executable)
        .ok_or_else(|| {
            Failure::new(
                BUILD,
                format!("building {name} failed (cargo's messages are above)"),
            )
        })
}

/// Where cargo puts the program's executable.
fn uplifted_path(request: &BuildRequest<'_>, bin: &str) -> PathBuf {
    let profile_dir = match (&request.options.profile, request.options.release) {
        (Some(profile), _) if profile == "dev" || profile == "test" => "debug",
        (Some(profile), _) if profile == "bench" => "release",
        (Some(profile), _) => profile.as_str(),
        (None, true) => "release",
        (None, false) => "debug",
    };
    request.target_dir.join(TARGET).join(profile_dir).join(bin)
}

/// Runs a cargo build and collects its messages; fails if cargo does.
fn run(mut command: Command, progress: Option<&Progress>) -> Result<Messages, Failure> {
    let mut child = command
        .spawn()
        .map_err(|e| Failure::new(BUILD, format!("cannot run cargo: {e}")))?;
    let stdout = child.stdout.take().expect("stdout was piped");
    let messages = Messages::read(stdout, progress);
    let status = child
        .wait()
        .map_err(|e| Failure::new(BUILD, format!("cargo: {e}")))?;
    if status.success() || !messages.missing_symbols.is_empty() {
        Ok(messages)
    } else {
        Err(Failure::new(
            BUILD,
            "the build failed (cargo's messages are above)",
        ))
    }
}

/// Builds a library crate for the guest in release mode and returns the
/// rlibs of it and its dependencies, in dependency order.
pub fn build_rlibs(
    manifest: &Path,
    target_dir: &Path,
    rustflags: &[String],
    quiet: bool,
) -> Result<Vec<PathBuf>, Failure> {
    let mut command = cargo();
    command
        .args(["build", "--release", message_format(), "--target", TARGET])
        .arg("--manifest-path")
        .arg(manifest)
        .env("CARGO_TARGET_DIR", target_dir)
        .env("CARGO_ENCODED_RUSTFLAGS", rustflags.join("\x1f"))
        .env("CARGO_PROFILE_RELEASE_PANIC", "abort")
        .env_remove("RUSTFLAGS")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if quiet {
        command.arg("--quiet");
    }
    let messages = run(command, None)?;
    // Only the guest's: the rlibs of the C library's proc macros'
    // dependencies (syn, quote...) are built for the host, outside the
    // target's directory.
    let guest = target_dir.join(TARGET);
    Ok(messages
        .artifacts
        .into_iter()
        .flat_map(|m| m.filenames)
        .filter(|f| f.extension().is_some_and(|e| e == "rlib") && f.starts_with(&guest))
        .collect())
}
