//! The `File` hypercall: narrow file operations on host volumes.
//!
//! `kiln run -v HOST_DIR:GUEST_DIR[:ro]` gives the guest a *volume*: a host
//! directory the monitor serves. The boot info lists the volumes (their
//! guest paths and whether they are read-only); the guest names one by its
//! index in that list and a path *relative to the volume's root*. The
//! monitor resolves every path beneath that root with the host kernel's own
//! confinement (`openat2` with `RESOLVE_BENEATH`), so `..`, absolute paths
//! and symbolic links cannot leave it.
//!
//! Open files are monitor-side *handles* (small integers the monitor hands
//! out). Reads and writes move bytes directly between the host file and the
//! guest buffer; `Fsync` returns only after the host's `fsync`.
//!
//! **Deferred operations.** Every exit to the monitor is expensive (~30 µs
//! on kvm_pvm hosts, mostly the host kernel's own work around `KVM_RUN`), so
//! writes and closes whose answer the program does not wait for may ride
//! along with the next call: [`FileArgs::pending`] lists up to
//! [`PENDING_MAX`] `Write` or `Close` blocks, which the monitor carries out
//! first, in order, each answering in its own `result`; the [`FileOp::Flush`]
//! call carries only those. So `create + write + close` of a small file
//! costs one exit, not three, and a program's later call (or `fsync`) sees
//! its earlier writes done, as a kernel's write-back cache would.
//!
//! Every operation answers in [`FileArgs::result`]: a non-negative value, or
//! `-errno` with Linux's numbers ([`crate::errno`]), the host kernel's own
//! answer where there is one. A malformed block (a pointer outside guest
//! memory, a length over its limit, an unknown operation) is an ABI
//! violation and ends the VM, like any other hypercall.

use crate::GuestPtr;

/// The longest path one call may carry (Linux's `PATH_MAX`, with its NUL).
pub const PATH_MAX: u64 = 4096;

/// The most bytes one `Read`, `Write`, `ReadDir` or `ReadLink` moves; the
/// guest splits larger requests (a short count is a valid answer anyway).
pub const IO_MAX: u64 = 16 << 20;

/// [`FileArgs::offset`] for `Read`/`Write`: use and advance the handle's own
/// position, as `read(2)`/`write(2)` do (and append with `O_APPEND`).
pub const CURRENT_POSITION: i64 = -1;

/// [`FileArgs::flags`] of `Stat` with a path: do not follow a final symbolic
/// link (`lstat`). Linux's `AT_SYMLINK_NOFOLLOW`.
pub const STAT_NO_FOLLOW: u32 = 0x100;

/// [`FileArgs::flags`] of `Unlink`: remove a directory (`rmdir`). Linux's
/// `AT_REMOVEDIR`.
pub const UNLINK_DIRECTORY: u32 = 0x200;

/// [`FileArgs::flags`] of `Fsync`: data only (`fdatasync`).
pub const FSYNC_DATA_ONLY: u32 = 1;

/// The most blocks one call's [`FileArgs::pending`] may list.
pub const PENDING_MAX: u64 = 64;

/// The operations. Which [`FileArgs`] fields each reads ("in") and writes
/// ("out") is listed with it; unlisted fields are ignored.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileOp {
    /// `openat2` beneath the volume. In: `volume`, `path`, `flags` (Linux
    /// `O_*`: access mode, `O_CREAT`, `O_EXCL`, `O_TRUNC`, `O_APPEND`,
    /// `O_DIRECTORY`, `O_NOFOLLOW`; others are ignored), `mode`.
    /// Out: `handle`; `result` 0.
    Open = 1,
    /// Closes `handle`.
    Close = 2,
    /// Reads up to `len` bytes into `buf` from `handle` at `offset` (or
    /// [`CURRENT_POSITION`]). `result`: bytes read, 0 at end of file.
    Read = 3,
    /// Writes `len` bytes from `buf` to `handle` at `offset` (or
    /// [`CURRENT_POSITION`]). `result`: bytes written.
    Write = 4,
    /// Moves `handle`'s position: `offset`, `flags` = whence (`SEEK_SET` 0,
    /// `SEEK_CUR` 1, `SEEK_END` 2). `result`: the new position.
    Seek = 5,
    /// Writes a [`FileStat`] to `buf` (`len` must be its size): of `handle`
    /// if `path_len` is 0, else of `volume`/`path` (`flags`: [`STAT_NO_FOLLOW`]).
    Stat = 6,
    /// Flushes `handle` to the host disk (`flags`: [`FSYNC_DATA_ONLY`]);
    /// returns after the host's `fsync`/`fdatasync` has.
    Fsync = 7,
    /// Sets `handle`'s length to `offset`.
    Truncate = 8,
    /// Reads directory entries of `handle` into `buf` as Linux
    /// `linux_dirent64` records (as `getdents64(2)`). `result`: bytes
    /// filled, 0 at the end.
    ReadDir = 9,
    /// Creates directory `volume`/`path` with `mode`.
    Mkdir = 10,
    /// Removes `volume`/`path`: a file, or a directory with [`UNLINK_DIRECTORY`].
    Unlink = 11,
    /// Renames `volume`/`path` to `volume`/`path2` (both in one volume).
    Rename = 12,
    /// Reads symbolic link `volume`/`path`'s target into `buf` (at most
    /// `len` bytes, no NUL). `result`: its length.
    ReadLink = 13,
    /// Creates symbolic link `volume`/`path` pointing at the text `path2`.
    Symlink = 14,
    /// Nothing but the `pending` blocks. `result` 0.
    Flush = 15,
    /// `flock(2)` on `handle`'s host file, so other processes and VMs
    /// sharing the volume see it: `flags` = [`LOCK_SH`], [`LOCK_EX`] or
    /// [`LOCK_UN`]. Never waits: `result` is `-EWOULDBLOCK` on a conflict.
    Flock = 16,
    /// A record lock on `handle`'s host file: `flags` = a Linux `fcntl`
    /// command ([`F_GETLK`], [`F_SETLK`], [`F_OFD_GETLK`], [`F_OFD_SETLK`];
    /// others are `-EINVAL`), `buf` a [`FileLock`] (`len` its size) read
    /// and, for the `GETLK`s, written back. Never waits (`-EAGAIN`).
    Lock = 17,
    /// `sync_file_range(2)` of `handle`: `offset`, `len` bytes (0: to the
    /// end), `flags` Linux's `SYNC_FILE_RANGE_*`.
    SyncRange = 18,
    /// Sets access and modification times: of `handle` if `path_len` is 0,
    /// else of `volume`/`path` (`flags`: [`STAT_NO_FOLLOW`]). `buf` holds
    /// two Linux `struct timespec` (`len` 32), as `utimensat(2)` takes them
    /// (`tv_nsec` may be `UTIME_NOW` or `UTIME_OMIT`).
    SetTimes = 19,
    /// `fallocate(2)` of `handle`: `flags` the mode (Linux's
    /// `FALLOC_FL_*`), `offset`, `len` bytes.
    Allocate = 20,
    /// `fchmod(2)` of `handle`: the permission bits `mode & 0o7777`
    /// (`-EROFS` on a read-only volume).
    SetMode = 21,
}

/// [`FileOp::Flock`]: a shared lock.
pub const LOCK_SH: u32 = 1;
/// [`FileOp::Flock`]: an exclusive lock.
pub const LOCK_EX: u32 = 2;
/// [`FileOp::Flock`]: release.
pub const LOCK_UN: u32 = 8;

/// [`FileOp::Lock`]: which lock would block this one (POSIX, per process).
pub const F_GETLK: u32 = 5;
/// [`FileOp::Lock`]: take or release a POSIX (per-process) lock.
pub const F_SETLK: u32 = 6;
/// [`FileOp::Lock`]: as [`F_GETLK`], for open-file-description locks.
pub const F_OFD_GETLK: u32 = 36;
/// [`FileOp::Lock`]: take or release an open-file-description lock.
pub const F_OFD_SETLK: u32 = 37;

/// A record lock: Linux's `struct flock` on x86_64.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileLock {
    /// `F_RDLCK` 0, `F_WRLCK` 1, `F_UNLCK` 2.
    pub kind: i16,
    /// `SEEK_SET`, `SEEK_CUR` or `SEEK_END`: what `start` counts from.
    pub whence: i16,
    /// Zero.
    pub reserved: u32,
    /// The first byte.
    pub start: i64,
    /// How many bytes; 0 to the end of the file, however long it grows.
    pub len: i64,
    /// The holder (out, `GETLK`): 0 for a process outside the guest, -1
    /// for an open-file-description lock, as Linux reports them.
    pub pid: i32,
    /// Zero.
    pub reserved2: u32,
}

impl FileOp {
    /// All operations.
    pub const ALL: [FileOp; 21] = [
        Self::Open,
        Self::Close,
        Self::Read,
        Self::Write,
        Self::Seek,
        Self::Stat,
        Self::Fsync,
        Self::Truncate,
        Self::ReadDir,
        Self::Mkdir,
        Self::Unlink,
        Self::Rename,
        Self::ReadLink,
        Self::Symlink,
        Self::Flush,
        Self::Flock,
        Self::Lock,
        Self::SyncRange,
        Self::SetTimes,
        Self::Allocate,
        Self::SetMode,
    ];

    /// The operation with this number, if any.
    pub fn from_number(number: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|op| *op as u32 == number)
    }
}

/// [`crate::hypercall::Hypercall::File`]: one file operation.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct FileArgs {
    /// in: a [`FileOp`] number.
    pub op: u32,
    /// in: index into the boot info's volume list (path operations).
    pub volume: u32,
    /// in: an open file (handle operations); out: the new handle (`Open`).
    pub handle: u64,
    /// in: a path relative to the volume root (no NUL), at most [`PATH_MAX`].
    pub path: GuestPtr<u8>,
    /// in: its length.
    pub path_len: u64,
    /// in: the second path (`Rename` target, `Symlink` target text).
    pub path2: GuestPtr<u8>,
    /// in: its length, at most [`PATH_MAX`].
    pub path2_len: u64,
    /// in: the data buffer.
    pub buf: GuestPtr<u8>,
    /// in: its length, at most [`IO_MAX`].
    pub len: u64,
    /// in: a file position, a seek offset or a length (see [`FileOp`]).
    pub offset: i64,
    /// in: operation flags (see [`FileOp`]).
    pub flags: u32,
    /// in: permission bits for `Open` with `O_CREAT` and `Mkdir`.
    pub mode: u32,
    /// out: the result, or `-errno`.
    pub result: i64,
    /// in: deferred `Write`/`Close` blocks to carry out before this call
    /// (their own `pending_count` must be 0).
    pub pending: GuestPtr<FileArgs>,
    /// in: how many, at most [`PENDING_MAX`].
    pub pending_count: u64,
}

/// What `Stat` reports: the fields of Linux's `struct stat` a program
/// looks at, with times in nanoseconds since the Unix epoch.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileStat {
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Type and permission bits (`S_IF*` | mode).
    pub mode: u32,
    /// Link count.
    pub nlink: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes.
    pub size: u64,
    /// 512-byte blocks allocated.
    pub blocks: u64,
    /// Preferred I/O size.
    pub blksize: u64,
    /// Last access.
    pub atime_ns: i64,
    /// Last modification.
    pub mtime_ns: i64,
    /// Last status change.
    pub ctime_ns: i64,
    /// The device a character or block device node stands for (Linux's
    /// `st_rdev` encoding); zero for anything else.
    pub rdev: u64,
}

/// One entry of the boot info's volume list.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Volume {
    /// The guest directory it is mounted on: an absolute, normalised path
    /// (no `.`/`..` components, no trailing `/`), NUL-terminated.
    pub guest_path: GuestPtr<u8>,
    /// Its length, without the NUL.
    pub guest_path_len: u64,
    /// `VOLUME_*` bits.
    pub flags: u64,
}

/// [`Volume::flags`]: mounted read-only (`:ro`); the monitor refuses every
/// change with `EROFS`.
pub const VOLUME_READ_ONLY: u64 = 1;

/// The most volumes one VM may have.
pub const MAX_VOLUMES: usize = 64;

const _: () = {
    assert!(core::mem::size_of::<FileArgs>() == 104);
    assert!(core::mem::offset_of!(FileArgs, result) == 80);
    assert!(core::mem::size_of::<FileStat>() == 88);
    assert!(core::mem::size_of::<Volume>() == 24);
    assert!(core::mem::size_of::<FileLock>() == 32);
    assert!(core::mem::offset_of!(FileLock, start) == 8);
    assert!(core::mem::offset_of!(FileLock, pid) == 24);
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_op_round_trips_through_its_number() {
        for op in FileOp::ALL {
            assert_eq!(FileOp::from_number(op as u32), Some(op));
        }
        assert_eq!(FileOp::from_number(0), None);
        assert_eq!(FileOp::from_number(22), None);
    }
}
