//! Paths: making them absolute and normal before they are looked up.
//!
//! `.` and `..` are resolved lexically against the working directory, so
//! `/data/../etc` means `/etc` whatever `/data` is. That differs from Linux
//! only when a path walks `..` out of a symbolic link to a directory, which
//! the in-memory and baked filesystems resolve themselves (see
//! [`super::tree`]); host volumes resolve their own links on the host.

use alloc::vec::Vec;

use super::{Errno, Result};
use kiln_abi::errno::{ENAMETOOLONG, ENOENT};

/// Linux's limit on a path, its NUL included.
pub const PATH_MAX: usize = 4096;

/// The components of `path` (absolute, or relative to `base`, which is
/// absolute and normal), with `.` and `..` resolved. An empty path is
/// `ENOENT`, as on Linux.
pub fn normalize<'a>(base: &'a [u8], path: &'a [u8]) -> Result<Vec<&'a [u8]>> {
    if path.is_empty() {
        return Err(Errno(ENOENT));
    }
    if path.len() >= PATH_MAX {
        return Err(Errno(ENAMETOOLONG));
    }
    let mut parts = Vec::new();
    let start: &[&[u8]] = if path[0] == b'/' { &[] } else { &[base] };
    for piece in start.iter().chain(core::iter::once(&path)) {
        for part in piece.split(|&b| b == b'/') {
            match part {
                b"" | b"." => {}
                b".." => {
                    parts.pop();
                }
                name => parts.push(name),
            }
        }
    }
    Ok(parts)
}

/// `components` joined into an absolute path.
pub fn join(components: &[&[u8]]) -> Vec<u8> {
    if components.is_empty() {
        return b"/".to_vec();
    }
    let mut out = Vec::new();
    for part in components {
        out.push(b'/');
        out.extend_from_slice(part);
    }
    out
}

/// Whether `path` names a directory by its form (ends in `/`, `/.` or `/..`):
/// Linux then requires the target to be a directory.
pub fn demands_directory(path: &[u8]) -> bool {
    path.ends_with(b"/")
        || path.ends_with(b"/.")
        || path.ends_with(b"/..")
        || path == b"."
        || path == b".."
}
