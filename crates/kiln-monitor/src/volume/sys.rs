//! The host system calls behind the volume operations, one thin wrapper
//! each: descriptors and slices in, the host's result or errno out.
//!
//! Every `unsafe` block of the volume code is here. Buffers are Rust slices,
//! so each call's pointer and length describe memory the caller lent for
//! the duration of the call.

use std::ffi::CStr;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd};

use super::Errno;

/// Linux's `struct open_how` (libc's is `#[non_exhaustive]`, so it cannot
/// be built outside libc).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// How often `openat2` is tried when the kernel could not rule out that a
/// concurrent rename let a `..` escape (it then says `EAGAIN`).
const RESOLVE_ATTEMPTS: usize = 4;

/// A system call's return value: non-negative, or -1 with `errno` set.
fn check(ret: i64) -> Result<u64, Errno> {
    u64::try_from(ret).map_err(|_| Errno::last())
}

/// `openat2(dir, path, flags | O_CLOEXEC, mode)` resolved beneath `dir`:
/// no absolute paths, no `..` above `dir`, no symbolic link leading out of
/// it, no `/proc` magic links; `resolve` adds `RESOLVE_*` flags.
pub(super) fn open_beneath(
    dir: BorrowedFd<'_>,
    path: &CStr,
    flags: i32,
    mode: u32,
    resolve: u64,
) -> Result<OwnedFd, Errno> {
    let how = OpenHow {
        flags: u64::from((flags | libc::O_CLOEXEC).cast_unsigned()),
        mode: u64::from(mode),
        resolve: libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS | resolve,
    };
    for _ in 0..RESOLVE_ATTEMPTS {
        // SAFETY: `path` is NUL-terminated and `how` is an `open_how` of the
        // size passed; both outlive the call, which only reads them.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir.as_raw_fd(),
                path.as_ptr(),
                &raw const how,
                size_of::<OpenHow>(),
            )
        };
        match check(ret) {
            // SAFETY: the kernel just returned this descriptor; nothing
            // else owns it.
            Ok(fd) => return Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) }),
            Err(Errno(libc::EAGAIN)) => continue,
            Err(errno) => return Err(errno),
        }
    }
    Err(Errno(libc::EAGAIN))
}

/// Closes `fd`, reporting the host's error (which `OwnedFd`'s drop ignores).
pub(super) fn close(fd: OwnedFd) -> Result<u64, Errno> {
    // SAFETY: `into_raw_fd` gave up ownership, so this is the only close.
    check(i64::from(unsafe { libc::close(fd.into_raw_fd()) }))
}

/// `read`, or `pread` at `offset` when there is one.
pub(super) fn read(fd: BorrowedFd<'_>, buf: &mut [u8], offset: Option<i64>) -> Result<u64, Errno> {
    let (ptr, len) = (buf.as_mut_ptr().cast(), buf.len());
    // SAFETY: `buf` is writable for `len` bytes for the whole call.
    let ret = unsafe {
        match offset {
            None => libc::read(fd.as_raw_fd(), ptr, len),
            Some(offset) => libc::pread64(fd.as_raw_fd(), ptr, len, offset),
        }
    };
    check(ret as i64)
}

/// `write`, or `pwrite` at `offset` when there is one.
pub(super) fn write(fd: BorrowedFd<'_>, buf: &[u8], offset: Option<i64>) -> Result<u64, Errno> {
    let (ptr, len) = (buf.as_ptr().cast(), buf.len());
    // SAFETY: `buf` is readable for `len` bytes for the whole call.
    let ret = unsafe {
        match offset {
            None => libc::write(fd.as_raw_fd(), ptr, len),
            Some(offset) => libc::pwrite64(fd.as_raw_fd(), ptr, len, offset),
        }
    };
    check(ret as i64)
}

pub(super) fn lseek(fd: BorrowedFd<'_>, offset: i64, whence: i32) -> Result<u64, Errno> {
    // SAFETY: no pointers.
    check(unsafe { libc::lseek64(fd.as_raw_fd(), offset, whence) })
}

pub(super) fn fstat(fd: BorrowedFd<'_>) -> Result<libc::stat, Errno> {
    let mut stat = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `stat` is writable for a whole `struct stat`, which the
    // kernel fills completely when the call succeeds; only then is it read.
    unsafe {
        check(i64::from(libc::fstat(fd.as_raw_fd(), stat.as_mut_ptr())))?;
        Ok(stat.assume_init())
    }
}

/// `fsync`, or `fdatasync` for data only.
pub(super) fn fsync(fd: BorrowedFd<'_>, data_only: bool) -> Result<u64, Errno> {
    // SAFETY: no pointers.
    let ret = unsafe {
        if data_only {
            libc::fdatasync(fd.as_raw_fd())
        } else {
            libc::fsync(fd.as_raw_fd())
        }
    };
    check(i64::from(ret))
}

pub(super) fn ftruncate(fd: BorrowedFd<'_>, len: i64) -> Result<u64, Errno> {
    // SAFETY: no pointers.
    check(i64::from(unsafe { libc::ftruncate64(fd.as_raw_fd(), len) }))
}

/// `flock(2)`.
pub(super) fn flock(fd: BorrowedFd<'_>, operation: i32) -> Result<u64, Errno> {
    // SAFETY: no pointers.
    check(i64::from(unsafe { libc::flock(fd.as_raw_fd(), operation) }))
}

/// `fcntl(2)` with a record-lock command; `lock` in and out.
pub(super) fn fcntl_lock(
    fd: BorrowedFd<'_>,
    command: i32,
    lock: &mut kiln_abi::file::FileLock,
) -> Result<u64, Errno> {
    let mut host = libc::flock {
        l_type: lock.kind,
        l_whence: lock.whence,
        l_start: lock.start,
        l_len: lock.len,
        l_pid: lock.pid,
    };
    // SAFETY: `host` is a valid `struct flock` the kernel reads and, for
    // the GETLK commands, writes.
    let ret = check(i64::from(unsafe {
        libc::fcntl(fd.as_raw_fd(), command, &raw mut host)
    }))?;
    lock.kind = host.l_type;
    lock.whence = host.l_whence;
    lock.start = host.l_start;
    lock.len = host.l_len;
    lock.pid = host.l_pid;
    Ok(ret)
}

/// `fallocate(2)`.
pub(super) fn fallocate(
    fd: BorrowedFd<'_>,
    mode: i32,
    offset: i64,
    len: i64,
) -> Result<u64, Errno> {
    // SAFETY: no pointers.
    check(i64::from(unsafe {
        libc::fallocate64(fd.as_raw_fd(), mode, offset, len)
    }))
}

/// `fchmod(2)`.
pub(super) fn fchmod(fd: BorrowedFd<'_>, mode: u32) -> Result<u64, Errno> {
    // SAFETY: no pointers.
    check(i64::from(unsafe { libc::fchmod(fd.as_raw_fd(), mode) }))
}

/// `sync_file_range(2)`.
pub(super) fn sync_file_range(
    fd: BorrowedFd<'_>,
    offset: i64,
    len: i64,
    flags: u32,
) -> Result<u64, Errno> {
    // SAFETY: no pointers.
    check(i64::from(unsafe {
        libc::sync_file_range(fd.as_raw_fd(), offset, len, flags)
    }))
}

/// `utimensat(fd, "", times, flags)`: with `AT_EMPTY_PATH` the file `fd`
/// names (even an `O_PATH` one), else `futimens`.
pub(super) fn set_times(
    fd: BorrowedFd<'_>,
    times: &[libc::timespec; 2],
    flags: i32,
) -> Result<u64, Errno> {
    let path: *const libc::c_char = if flags & libc::AT_EMPTY_PATH != 0 {
        c"".as_ptr()
    } else {
        std::ptr::null()
    };
    // SAFETY: `path` is null (Linux then changes `fd` itself, as
    // `futimens`) or an empty C string; `times` is two valid timespecs.
    check(unsafe {
        libc::syscall(
            libc::SYS_utimensat,
            fd.as_raw_fd(),
            path,
            times.as_ptr(),
            flags,
        )
    })
}

/// `getdents64`: `linux_dirent64` records into `buf`.
pub(super) fn getdents64(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<u64, Errno> {
    // The kernel takes an `unsigned int` count; a shorter read is valid.
    let len = buf.len().min(u32::MAX as usize);
    // SAFETY: `buf` is writable for `len` bytes for the whole call.
    check(unsafe { libc::syscall(libc::SYS_getdents64, fd.as_raw_fd(), buf.as_mut_ptr(), len) })
}

pub(super) fn mkdirat(dir: BorrowedFd<'_>, name: &CStr, mode: u32) -> Result<u64, Errno> {
    // SAFETY: `name` is NUL-terminated and outlives the call.
    check(i64::from(unsafe {
        libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), mode)
    }))
}

pub(super) fn unlinkat(dir: BorrowedFd<'_>, name: &CStr, flags: i32) -> Result<u64, Errno> {
    // SAFETY: `name` is NUL-terminated and outlives the call.
    check(i64::from(unsafe {
        libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), flags)
    }))
}

pub(super) fn renameat(
    from_dir: BorrowedFd<'_>,
    from: &CStr,
    to_dir: BorrowedFd<'_>,
    to: &CStr,
) -> Result<u64, Errno> {
    // SAFETY: both names are NUL-terminated and outlive the call.
    let ret = unsafe {
        libc::renameat(
            from_dir.as_raw_fd(),
            from.as_ptr(),
            to_dir.as_raw_fd(),
            to.as_ptr(),
        )
    };
    check(i64::from(ret))
}

pub(super) fn symlinkat(target: &CStr, dir: BorrowedFd<'_>, name: &CStr) -> Result<u64, Errno> {
    // SAFETY: both strings are NUL-terminated and outlive the call.
    check(i64::from(unsafe {
        libc::symlinkat(target.as_ptr(), dir.as_raw_fd(), name.as_ptr())
    }))
}

/// `readlinkat`: the link's text into `buf`, truncated to fit, no NUL.
pub(super) fn readlinkat(dir: BorrowedFd<'_>, name: &CStr, buf: &mut [u8]) -> Result<u64, Errno> {
    // SAFETY: `name` is NUL-terminated, `buf` writable for its length; both
    // outlive the call.
    let ret = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    check(ret as i64)
}
