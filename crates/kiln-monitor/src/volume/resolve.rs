//! Guest paths, resolved beneath a volume's root by the host kernel.
//!
//! Opening goes straight through `openat2` with `RESOLVE_BENEATH`. An
//! operation on a path's last component (mkdir, unlink, rename, symlink,
//! readlink) first opens the *parent* that way, then acts on one plain name
//! in it with the `*at` call, which does not follow a final symbolic link:
//! nothing the kernel walks outside `openat2` can lead out of the volume.
//!
//! Nor, unless the volume says so, onto another filesystem: a mount point
//! inside the volume (a tmpfs, a USB disk, `/proc` bound in) is refused with
//! `EXDEV` (`RESOLVE_NO_XDEV`), because whoever shared the directory shared
//! a tree of files, and what is mounted in it later is not theirs to give.
//! A volume given with `rbind` (Docker's word for a bind with its
//! submounts) is walked across mounts, still beneath its root.

use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use super::{Errno, sys};

/// A guest path as the host takes it: the empty path is the root itself
/// (`.`); a NUL byte cannot be in any path (`EINVAL`).
fn c_path(path: &[u8]) -> Result<CString, Errno> {
    let path = if path.is_empty() { b"." } else { path };
    CString::new(path).map_err(|_| Errno(libc::EINVAL))
}

/// A volume's root, as its paths are resolved.
#[derive(Clone, Copy, Debug)]
pub(super) struct Root<'a> {
    /// The root directory (`O_PATH`).
    pub fd: BorrowedFd<'a>,
    /// Whether paths may cross into filesystems mounted inside it.
    pub cross_mounts: bool,
}

/// Opens `path` beneath `root` (see [`sys::open_beneath`]), on the root's
/// own filesystem unless it may cross mounts.
pub(super) fn open(root: Root<'_>, path: &[u8], flags: i32, mode: u32) -> Result<OwnedFd, Errno> {
    let resolve = if root.cross_mounts {
        0
    } else {
        libc::RESOLVE_NO_XDEV
    };
    sys::open_beneath(root.fd, &c_path(path)?, flags, mode, resolve)
}

/// A directory beneath `root`, as a handle for `*at` calls.
fn directory(root: Root<'_>, path: &[u8]) -> Result<OwnedFd, Errno> {
    open(root, path, libc::O_PATH | libc::O_DIRECTORY, 0)
}

/// What a path's last component is.
pub(super) enum Entry {
    /// A directory named by itself rather than as an entry of a parent: the
    /// volume root (the empty path) or a path ending in `.` or `..`. No
    /// entry can be created, removed or renamed there.
    Directory,
    /// The entry `name`, a plain name, in directory `parent`.
    Named {
        /// The parent directory.
        parent: OwnedFd,
        /// One path component: no `/`, not `.` or `..`, not empty.
        name: CString,
    },
}

impl Entry {
    /// The parent and name, or `errno` for a [`Entry::Directory`].
    pub(super) fn named(&self, errno: i32) -> Result<(BorrowedFd<'_>, &CStr), Errno> {
        match self {
            Self::Named { parent, name } => Ok((parent.as_fd(), name)),
            Self::Directory => Err(Errno(errno)),
        }
    }
}

/// Splits `path` into its parent, opened beneath `root`, and its last
/// component. Trailing slashes are ignored.
pub(super) fn entry(root: Root<'_>, path: &[u8]) -> Result<Entry, Errno> {
    if path.is_empty() {
        return Ok(Entry::Directory);
    }
    let Some(last) = path.iter().rposition(|&b| b != b'/') else {
        // Nothing but slashes: an absolute path, which the kernel refuses.
        return directory(root, path).map(|_| Entry::Directory);
    };
    let trimmed = &path[..=last];
    let (parent, name): (&[u8], &[u8]) = match trimmed.iter().rposition(|&b| b == b'/') {
        Some(0) => (b"/", &trimmed[1..]),
        Some(slash) => (&trimmed[..slash], &trimmed[slash + 1..]),
        None => (b"", trimmed),
    };
    if name == b"." || name == b".." {
        // Resolved all the same, so that escapes and missing directories
        // answer as they would anywhere else.
        return directory(root, trimmed).map(|_| Entry::Directory);
    }
    Ok(Entry::Named {
        parent: directory(root, parent)?,
        name: c_path(name)?,
    })
}
