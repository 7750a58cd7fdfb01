//! Kiln's C library, built for the guest and linked in place of glibc.
//!
//! rustc links every `std` program on linux-gnu with `-lc -lgcc_s -lm ...`.
//! Kiln puts a directory of empty stand-in archives with those names first
//! on the library path, so the flags resolve to nothing, and passes the C
//! library's rlibs (`kiln-libc`, the library OS and their dependencies) as
//! plain linker inputs. Their objects refer to the same precompiled `core`
//! the program links, so no code is duplicated.
//!
//! The C library is built once per toolchain, flag set and `kiln` (its
//! sources) into the per-user cache (`<cache>/libc/<key>-<sources>`), from
//! the sources this `kiln` carries
//! ([`super::sources`]), and shared by every guest crate. Cargo's lock on
//! that target directory makes concurrent `kiln`s wait for one build.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::atomic_file;
use super::cargo;
use super::flags;
use super::sources;
use crate::exit_code::{BUILD, Failure};

/// Libraries rustc asks for on linux-gnu, answered by empty archives.
const STAND_INS: [&str; 9] = [
    "c", "gcc_s", "gcc_eh", "gcc", "m", "dl", "rt", "pthread", "util",
];

/// Builds the C library (if the cache does not hold it yet) and returns the
/// arguments for the program's final `rustc` invocation that put it in
/// place of glibc.
pub fn link_flags(quiet: bool) -> Result<Vec<String>, Failure> {
    let cache = sources::cache_dir()?;
    let sources = sources::unpacked(&cache)?;
    let mut rlib_flags = flags::codegen_flags();
    // Named after the toolchain, the flags but the cache's own path, and
    // the sources: cargo names the sources' crates by their path relative
    // to their workspace, which is the same in every sources directory, and
    // would take another `kiln`'s build of them as fresh (older sources,
    // another ABI).
    let target_dir = cache.join("libc").join(format!(
        "{}-{}",
        build_key(&rlib_flags)?,
        sources.file_name().unwrap_or_default().to_string_lossy()
    ));
    rlib_flags.push(flags::remap_cache(&cache));
    let stamp = target_dir.join(".built");
    let built = match Built::read(&stamp) {
        // Built before: the directory is named after everything its
        // contents depend on, so they are still current, and asking cargo
        // again (~0.3 s, at every `kiln build`, `run` and `test`) would only
        // say so.
        Some(built) => built,
        None => {
            let first = !stamp.exists();
            let built = build(&sources, &target_dir, &rlib_flags, first, quiet)?;
            built.write(&stamp)?;
            built
        }
    };
    let stand_ins = stand_ins(&cache)?;
    let mut link = vec![format!("-Clink-arg=-L{}", stand_ins.display())];
    link.extend(
        built
            .rlibs
            .iter()
            .map(|rlib| format!("-Clink-arg={}", rlib.display())),
    );
    // The program is relinked when the C library changes: these arguments
    // are part of the program's cargo fingerprint, and this one changes with
    // the C library's contents.
    link.push(format!("--cfg=kiln_libc=\"{:016x}\"", built.fingerprint));
    Ok(link)
}

/// Builds the C library into `target_dir` (cargo brings an interrupted or
/// partial build up to date). The `first` build there takes a while: it
/// says so, and shows cargo's progress even when the program's build is
/// quiet.
fn build(
    sources: &Path,
    target_dir: &Path,
    rlib_flags: &[String],
    first: bool,
    quiet: bool,
) -> Result<Built, Failure> {
    if first {
        tell!(
            "kiln: building Kiln's C library for this toolchain and kiln into {} (once)",
            target_dir.display()
        );
    }
    let manifest = sources.join("kiln-libc/Cargo.toml");
    let mut rlibs = cargo::build_rlibs(&manifest, target_dir, rlib_flags, quiet && !first)?;
    // Cargo reports artifacts in the order its jobs finish. Sorted, the
    // link line and the fingerprint below are the same from build to build:
    // an unchanged program is not relinked, and a relink gives the same
    // bytes (so an image's layer, and what a registry stores, stays the same).
    rlibs.sort();
    let fingerprint = fingerprint(&rlibs);
    Ok(Built { rlibs, fingerprint })
}

/// A finished build of the C library: its rlibs, sorted, and their
/// fingerprint. Kept in the target directory's stamp file, one path a line
/// after a header naming the format and the fingerprint.
struct Built {
    rlibs: Vec<PathBuf>,
    fingerprint: u64,
}

impl Built {
    const HEADER: &str = "kiln-libc-build 2";

    /// The build the stamp records, if it is one in this format whose
    /// rlibs are all still there.
    fn read(stamp: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(stamp).ok()?;
        let mut lines = text.lines();
        let fingerprint = lines
            .next()?
            .strip_prefix(Self::HEADER)?
            .strip_prefix(' ')?;
        let fingerprint = u64::from_str_radix(fingerprint, 16).ok()?;
        let rlibs: Vec<PathBuf> = lines.map(PathBuf::from).collect();
        (!rlibs.is_empty() && rlibs.iter().all(|rlib| rlib.is_file()))
            .then_some(Self { rlibs, fingerprint })
    }

    /// Records the build; a path the format cannot hold (not UTF-8, or with
    /// a line break) leaves no record, so the next build asks cargo again.
    fn write(&self, stamp: &Path) -> Result<(), Failure> {
        let mut text = format!("{} {:016x}\n", Self::HEADER, self.fingerprint);
        for rlib in &self.rlibs {
            match rlib.to_str() {
                Some(path) if !path.contains('\n') => {
                    text.push_str(path);
                    text.push('\n');
                }
                _ => return atomic_file::replace_if_changed(stamp, b"", 0o644),
            }
        }
        atomic_file::replace_if_changed(stamp, text.as_bytes(), 0o644)
    }
}

/// Names the C library's target directory after the toolchain (`rustc
/// -vV`, run as cargo will run it: `$RUSTC`, else `rustc`, which rustup
/// resolves for the current directory) and the flags: one build each,
/// none rebuilt when another toolchain is used in between.
fn build_key(rustflags: &[String]) -> Result<String, Failure> {
    use std::hash::Hasher as _;
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(&rustc)
        .arg("-vV")
        .output()
        .map_err(|e| Failure::new(BUILD, format!("cannot run rustc: {e}")))?;
    if !output.status.success() {
        return Err(Failure::new(
            BUILD,
            format!(
                "rustc -vV failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        ));
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    hasher.write(&output.stdout);
    for flag in rustflags {
        hasher.write(flag.as_bytes());
    }
    Ok(format!("{:016x}", hasher.finish()))
}

/// The directory of stand-in archives, shared by every build.
fn stand_ins(cache: &Path) -> Result<PathBuf, Failure> {
    let dir = cache.join("stand-in-libs");
    std::fs::create_dir_all(&dir)
        .map_err(|e| Failure::new(BUILD, format!("creating {}: {e}", dir.display())))?;
    for name in STAND_INS {
        atomic_file::replace_if_changed(&dir.join(format!("lib{name}.a")), b"!<arch>\n", 0o644)?;
    }
    Ok(dir)
}

/// A fingerprint of the rlibs' names and contents (not their directory,
/// which is the user's cache). Modification times are not enough: cargo
/// considers a program linked under a fingerprint fresh for as long as that
/// fingerprint recurs, so it must name exactly one content.
fn fingerprint(rlibs: &[PathBuf]) -> u64 {
    use std::hash::Hasher;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for rlib in rlibs {
        hasher.write(rlib.file_name().unwrap_or_default().as_encoded_bytes());
        hasher.write(&std::fs::read(rlib).unwrap_or_default());
    }
    hasher.finish()
}
