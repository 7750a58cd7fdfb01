//! Kiln's C library, built for the guest and linked in place of glibc.
//!
//! rustc links every `std` program on linux-gnu with `-lc -lgcc_s -lm ...`.
//! Kiln puts a directory of empty stand-in archives with those names first
//! on the library path, so the flags resolve to nothing, and passes the C
//! library's rlibs (`kiln-libc`, the library OS and their dependencies) as
//! plain linker inputs. Their objects refer to the same precompiled `core`
//! the program links, so no code is duplicated.

use std::path::{Path, PathBuf};

use super::cargo;
use super::flags;
use crate::exit_code::{BUILD, Failure};

/// Libraries rustc asks for on linux-gnu, answered by empty archives.
const STAND_INS: [&str; 9] = [
    "c", "gcc_s", "gcc_eh", "gcc", "m", "dl", "rt", "pthread", "util",
];

/// The manifest of `kiln-libc`, next to this crate in the Kiln sources.
fn manifest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../kiln-libc/Cargo.toml")
}

/// Builds the C library into `target_dir` and returns the arguments for the
/// program's final `rustc` invocation that put it in place of glibc.
pub fn link_flags(target_dir: &Path, quiet: bool) -> Result<Vec<String>, Failure> {
    let manifest = manifest();
    if !manifest.is_file() {
        return Err(Failure::new(
            BUILD,
            format!(
                "Kiln's C library is not at {}: std programs need the Kiln sources",
                manifest.display()
            ),
        ));
    }
    let mut rlib_flags = flags::codegen_flags();
    rlib_flags.push(flags::remap_kiln_sources());
    let mut rlibs = cargo::build_rlibs(&manifest, target_dir, &rlib_flags, quiet)?;
    // Cargo reports artifacts in the order its jobs finish. Sorted, the
    // link line and the fingerprint below are the same from build to build:
    // an unchanged program is not relinked, and a relink gives the same
    // bytes (so an image's layer, and what a registry stores, stays the same).
    rlibs.sort();
    let stand_ins = target_dir.join("stand-in-libs");
    std::fs::create_dir_all(&stand_ins)
        .map_err(|e| Failure::new(BUILD, format!("creating {}: {e}", stand_ins.display())))?;
    for name in STAND_INS {
        let path = stand_ins.join(format!("lib{name}.a"));
        if !path.is_file() {
            std::fs::write(&path, b"!<arch>\n")
                .map_err(|e| Failure::new(BUILD, format!("writing {}: {e}", path.display())))?;
        }
    }
    let mut link = vec![format!("-Clink-arg=-L{}", stand_ins.display())];
    link.extend(
        rlibs
            .iter()
            .map(|rlib| format!("-Clink-arg={}", rlib.display())),
    );
    // The program is relinked when the C library changes: these arguments
    // are part of the program's cargo fingerprint, and this one changes with
    // the C library's contents.
    link.push(format!("--cfg=kiln_libc=\"{:016x}\"", fingerprint(&rlibs)));
    Ok(link)
}

/// A fingerprint of the rlibs' contents. Modification times are not
/// enough: cargo considers a program linked under a fingerprint fresh for
/// as long as that fingerprint recurs, so it must name exactly one content.
fn fingerprint(rlibs: &[PathBuf]) -> u64 {
    use std::hash::Hasher;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for rlib in rlibs {
        hasher.write(rlib.as_os_str().as_encoded_bytes());
        hasher.write(&std::fs::read(rlib).unwrap_or_default());
    }
    hasher.finish()
}
