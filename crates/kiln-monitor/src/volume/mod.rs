//! Host volumes: directories of the host the guest reads and writes through
//! the `File` hypercall (`kiln run -v HOST_DIR:GUEST_DIR[:ro]`).
//!
//! Each volume is a host directory opened once at boot, before seccomp.
//! Every guest path is resolved *beneath* that directory by the host kernel
//! itself (`openat2` with `RESOLVE_BENEATH`, see [`resolve`]), so `..`,
//! absolute paths and symbolic links cannot leave it, whatever races the
//! guest (or a host process) sets up. Open files are small integer handles
//! into a table of host descriptors ([`handles`]).
//!
//! The operations ([`ops`]) take plain Rust arguments (paths as bytes,
//! buffers as slices) and answer with the host's own errno; the hypercall
//! layer (`hypercall/file.rs`) translates guest memory to and from them.
//! Errno choices that are Kiln's rather than the host's:
//!
//! - an unknown volume index is `EBADF`, as `openat` says of a bad `dirfd`;
//! - a path that would leave the volume gets the host's answer, `EXDEV`
//!   (what `RESOLVE_BENEATH` reports), passed through unchanged; so does
//!   one that would cross a mount point inside a volume not given with
//!   `rbind` (`RESOLVE_NO_XDEV`, see [`resolve`]);
//! - a path with a NUL byte is `EINVAL` (no Linux path can hold one);
//! - on a read-only volume every change is `EROFS`, before the host is asked;
//! - creating, removing or renaming the volume root itself (the empty path,
//!   or one ending in `.` or `..`) is `EEXIST` for mkdir and symlink,
//!   `EBUSY` for rmdir and rename, `EISDIR` for unlink, `EINVAL` for readlink;
//! - more than [`MAX_HANDLES`] open files is `EMFILE`;
//! - opening the image the guest runs from (see [`Volumes::protect`]) for
//!   writing or truncation is `ETXTBSY`, Linux's answer for an executable
//!   that is running.

mod handles;
mod ops;
mod resolve;
mod spec;
mod sys;

#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use kiln_abi::file::MAX_VOLUMES;

pub use handles::MAX_HANDLES;
pub use spec::{GuestPathError, VolumeSpec};

/// A host error number (positive, Linux's numbering), as the `File`
/// hypercall reports it (negated).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub i32);

impl Errno {
    /// The calling thread's last error.
    fn last() -> Self {
        Self(
            std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO),
        )
    }
}

/// Why the volumes could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// A host directory could not be opened (missing, not a directory, no access).
    #[error("volume {}: {source}", host.display())]
    Open {
        /// The host path.
        host: PathBuf,
        /// What the host said.
        source: std::io::Error,
    },
    /// More volumes than the boot info may list.
    #[error("{0} volumes; a VM may have at most {MAX_VOLUMES}")]
    TooMany(usize),
    /// Two volumes on one guest path.
    #[error("two volumes on guest path {0}")]
    Duplicate(String),
}

/// A host file's identity: its device and inode numbers, which every path
/// to it (hard links, bind mounts) shares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileId {
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
}

impl FileId {
    fn of(stat: &libc::stat) -> Self {
        Self {
            dev: stat.st_dev,
            ino: stat.st_ino,
        }
    }
}

/// One volume: its host root and whether it is read-only.
#[derive(Debug)]
struct Mount {
    root: OwnedFd,
    read_only: bool,
    cross_mounts: bool,
}

impl Mount {
    /// Its root, as paths are resolved in it.
    fn root(&self) -> resolve::Root<'_> {
        resolve::Root {
            fd: self.root.as_fd(),
            cross_mounts: self.cross_mounts,
        }
    }
}

/// The VM's volumes, in boot-info order, and the files the guest has open.
#[derive(Debug, Default)]
pub struct Volumes {
    mounts: Vec<Mount>,
    handles: handles::Handles,
    /// The file the guest may not change (see [`Volumes::protect`]).
    image: Option<FileId>,
}

impl Volumes {
    /// Opens each volume's host directory (`O_PATH`: it grants no access by
    /// itself, only a root to resolve beneath).
    pub fn new(specs: &[VolumeSpec]) -> Result<Self, VolumeError> {
        if specs.len() > MAX_VOLUMES {
            return Err(VolumeError::TooMany(specs.len()));
        }
        let mut seen = HashSet::new();
        let mut mounts = Vec::with_capacity(specs.len());
        for spec in specs {
            if !seen.insert(spec.guest()) {
                return Err(VolumeError::Duplicate(spec.guest().to_string()));
            }
            let root = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
                .open(spec.host())
                .map_err(|source| VolumeError::Open {
                    host: spec.host().to_path_buf(),
                    source,
                })?;
            mounts.push(Mount {
                root: root.into(),
                read_only: spec.read_only(),
                cross_mounts: spec.cross_mounts(),
            });
        }
        Ok(Self {
            mounts,
            handles: Default::default(),
            image: None,
        })
    }

    /// Refuses to open `image`, the file the guest runs from, for writing
    /// or truncation (`ETXTBSY`), should it lie in a read-write volume. The
    /// monitor keeps the image mapped and reads it for crash reports: had
    /// the guest cut it short, that read would fault and kill the monitor.
    pub fn protect(&mut self, image: FileId) {
        self.image = Some(image);
    }

    /// Whether there are none (the run loop then keeps its tighter filter).
    pub fn is_empty(&self) -> bool {
        self.mounts.is_empty()
    }

    /// The volume with this boot-info index.
    fn mount(&self, volume: u32) -> Result<&Mount, Errno> {
        usize::try_from(volume)
            .ok()
            .and_then(|i| self.mounts.get(i))
            .ok_or(Errno(libc::EBADF))
    }
}
