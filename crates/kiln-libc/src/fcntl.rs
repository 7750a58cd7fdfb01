//! Opening files and descriptor control (`fcntl.h`).

use core::ffi::c_char;

use kiln_libos::fs::{self, flags::AT_FDCWD};

use crate::errno::{self, code};
use crate::{CInt, CLong, c_path};

/// `openat64(2)`. The mode is read only with `O_CREAT` (C passes it as a
/// variadic argument, which lands in the same register).
///
/// # Safety
/// `path` must be null or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn openat64(
    dirfd: CInt,
    path: *const c_char,
    flags: CInt,
    mode: u32,
) -> CInt {
    traced!("openat64"(dirfd, path, flags, mode) {
    // SAFETY: per the caller.
    let result = unsafe { c_path(path) }.and_then(|path| fs::open(dirfd, path, flags, mode & 0o7777));
    errno::check(result) as CInt
    })
}

/// `openat(2)`.
///
/// # Safety
/// As [`openat64`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn openat(dirfd: CInt, path: *const c_char, flags: CInt, mode: u32) -> CInt {
    // SAFETY: per the caller.
    unsafe { openat64(dirfd, path, flags, mode) }
}

/// `open64(2)`.
///
/// # Safety
/// As [`openat64`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn open64(path: *const c_char, flags: CInt, mode: u32) -> CInt {
    // SAFETY: per the caller.
    unsafe { openat64(AT_FDCWD, path, flags, mode) }
}

/// `open(2)`.
///
/// # Safety
/// As [`openat64`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn open(path: *const c_char, flags: CInt, mode: u32) -> CInt {
    // SAFETY: per the caller.
    unsafe { openat64(AT_FDCWD, path, flags, mode) }
}

/// `fcntl(2)`: duplication, `FD_CLOEXEC`, the status flags, and record
/// locks (POSIX and open-file-description ones, as Linux keeps them).
///
/// # Safety
/// For the lock commands, `arg` must be null or point at a `struct flock`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fcntl(fd: CInt, command: CInt, arg: CLong) -> CInt {
    traced!("fcntl"(fd, command, arg) {
    use fs::record::*;
    const F_DUPFD: CInt = 0;
    const F_GETFD: CInt = 1;
    const F_SETFD: CInt = 2;
    const F_GETFL: CInt = 3;
    const F_SETFL: CInt = 4;
    const F_DUPFD_CLOEXEC: CInt = 1030;
    const FD_CLOEXEC: CLong = 1;
    let result = match command {
        F_DUPFD | F_DUPFD_CLOEXEC => {
            let min = CInt::try_from(arg).map_err(|_| fs::Errno(code::EINVAL));
            min.and_then(|min| fs::dup(fd, min, command == F_DUPFD_CLOEXEC))
        }
        F_GETFD => fs::cloexec(fd).map(CInt::from),
        F_SETFD => fs::set_cloexec(fd, arg & FD_CLOEXEC != 0).map(|()| 0),
        F_GETFL => fs::status(fd),
        F_SETFL => fs::set_status(fd, arg as CInt).map(|()| 0),
        F_GETLK | F_SETLK | F_SETLKW | F_OFD_GETLK | F_OFD_SETLK | F_OFD_SETLKW => {
            // SAFETY: per the caller, `arg` is null or a `struct flock`,
            // which `FileLock` lays out exactly.
            match unsafe { (arg as *mut fs::FileLock).as_mut() } {
                Some(lock) => fs::record_lock(fd, command, lock).map(|()| 0),
                None => fs::status(fd).and(Err(fs::Errno(code::EFAULT))),
            }
        }
        _ => fs::status(fd).and(Err(fs::Errno(code::EINVAL))),
    };
    errno::check(result) as CInt
    })
}

/// `fcntl64`: glibc's name for the same call.
///
/// # Safety
/// As [`fcntl`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fcntl64(fd: CInt, command: CInt, arg: CLong) -> CInt {
    // SAFETY: per the caller.
    unsafe { fcntl(fd, command, arg) }
}

/// `sync_file_range(2)`: a volume's file is written back by the host.
#[unsafe(no_mangle)]
pub extern "C" fn sync_file_range(fd: CInt, offset: i64, len: i64, flags: u32) -> CInt {
    traced!("sync_file_range"(fd, offset, len, flags) {
    errno::check(fs::sync_range(fd, offset, len, flags).map(|()| 0)) as CInt
    })
}

/// `fallocate(2)`: see `kiln_libos::fs::allocate`.
#[unsafe(no_mangle)]
pub extern "C" fn fallocate64(fd: CInt, mode: CInt, offset: i64, len: i64) -> CInt {
    traced!("fallocate64"(fd, mode, offset, len) {
    errno::check(fs::allocate(fd, mode, offset, len).map(|()| 0)) as CInt
    })
}

/// `fallocate(2)`.
#[unsafe(no_mangle)]
pub extern "C" fn fallocate(fd: CInt, mode: CInt, offset: i64, len: i64) -> CInt {
    fallocate64(fd, mode, offset, len)
}

/// `posix_fallocate(3)`: `fallocate` with mode 0 (which every file Kiln
/// serves supports, so glibc's write-zeros fallback is never needed);
/// returns the error instead of setting `errno`.
#[unsafe(no_mangle)]
pub extern "C" fn posix_fallocate64(fd: CInt, offset: i64, len: i64) -> CInt {
    traced!("posix_fallocate64"(fd, offset, len) {
    match fs::allocate(fd, 0, offset, len) {
        Ok(()) => 0,
        Err(e) => e.0,
    }
    })
}

/// `posix_fallocate(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn posix_fallocate(fd: CInt, offset: i64, len: i64) -> CInt {
    posix_fallocate64(fd, offset, len)
}

/// `posix_fadvise(2)`: checked hints; returns the error instead of
/// setting `errno`.
#[unsafe(no_mangle)]
pub extern "C" fn posix_fadvise64(fd: CInt, _offset: i64, len: i64, advice: CInt) -> CInt {
    traced!("posix_fadvise64"(fd, len, advice) {
    match fs::advise(fd, len, advice) {
        Ok(()) => 0,
        Err(e) => e.0,
    }
    })
}

/// `posix_fadvise(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn posix_fadvise(fd: CInt, offset: i64, len: i64, advice: CInt) -> CInt {
    posix_fadvise64(fd, offset, len, advice)
}

/// `splice(2)`: not provided; `std::io::copy` falls back to `read` and
/// `write` on `ENOSYS`.
#[unsafe(no_mangle)]
pub extern "C" fn splice(
    fd_in: CInt,
    _off_in: *mut i64,
    fd_out: CInt,
    _off_out: *mut i64,
    len: usize,
    _flags: u32,
) -> CLong {
    traced!("splice"(fd_in, fd_out, len) {
    errno::fail(code::ENOSYS)
    })
}
