//! File status and directories (`sys/stat.h`): `stat` and friends,
//! `mkdir`, `realpath`.

use core::ffi::c_char;

use kiln_libos::fs::{self, Stat, flags::AT_FDCWD};

use crate::errno::{self, code};
use crate::{CInt, c_path};

/// `AT_SYMLINK_NOFOLLOW`.
const AT_SYMLINK_NOFOLLOW: CInt = 0x100;
/// `AT_EMPTY_PATH`: `fstatat` on `dirfd` itself when the path is empty.
const AT_EMPTY_PATH: CInt = 0x1000;

/// Writes `stat` as glibc's x86_64 `struct stat64` (144 bytes).
///
/// # Safety
/// `buf` must be valid for 144 bytes.
unsafe fn write_stat(buf: *mut u8, stat: &Stat) {
    let split = |ns: i64| [ns.div_euclid(1_000_000_000), ns.rem_euclid(1_000_000_000)];
    let mut out = [0u8; 144];
    let mut put = |at: usize, bytes: &[u8]| out[at..at + bytes.len()].copy_from_slice(bytes);
    put(0, &stat.dev.to_le_bytes());
    put(8, &stat.ino.to_le_bytes());
    put(16, &u64::from(stat.nlink).to_le_bytes());
    put(24, &stat.mode.to_le_bytes());
    put(28, &stat.uid.to_le_bytes());
    put(32, &stat.gid.to_le_bytes());
    put(40, &stat.rdev.to_le_bytes());
    put(48, &stat.size.to_le_bytes());
    put(56, &stat.blksize.to_le_bytes());
    put(64, &stat.blocks.to_le_bytes());
    for (at, ns) in [
        (72, stat.atime_ns),
        (88, stat.mtime_ns),
        (104, stat.ctime_ns),
    ] {
        let [seconds, nanos] = split(ns);
        put(at, &seconds.to_le_bytes());
        put(at + 8, &nanos.to_le_bytes());
    }
    // SAFETY: per the caller.
    unsafe { core::ptr::copy_nonoverlapping(out.as_ptr(), buf, out.len()) };
}

/// Stores a status result in `buf`, as C expects it.
///
/// # Safety
/// `buf` must be valid for a `struct stat64`.
unsafe fn finish(result: fs::Result<Stat>, buf: *mut u8) -> CInt {
    match result {
        Ok(stat) => {
            // SAFETY: per the caller.
            unsafe { write_stat(buf, &stat) };
            0
        }
        Err(e) => errno::fail(e.0),
    }
}

/// `fstat64(2)`.
///
/// # Safety
/// `buf` must be valid for a `struct stat64`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fstat64(fd: CInt, buf: *mut u8) -> CInt {
    traced!("fstat64"(fd, buf) {
    // SAFETY: per the caller.
    unsafe { finish(fs::fstat(fd), buf) }
    })
}

/// `fstatat64(2)`.
///
/// # Safety
/// `path` must be null or a NUL-terminated string; `buf` valid for a `struct stat64`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fstatat64(
    dirfd: CInt,
    path: *const c_char,
    buf: *mut u8,
    flags: CInt,
) -> CInt {
    traced!("fstatat64"(dirfd, path, buf, flags) {
    // SAFETY: per the caller.
    let result = unsafe { c_path(path) }.and_then(|path| {
        if path.is_empty() && flags & AT_EMPTY_PATH != 0 {
            // The descriptor itself; for `AT_FDCWD`, the working directory.
            return match dirfd {
                AT_FDCWD => fs::stat(AT_FDCWD, b".", true),
                _ => fs::fstat(dirfd),
            };
        }
        fs::stat(dirfd, path, flags & AT_SYMLINK_NOFOLLOW == 0)
    });
    // SAFETY: per the caller.
    unsafe { finish(result, buf) }
    })
}

/// `stat64(2)`.
///
/// # Safety
/// As [`fstatat64`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn stat64(path: *const c_char, buf: *mut u8) -> CInt {
    // SAFETY: per the caller.
    unsafe { fstatat64(AT_FDCWD, path, buf, 0) }
}

/// `lstat64(2)`.
///
/// # Safety
/// As [`fstatat64`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lstat64(path: *const c_char, buf: *mut u8) -> CInt {
    // SAFETY: per the caller.
    unsafe { fstatat64(AT_FDCWD, path, buf, AT_SYMLINK_NOFOLLOW) }
}

// On x86_64, glibc's `struct stat` is `struct stat64`: the plain names
// (which glibc 2.33+ exports as functions) are the same calls.

/// `fstat(2)`.
///
/// # Safety
/// As [`fstat64`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fstat(fd: CInt, buf: *mut u8) -> CInt {
    // SAFETY: per the caller.
    unsafe { fstat64(fd, buf) }
}

/// `fstatat(2)`.
///
/// # Safety
/// As [`fstatat64`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fstatat(
    dirfd: CInt,
    path: *const c_char,
    buf: *mut u8,
    flags: CInt,
) -> CInt {
    // SAFETY: per the caller.
    unsafe { fstatat64(dirfd, path, buf, flags) }
}

/// `stat(2)`.
///
/// # Safety
/// As [`fstatat64`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn stat(path: *const c_char, buf: *mut u8) -> CInt {
    // SAFETY: per the caller.
    unsafe { stat64(path, buf) }
}

/// `lstat(2)`.
///
/// # Safety
/// As [`fstatat64`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lstat(path: *const c_char, buf: *mut u8) -> CInt {
    // SAFETY: per the caller.
    unsafe { lstat64(path, buf) }
}

/// `mkdirat(2)`.
///
/// # Safety
/// `path` must be null or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mkdirat(dirfd: CInt, path: *const c_char, mode: u32) -> CInt {
    traced!("mkdirat"(dirfd, path, mode) {
    // SAFETY: per the caller.
    let result = unsafe { c_path(path) }.and_then(|path| fs::mkdir(dirfd, path, mode));
    errno::check(result.map(|()| 0)) as CInt
    })
}

/// `mkdir(2)`.
///
/// # Safety
/// `path` must be null or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mkdir(path: *const c_char, mode: u32) -> CInt {
    // SAFETY: per the caller.
    unsafe { mkdirat(AT_FDCWD, path, mode) }
}

/// `umask(2)`.
#[unsafe(no_mangle)]
pub extern "C" fn umask(mask: u32) -> u32 {
    traced!("umask"(mask) {
    fs::umask(mask)
    })
}

/// `chmod(2)`: sets the permission bits (on a volume, only to what they
/// are; see `fs::chmod`).
///
/// # Safety
/// `path` must be null or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chmod(path: *const c_char, mode: u32) -> CInt {
    traced!("chmod"(path, mode) {
    // SAFETY: per the caller.
    let result = unsafe { c_path(path) }.and_then(|path| {
        // An empty path is `ENOENT` here, not the descriptor `fchmod` means.
        if path.is_empty() {
            return Err(fs::Errno(code::ENOENT));
        }
        fs::chmod(AT_FDCWD, path, mode)
    });
    errno::check(result.map(|()| 0)) as CInt
    })
}

/// `fchmod(2)`.
#[unsafe(no_mangle)]
pub extern "C" fn fchmod(fd: CInt, mode: u32) -> CInt {
    traced!("fchmod"(fd, mode) {
    errno::check(fs::chmod(fd, b"", mode).map(|()| 0)) as CInt
    })
}

/// The answer to changing a file's owner: everything in the guest belongs
/// to root, the one identity there is (see `ids.rs`), so "root" (0) and
/// "unchanged" (-1) succeed and any other owner is `EPERM`, as `setuid` to
/// another id is; a file that is not there fails first.
fn change_owner(found: fs::Result<Stat>, owner: u32, group: u32) -> CInt {
    let keep_or_root = |id: u32| id == 0 || id == u32::MAX;
    let result = found.and_then(|_| {
        if keep_or_root(owner) && keep_or_root(group) {
            Ok(0)
        } else {
            Err(fs::Errno(code::EPERM))
        }
    });
    errno::check(result) as CInt
}

/// `fchownat(2)`.
///
/// # Safety
/// `path` must be null or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fchownat(
    dirfd: CInt,
    path: *const c_char,
    owner: u32,
    group: u32,
    flags: CInt,
) -> CInt {
    traced!("fchownat"(dirfd, path, owner, group, flags) {
    // SAFETY: per the caller.
    let found = unsafe { c_path(path) }.and_then(|path| {
        if path.is_empty() && flags & AT_EMPTY_PATH != 0 {
            fs::fstat(dirfd)
        } else {
            fs::stat(dirfd, path, flags & AT_SYMLINK_NOFOLLOW == 0)
        }
    });
    change_owner(found, owner, group)
    })
}

/// `fchown(2)`.
#[unsafe(no_mangle)]
pub extern "C" fn fchown(fd: CInt, owner: u32, group: u32) -> CInt {
    traced!("fchown"(fd, owner, group) {
    change_owner(fs::fstat(fd), owner, group)
    })
}

/// `chown(2)`.
///
/// # Safety
/// As [`fchownat`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chown(path: *const c_char, owner: u32, group: u32) -> CInt {
    // SAFETY: per the caller.
    unsafe { fchownat(AT_FDCWD, path, owner, group, 0) }
}

/// `lchown(2)`.
///
/// # Safety
/// As [`fchownat`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lchown(path: *const c_char, owner: u32, group: u32) -> CInt {
    // SAFETY: per the caller.
    unsafe { fchownat(AT_FDCWD, path, owner, group, AT_SYMLINK_NOFOLLOW) }
}

/// `realpath(3)`; with a null `resolved`, a `malloc`ed result.
///
/// # Safety
/// `path` must be null or a NUL-terminated string; `resolved` null or valid
/// for `PATH_MAX` (4096) bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn realpath(path: *const c_char, resolved: *mut c_char) -> *mut c_char {
    traced!("realpath"(path, resolved) {
    // SAFETY: per the caller.
    let absolute = match unsafe { c_path(path) }.and_then(fs::canonicalize) {
        Ok(absolute) => absolute,
        Err(e) => return errno::fail_null(e.0),
    };
    const PATH_MAX: usize = 4096;
    let out = if resolved.is_null() {
        crate::malloc::malloc(absolute.len() + 1).cast::<c_char>()
    } else if absolute.len() >= PATH_MAX {
        // The caller's buffer holds PATH_MAX bytes; a path made from a
        // deep working directory may be longer.
        return errno::fail_null(code::ENAMETOOLONG);
    } else {
        resolved
    };
    if out.is_null() {
        return out;
    }
    // SAFETY: `out` has room for the path and its NUL (allocated, or
    // PATH_MAX bytes per the caller, checked above).
    unsafe {
        core::ptr::copy_nonoverlapping(absolute.as_ptr(), out.cast::<u8>(), absolute.len());
        out.add(absolute.len()).write(0);
    }
    out
    })
}

/// `utimensat(2)`: times of `path` from `dirfd` (`times` null: both now).
/// As glibc's, a null `path` is `EINVAL` (the kernel's "the descriptor
/// itself" is `futimens`).
///
/// # Safety
/// `path` must be null or a NUL-terminated string; `times` null or two
/// `struct timespec`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn utimensat(
    dirfd: CInt,
    path: *const c_char,
    times: *const [i64; 2],
    flags: CInt,
) -> CInt {
    traced!("utimensat"(dirfd, path, times, flags) {
    if path.is_null() || flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return errno::fail(code::EINVAL);
    }
    // SAFETY: per the caller.
    let path = match unsafe { c_path(path) } {
        Ok(b"") if flags & AT_EMPTY_PATH != 0 => None,
        Ok(path) => Some(path),
        Err(e) => return errno::fail(e.0),
    };
    // SAFETY: per the caller.
    let times = unsafe { read_times(times) };
    let follow = flags & AT_SYMLINK_NOFOLLOW == 0;
    errno::check(fs::set_times(dirfd, path, times, follow).map(|()| 0)) as CInt
    })
}

/// `futimens(3)`: times of the open file `fd`.
///
/// # Safety
/// `times` must be null or point at two `struct timespec`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn futimens(fd: CInt, times: *const [i64; 2]) -> CInt {
    traced!("futimens"(fd, times) {
    // SAFETY: per the caller.
    let times = unsafe { read_times(times) };
    errno::check(fs::set_times(fd, None, times, true).map(|()| 0)) as CInt
    })
}

/// Two `struct timespec` as `[seconds, nanoseconds]`, if `times` is not null.
///
/// # Safety
/// `times` must be null or point at two `struct timespec`.
unsafe fn read_times(times: *const [i64; 2]) -> Option<[[i64; 2]; 2]> {
    // SAFETY: per the caller.
    (!times.is_null()).then(|| unsafe { [*times, *times.add(1)] })
}
