//! Paths: splitting them into the components a lookup walks.
//!
//! A relative path is taken from its base (the working directory, or the
//! directory an `*at` call names), which is absolute and canonical. `.` and
//! empty components are dropped; `..` is kept for the walk
//! ([`super::tree`]), which goes up from where it has got to, as Linux
//! does: so `file/..` is `ENOTDIR`, `missing/..` is `ENOENT`, and `..`
//! after a symbolic link leaves the directory the link leads to.

use alloc::vec::Vec;

use super::{Errno, Result};
use kiln_abi::errno::{ENAMETOOLONG, ENOENT};

/// Linux's limit on a path, its NUL included.
pub const PATH_MAX: usize = 4096;

/// Linux's limit on one component of a path (`NAME_MAX`).
pub const NAME_MAX: usize = 255;

/// The components of `path` (absolute, or relative to `base`, which is
/// absolute and canonical), without `.` and empty ones. An empty path is
/// `ENOENT`; an overlong path or component `ENAMETOOLONG`, as on Linux.
pub fn normalize<'a>(base: &'a [u8], path: &'a [u8]) -> Result<Vec<&'a [u8]>> {
    if path.is_empty() {
        return Err(Errno(ENOENT));
    }
    if path.len() >= PATH_MAX {
        return Err(Errno(ENAMETOOLONG));
    }
    let base = if path[0] == b'/' { &[][..] } else { base };
    let mut parts = Vec::new();
    for part in base.split(|&b| b == b'/').chain(path.split(|&b| b == b'/')) {
        check_name(part)?;
        if !matches!(part, b"" | b".") {
            parts.push(part);
        }
    }
    Ok(parts)
}

/// `ENAMETOOLONG` for a component longer than [`NAME_MAX`].
pub fn check_name(name: &[u8]) -> Result<()> {
    if name.len() > NAME_MAX {
        return Err(Errno(ENAMETOOLONG));
    }
    Ok(())
}

/// `components` joined into an absolute path.
pub fn join<C: AsRef<[u8]>>(components: impl IntoIterator<Item = C>) -> Vec<u8> {
    let mut out = Vec::new();
    for part in components {
        out.push(b'/');
        out.extend_from_slice(part.as_ref());
    }
    if out.is_empty() {
        out.push(b'/');
    }
    out
}

/// Whether `path` names a directory by its form (ends in `/`, `/.` or `/..`):
/// Linux then follows a final symbolic link and requires a directory.
pub fn demands_directory(path: &[u8]) -> bool {
    path.ends_with(b"/")
        || path.ends_with(b"/.")
        || path.ends_with(b"/..")
        || path == b"."
        || path == b".."
}

/// What the last component of a path is, for the calls that change a
/// directory entry (`mkdir`, `unlink`, `rename`...): those need a name.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Last {
    /// A name (possibly followed by slashes).
    Name,
    /// `.`
    Dot,
    /// `..`
    DotDot,
    /// Nothing but slashes: `/` itself.
    Root,
}

/// The kind of `path`'s last component (`path` is not empty).
pub fn last(path: &[u8]) -> Last {
    let trimmed = match path.iter().rposition(|&b| b != b'/') {
        Some(end) => &path[..=end],
        None => return Last::Root,
    };
    let name = match trimmed.iter().rposition(|&b| b == b'/') {
        Some(slash) => &trimmed[slash + 1..],
        None => trimmed,
    };
    match name {
        b"." => Last::Dot,
        b".." => Last::DotDot,
        _ => Last::Name,
    }
}
