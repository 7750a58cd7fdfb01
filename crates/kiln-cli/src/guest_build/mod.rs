//! Building a guest crate into a Kiln image.
//!
//! The user's crate needs no build script, linker script or `.cargo/config`:
//! `kiln build` drives cargo with the freestanding configuration itself.
//!
//! - The explicit `--target` makes `RUSTFLAGS` apply to the guest only, not
//!   to build scripts and proc macros that run on the host.
//! - Guests get their own target directory (`<target>/kiln`), so a guest
//!   build started from inside `cargo test` never waits on the lock the
//!   enclosing build holds.
//! - The linker script is generated from the ABI's constants and written
//!   next to the build outputs.
//! - A crate that depends on the library OS is a native Kiln program; any
//!   other binary crate is an ordinary `std` program, linked against Kiln's
//!   C library in place of glibc ([`libc`]).
//! - Files from the host can be baked into the image as a read-only
//!   filesystem ([`bake`]).
//! - The image is kiln's copy of cargo's executable, replaced only when its
//!   content changes and then atomically ([`atomic_file`]): an instance
//!   starting from it never sees it missing or half written.

mod atomic_file;
mod bake;
mod cargo;
mod flags;
mod libc;
mod progress;
pub mod sources;
mod static_image;

use std::path::{Path, PathBuf};

use crate::BuildOptions;
use crate::exit_code::{BUILD, Failure};

pub use bake::Include;
pub use cargo::{ImageDefaults, Package, TestKind, TestTarget};

/// The host target: Kiln guests use it with freestanding link flags.
pub const TARGET: &str = "x86_64-unknown-linux-gnu";

/// A built image.
#[derive(Debug)]
pub struct Built {
    /// Path to the image file.
    pub image: PathBuf,
    /// The binary's name (the guest's `argv[0]`).
    pub name: String,
    /// `[package.metadata.kiln.image]`.
    pub image_defaults: ImageDefaults,
}

/// How much of cargo's output to show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verbosity {
    /// Cargo's normal progress output (`kiln build`).
    Normal,
    /// Only errors, plus a one-line status on a terminal (`kiln run DIR`).
    Quiet,
}

/// `kiln build`: builds and prints the image path and size.
pub fn build_and_report(dir: &Path, options: &BuildOptions) -> Result<Built, Failure> {
    let built = build(dir, options, Verbosity::Normal)?;
    let size = std::fs::metadata(&built.image)
        .map(|m| m.len())
        .map_err(|e| Failure::new(BUILD, format!("{}: {e}", built.image.display())))?;
    say!("{} ({})", built.image.display(), human_size(size));
    Ok(built)
}

/// Builds the crate at `dir` into an image.
pub fn build(dir: &Path, options: &BuildOptions, verbosity: Verbosity) -> Result<Built, Failure> {
    let (manifest, package) = read_package(dir)?;
    let bin = package.pick_bin(options.bin.as_deref())?;
    let target_dir = package.target_dir.join("kiln");
    let _builds = lock_builds(&target_dir)?;
    let progress = (verbosity == Verbosity::Quiet).then(|| progress::Progress::start(&bin));
    let unit = cargo::Unit::Program(&bin);
    let image = build_unit(
        &manifest,
        &package,
        options,
        unit,
        progress.as_ref(),
        &mut SharedLink::default(),
    );
    drop(progress);
    let executable = image?;
    static_image::check(&executable, &bin)?;
    let image = install_image(&executable, &target_dir)?;
    Ok(Built {
        image,
        name: bin,
        image_defaults: package.image,
    })
}

/// Holds off other `kiln build`s into `target_dir` until the returned lock is
/// dropped: cargo re-links its executable on every build, an up-to-date one
/// too (unlink, then link), so a concurrent build of the same crate could
/// find it missing while copying it out to the image path. Cargo already
/// builds one at a time per target directory; this extends its turn to the
/// copy.
fn lock_builds(target_dir: &Path) -> Result<std::fs::File, Failure> {
    let error = |e: std::io::Error| {
        Failure::new(
            BUILD,
            format!("locking {} for a build: {e}", target_dir.display()),
        )
    };
    std::fs::create_dir_all(target_dir).map_err(error)?;
    let lock = std::fs::File::create(target_dir.join(".kiln-build-lock")).map_err(error)?;
    lock.lock().map_err(error)?;
    Ok(lock)
}

/// The crate at `dir`: its manifest's path and what cargo says of it.
pub fn read_package(dir: &Path) -> Result<(PathBuf, Package), Failure> {
    let manifest = dir.join("Cargo.toml");
    if !manifest.is_file() {
        return Err(Failure::new(
            BUILD,
            format!("{} has no Cargo.toml: not a crate directory", dir.display()),
        ));
    }
    let package = cargo::metadata(&manifest)?;
    Ok((manifest, package))
}

/// Builds one target's test harness as a Kiln image (the same link as
/// `kiln build`'s; `link` carries its shared inputs from one target to the
/// next).
pub fn build_tests(
    manifest: &Path,
    package: &Package,
    options: &BuildOptions,
    target: &TestTarget,
    link: &mut SharedLink,
) -> Result<PathBuf, Failure> {
    let unit = cargo::Unit::Tests(target);
    let image = build_unit(manifest, package, options, unit, None, link)?;
    static_image::check(&image, &target.name)?;
    Ok(image)
}

/// The link arguments every target of a package shares (the linker script,
/// and for `std` programs Kiln's C library, built if needed), made on first
/// use and reused by the package's other targets.
#[derive(Default)]
pub struct SharedLink(Option<Vec<String>>);

impl SharedLink {
    fn get(&mut self, package: &Package, quiet: bool) -> Result<&[String], Failure> {
        if self.0.is_none() {
            let target_dir = package.target_dir.join("kiln");
            let c_library = !package.native;
            let mut link = flags::final_flags(&target_dir, c_library)?;
            if c_library {
                link.extend(libc::link_flags(quiet)?);
            }
            self.0 = Some(link);
        }
        Ok(self.0.as_deref().unwrap_or_default())
    }
}

/// Builds `unit` with the freestanding link: baked files, then `link`.
fn build_unit(
    manifest: &Path,
    package: &Package,
    options: &BuildOptions,
    unit: cargo::Unit<'_>,
    progress: Option<&progress::Progress>,
    link: &mut SharedLink,
) -> Result<PathBuf, Failure> {
    let dir = manifest.parent().unwrap_or(Path::new("."));
    let target_dir = package.target_dir.join("kiln");
    // The manifest's includes first, then the command line's.
    let mut includes = bake::manifest_includes(&package.includes, dir, manifest)?;
    includes.extend(options.include.iter().cloned());
    // Baking first: a bad include fails before the C library is built.
    let baked = bake::link_flags(&target_dir, unit.name(), &includes)?;
    let mut extra = link.get(package, progress.is_some())?.to_vec();
    extra.extend(baked);
    cargo::build(&cargo::BuildRequest {
        manifest,
        unit,
        target_dir: &target_dir,
        options,
        rustflags: flags::rustflags(&sources::cache_dir()?),
        final_args: extra,
        progress,
        c_library: !package.native,
    })
}

/// Copies cargo's executable (`<target>/<triple>/<profile>/<bin>`) to the
/// image path `<target>/images/<profile>/<bin>`. Cargo's copy is not the
/// image because cargo replaces it on every build (see `cargo::build`).
fn install_image(executable: &Path, target_dir: &Path) -> Result<PathBuf, Failure> {
    let (Some(bin), Some(profile)) = (
        executable.file_name(),
        executable.parent().and_then(Path::file_name),
    ) else {
        return Err(Failure::new(
            BUILD,
            format!("unexpected executable path {}", executable.display()),
        ));
    };
    let image = target_dir.join("images").join(profile).join(bin);
    let bytes = std::fs::read(executable)
        .map_err(|e| Failure::new(BUILD, format!("reading {}: {e}", executable.display())))?;
    atomic_file::replace_if_changed(&image, &bytes, 0o755)?;
    Ok(image)
}

/// `1.2 MiB`, `40.0 KiB`, `512 B`.
pub fn human_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / f64::from(1 << 20)),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / f64::from(1 << 10)),
        b => format!("{b} B"),
    }
}
