//! The file operations, one method per [`kiln_abi::file::FileOp`], with
//! plain Rust arguments: volume indexes, paths as bytes, buffers as slices.
//! Each answers with its result or the errno for the guest.

use std::os::fd::{AsFd, OwnedFd};

use kiln_abi::file::{
    CURRENT_POSITION, F_GETLK, F_OFD_GETLK, F_OFD_SETLK, F_SETLK, FSYNC_DATA_ONLY, FileLock,
    FileStat, LOCK_EX, LOCK_SH, LOCK_UN, STAT_NO_FOLLOW, UNLINK_DIRECTORY,
};

use super::resolve::{self, Root};
use super::{Errno, FileId, Mount, Volumes, sys};

/// The `open` flags a guest may pass; others are dropped, and `O_CLOEXEC`
/// is always added. (No `O_PATH`, `O_TMPFILE` or `O_NONBLOCK` games.)
const OPEN_FLAGS: i32 = libc::O_ACCMODE
    | libc::O_CREAT
    | libc::O_EXCL
    | libc::O_TRUNC
    | libc::O_APPEND
    | libc::O_DIRECTORY
    | libc::O_NOFOLLOW;

/// The permission bits a guest may give a new file or directory: never
/// set-user-ID, set-group-ID or sticky on the host. The host's umask applies.
const MODE_BITS: u32 = 0o777;

impl Volumes {
    /// `Open`: `path` in `volume` with Linux `O_*` `flags`; the new handle.
    pub fn open(&mut self, volume: u32, path: &[u8], flags: u32, mode: u32) -> Result<u64, Errno> {
        let mount = self.mount(volume)?;
        let flags = flags.cast_signed() & OPEN_FLAGS;
        // openat2 refuses a mode without O_CREAT.
        let mode = if flags & libc::O_CREAT != 0 {
            mode & MODE_BITS
        } else {
            0
        };
        let (root, read_only) = (mount.root(), mount.read_only);
        let fd = match self.image {
            _ if mount.read_only => open_read_only(root, path, flags)?,
            Some(image) => open_sparing(root, path, flags, mode, image)?,
            None => resolve::open(root, path, flags, mode)?,
        };
        self.handles.insert(fd, read_only)
    }

    /// `Close`.
    pub fn close(&mut self, handle: u64) -> Result<u64, Errno> {
        sys::close(self.handles.remove(handle)?)
    }

    /// `Read`: into `buf`, at `offset` or [`CURRENT_POSITION`].
    pub fn read(&self, handle: u64, offset: i64, buf: &mut [u8]) -> Result<u64, Errno> {
        sys::read(self.handles.get(handle)?, buf, position(offset))
    }

    /// `Write`: `buf`, at `offset` or [`CURRENT_POSITION`].
    pub fn write(&self, handle: u64, offset: i64, buf: &[u8]) -> Result<u64, Errno> {
        sys::write(self.handles.get(handle)?, buf, position(offset))
    }

    /// `Seek`: the new position.
    pub fn seek(&self, handle: u64, offset: i64, whence: u32) -> Result<u64, Errno> {
        sys::lseek(self.handles.get(handle)?, offset, whence.cast_signed())
    }

    /// `Stat` of an open file.
    pub fn stat(&self, handle: u64) -> Result<FileStat, Errno> {
        sys::fstat(self.handles.get(handle)?).map(|stat| file_stat(&stat))
    }

    /// `Stat` of `path` in `volume` (`flags`: [`STAT_NO_FOLLOW`]).
    pub fn stat_path(&self, volume: u32, path: &[u8], flags: u32) -> Result<FileStat, Errno> {
        let no_follow = if flags & STAT_NO_FOLLOW != 0 {
            libc::O_NOFOLLOW
        } else {
            0
        };
        // An O_PATH descriptor names the file (or, with O_NOFOLLOW, the
        // link itself) without opening it, whatever its permissions.
        let root = self.mount(volume)?.root();
        let fd = resolve::open(root, path, libc::O_PATH | no_follow, 0)?;
        sys::fstat(fd.as_fd()).map(|stat| file_stat(&stat))
    }

    /// `Fsync` (`flags`: [`FSYNC_DATA_ONLY`]); returns once the host's has.
    pub fn fsync(&self, handle: u64, flags: u32) -> Result<u64, Errno> {
        sys::fsync(self.handles.get(handle)?, flags & FSYNC_DATA_ONLY != 0)
    }

    /// `Truncate` to `len` bytes.
    pub fn truncate(&self, handle: u64, len: i64) -> Result<u64, Errno> {
        sys::ftruncate(self.handles.get(handle)?, len)
    }

    /// `ReadDir`: `linux_dirent64` records into `buf`.
    pub fn read_dir(&self, handle: u64, buf: &mut [u8]) -> Result<u64, Errno> {
        sys::getdents64(self.handles.get(handle)?, buf)
    }

    /// `Mkdir`.
    pub fn mkdir(&self, volume: u32, path: &[u8], mode: u32) -> Result<u64, Errno> {
        let entry = resolve::entry(self.writable(volume)?, path)?;
        let (parent, name) = entry.named(libc::EEXIST)?;
        sys::mkdirat(parent, name, mode & MODE_BITS)
    }

    /// `Unlink` (`flags`: [`UNLINK_DIRECTORY`] to remove a directory).
    pub fn unlink(&self, volume: u32, path: &[u8], flags: u32) -> Result<u64, Errno> {
        let directory = flags & UNLINK_DIRECTORY != 0;
        let entry = resolve::entry(self.writable(volume)?, path)?;
        let (parent, name) = entry.named(if directory { libc::EBUSY } else { libc::EISDIR })?;
        let at_flags = if directory { libc::AT_REMOVEDIR } else { 0 };
        sys::unlinkat(parent, name, at_flags)
    }

    /// `Rename` `from` to `to`, both in `volume`.
    pub fn rename(&self, volume: u32, from: &[u8], to: &[u8]) -> Result<u64, Errno> {
        let root = self.writable(volume)?;
        let (from, to) = (resolve::entry(root, from)?, resolve::entry(root, to)?);
        let (from_dir, from_name) = from.named(libc::EBUSY)?;
        let (to_dir, to_name) = to.named(libc::EBUSY)?;
        sys::renameat(from_dir, from_name, to_dir, to_name)
    }

    /// `ReadLink`: the link's text into `buf` (truncated to fit); its length.
    pub fn read_link(&self, volume: u32, path: &[u8], buf: &mut [u8]) -> Result<u64, Errno> {
        let entry = resolve::entry(self.mount(volume)?.root(), path)?;
        let (parent, name) = entry.named(libc::EINVAL)?;
        sys::readlinkat(parent, name, buf)
    }

    /// `Symlink`: `path` pointing at the text `target`. The text is never
    /// resolved here, and resolving it later stays beneath the volume too.
    pub fn symlink(&self, volume: u32, path: &[u8], target: &[u8]) -> Result<u64, Errno> {
        let target = std::ffi::CString::new(target).map_err(|_| Errno(libc::EINVAL))?;
        let entry = resolve::entry(self.writable(volume)?, path)?;
        let (parent, name) = entry.named(libc::EEXIST)?;
        sys::symlinkat(&target, parent, name)
    }

    /// `Flock`: `flock(2)` with `LOCK_NB` always (`flags`: [`LOCK_SH`],
    /// [`LOCK_EX`] or [`LOCK_UN`]), so other processes sharing the host
    /// file see it and the monitor never waits.
    pub fn flock(&self, handle: u64, flags: u32) -> Result<u64, Errno> {
        let operation = match flags {
            LOCK_SH => libc::LOCK_SH,
            LOCK_EX => libc::LOCK_EX,
            LOCK_UN => libc::LOCK_UN,
            _ => return Err(Errno(libc::EINVAL)),
        };
        sys::flock(self.handles.get(handle)?, operation | libc::LOCK_NB)
    }

    /// `Lock`: a record lock on the host file with `fcntl` command
    /// `command`; `lock` is updated for the `GETLK`s. The monitor's own
    /// POSIX locks are the guest's (one process each); the holder's pid is
    /// not the guest's business: 0, as Linux reports a process outside
    /// the caller's pid namespace.
    pub fn lock(&self, handle: u64, command: u32, lock: &mut FileLock) -> Result<u64, Errno> {
        let command = match command {
            F_GETLK => libc::F_GETLK,
            F_SETLK => libc::F_SETLK,
            F_OFD_GETLK => libc::F_OFD_GETLK,
            F_OFD_SETLK => libc::F_OFD_SETLK,
            _ => return Err(Errno(libc::EINVAL)),
        };
        let result = sys::fcntl_lock(self.handles.get(handle)?, command, lock)?;
        if command == libc::F_GETLK && lock.pid > 0 {
            lock.pid = 0;
        }
        Ok(result)
    }

    /// `SyncRange`: `sync_file_range(2)` on the host file.
    pub fn sync_range(&self, handle: u64, offset: i64, len: u64, flags: u32) -> Result<u64, Errno> {
        let len = i64::try_from(len).map_err(|_| Errno(libc::EINVAL))?;
        sys::sync_file_range(self.handles.get(handle)?, offset, len, flags)
    }

    /// `Allocate`: `fallocate(2)` on the host file (a read-only volume's
    /// handles are never writable, so the host refuses with `EBADF`).
    pub fn allocate(&self, handle: u64, mode: u32, offset: i64, len: u64) -> Result<u64, Errno> {
        let len = i64::try_from(len).map_err(|_| Errno(libc::EFBIG))?;
        sys::fallocate(self.handles.get(handle)?, mode.cast_signed(), offset, len)
    }

    /// `SetMode`: `fchmod(2)` of the host file, permission bits only.
    pub fn set_mode(&self, handle: u64, mode: u32) -> Result<u64, Errno> {
        sys::fchmod(self.handles.get_writable(handle)?, mode & 0o7777)
    }

    /// `SetTimes` of an open file: `times` as `utimensat(2)` takes them.
    pub fn set_times(&self, handle: u64, times: &[libc::timespec; 2]) -> Result<u64, Errno> {
        sys::set_times(self.handles.get_writable(handle)?, times, 0)
    }

    /// `SetTimes` of `path` in `volume` ([`STAT_NO_FOLLOW`]: of a final
    /// symbolic link itself).
    pub fn set_times_path(
        &self,
        volume: u32,
        path: &[u8],
        flags: u32,
        times: &[libc::timespec; 2],
    ) -> Result<u64, Errno> {
        let no_follow = if flags & STAT_NO_FOLLOW != 0 {
            libc::O_NOFOLLOW
        } else {
            0
        };
        // As `stat_path`: an O_PATH descriptor names the file, and
        // `utimensat` with `AT_EMPTY_PATH` changes what it names.
        let fd = resolve::open(self.writable(volume)?, path, libc::O_PATH | no_follow, 0)?;
        sys::set_times(fd.as_fd(), times, libc::AT_EMPTY_PATH)
    }

    /// The root of `volume`, if the guest may change it (else `EROFS`).
    fn writable(&self, volume: u32) -> Result<Root<'_>, Errno> {
        match self.mount(volume)? {
            Mount {
                read_only: true, ..
            } => Err(Errno(libc::EROFS)),
            mount => Ok(mount.root()),
        }
    }
}

/// `Open` on a read-only volume: whatever could change a file is `EROFS`.
/// As on a read-only filesystem, `O_CREAT` of a file that exists opens it.
fn open_read_only(root: Root<'_>, path: &[u8], flags: i32) -> Result<OwnedFd, Errno> {
    if flags & libc::O_ACCMODE != libc::O_RDONLY || flags & libc::O_TRUNC != 0 {
        return Err(Errno(libc::EROFS));
    }
    let create = flags & libc::O_CREAT != 0;
    let exclusive = create && flags & libc::O_EXCL != 0;
    match resolve::open(root, path, flags & !(libc::O_CREAT | libc::O_EXCL), 0) {
        Ok(_) if exclusive => Err(Errno(libc::EEXIST)),
        Err(Errno(libc::ENOENT)) if create => {
            // Missing file or missing directory? Only the first would be
            // created, so only it is EROFS.
            resolve::entry(root, path)?;
            Err(Errno(libc::EROFS))
        }
        other => other,
    }
}

/// `Open` on a read-write volume that may hold `image`, the file the guest
/// runs from: opening it for writing or truncation is `ETXTBSY` (see
/// [`Volumes::protect`]); any other file opens as usual.
fn open_sparing(
    root: Root<'_>,
    path: &[u8],
    flags: i32,
    mode: u32,
    image: FileId,
) -> Result<OwnedFd, Errno> {
    let writes = matches!(flags & libc::O_ACCMODE, libc::O_WRONLY | libc::O_RDWR);
    let truncates = flags & libc::O_TRUNC != 0;
    if writes {
        // The file actually opened is checked, before anything is cut.
        let fd = resolve::open(root, path, flags & !libc::O_TRUNC, mode)?;
        let stat = sys::fstat(fd.as_fd())?;
        if FileId::of(&stat) == image {
            return Err(Errno(libc::ETXTBSY));
        }
        // As O_TRUNC would: only regular files, and a file just created
        // (or already empty) has nothing to cut.
        if truncates && stat.st_mode & libc::S_IFMT == libc::S_IFREG && stat.st_size != 0 {
            sys::ftruncate(fd.as_fd(), 0)?;
        }
        return Ok(fd);
    }
    if truncates {
        // O_TRUNC on a descriptor that cannot write (Linux truncates all the
        // same), which therefore could not truncate after the check: the
        // file the path names is checked first. The guest is stopped, so
        // only a host process could swap the file in between.
        let target = resolve::open(root, path, libc::O_PATH | (flags & libc::O_NOFOLLOW), 0);
        if let Ok(target) = target
            && FileId::of(&sys::fstat(target.as_fd())?) == image
        {
            return Err(Errno(libc::ETXTBSY));
        }
    }
    resolve::open(root, path, flags, mode)
}

/// An explicit file position, or none for the handle's own.
fn position(offset: i64) -> Option<i64> {
    (offset != CURRENT_POSITION).then_some(offset)
}

fn file_stat(stat: &libc::stat) -> FileStat {
    let ns = |sec: i64, nsec: i64| sec.saturating_mul(1_000_000_000).saturating_add(nsec);
    FileStat {
        dev: stat.st_dev,
        ino: stat.st_ino,
        mode: stat.st_mode,
        nlink: u32::try_from(stat.st_nlink).unwrap_or(u32::MAX),
        uid: stat.st_uid,
        gid: stat.st_gid,
        size: stat.st_size.cast_unsigned(),
        blocks: stat.st_blocks.cast_unsigned(),
        blksize: stat.st_blksize.cast_unsigned(),
        atime_ns: ns(stat.st_atime, stat.st_atime_nsec),
        mtime_ns: ns(stat.st_mtime, stat.st_mtime_nsec),
        ctime_ns: ns(stat.st_ctime, stat.st_ctime_nsec),
        rdev: stat.st_rdev,
    }
}
