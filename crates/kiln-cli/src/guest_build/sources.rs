//! The guest sources this `kiln` carries, unpacked into the per-user cache.
//!
//! The build script packs the ABI, the library OS and the C library (with
//! their lock files) into the binary, so an installed `kiln` needs no
//! checkout. They are unpacked on first use into
//! `<cache>/sources/<hash>/` (the hash of their contents), laid out as in
//! the repository's `crates/`, with the C library's workspace manifest and
//! lock file at the top. The
//! C library is built from there ([`super::libc`]), and a native `no_std`
//! guest depends on `<that directory>/kiln-libos` by path (`kiln sources`
//! prints it).
//!
//! A directory under its final name is always complete: the archive is
//! unpacked beside it and renamed into place, under a lock so that two
//! `kiln`s starting at once unpack it once.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::exit_code::{BUILD, Failure};

/// The packed sources (a gzipped tar, see `build.rs`).
const ARCHIVE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/guest-sources.tar.gz"));

/// The SHA-256 of the sources' tar: a new `kiln` with other sources unpacks
/// beside an older one's, never over them.
const HASH: &str = env!("KILN_GUEST_SOURCES_HASH");

/// Kiln's per-user cache: `$XDG_CACHE_HOME/kiln`, else `~/.cache/kiln`.
pub fn cache_dir() -> Result<PathBuf, Failure> {
    use etcetera::BaseStrategy as _;
    let base = etcetera::choose_base_strategy().map_err(|e| {
        Failure::new(
            BUILD,
            format!("cannot find a cache directory for Kiln (set XDG_CACHE_HOME or HOME): {e}"),
        )
    })?;
    Ok(base.cache_dir().join("kiln"))
}

/// This `kiln`'s sources, unpacked if they are not yet.
pub fn unpacked(cache: &Path) -> Result<PathBuf, Failure> {
    let root = cache.join("sources");
    let dir = root.join(&HASH[..16]);
    if dir.is_dir() {
        return Ok(dir);
    }
    let error = |what: &str, path: &Path, e: std::io::Error| {
        Failure::new(BUILD, format!("{what} {}: {e}", path.display()))
    };
    std::fs::create_dir_all(&root).map_err(|e| error("creating", &root, e))?;
    let lock_path = root.join(".lock");
    let lock = File::create(&lock_path).map_err(|e| error("creating", &lock_path, e))?;
    lock.lock().map_err(|e| error("locking", &lock_path, e))?;
    // Another kiln may have unpacked them while this one waited.
    if dir.is_dir() {
        return Ok(dir);
    }
    let staging = tempfile::Builder::new()
        .prefix(".unpacking-")
        .tempdir_in(&root)
        .map_err(|e| error("creating a directory in", &root, e))?;
    tar::Archive::new(flate2::read::GzDecoder::new(ARCHIVE))
        .unpack(staging.path())
        .map_err(|e| error("unpacking Kiln's sources into", staging.path(), e))?;
    std::fs::rename(staging.path(), &dir).map_err(|e| error("renaming into", &dir, e))?;
    Ok(dir)
}

/// `kiln sources`: prints this `kiln`'s sources directory.
pub fn print() -> crate::Outcome {
    say!("{}", unpacked(&cache_dir()?)?.display());
    Ok(std::process::ExitCode::SUCCESS)
}
