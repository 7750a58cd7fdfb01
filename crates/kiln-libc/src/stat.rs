//! Opening and inspecting files: there are no files yet, only the console.

use core::ffi::c_char;

use crate::CInt;
use crate::errno::{self, code};

/// Size of glibc's `struct stat64` on x86_64.
const STAT_SIZE: usize = 144;
/// Offset of `st_mode` in it.
const ST_MODE: usize = 24;
const S_IFCHR: u32 = 0o020000;

/// `open64(2)`: nothing to open yet.
#[unsafe(no_mangle)]
pub extern "C" fn open64(_path: *const c_char, _flags: CInt, _mode: u32) -> CInt {
    traced!("open64"() {
    errno::fail(code::ENOENT)
    })
}

/// `open(2)`.
#[unsafe(no_mangle)]
pub extern "C" fn open(path: *const c_char, flags: CInt, mode: u32) -> CInt {
    open64(path, flags, mode)
}

/// `fstat64(2)`: descriptors 0-2 are character devices.
///
/// # Safety
/// `buf` must be valid for a `struct stat64`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fstat64(fd: CInt, buf: *mut u8) -> CInt {
    traced!("fstat64"(fd, buf) {
    if !crate::unistd::is_console(fd) {
        return errno::fail(code::EBADF);
    }
    // SAFETY: per the caller.
    unsafe {
        buf.write_bytes(0, STAT_SIZE);
        buf.add(ST_MODE)
            .cast::<u32>()
            .write_unaligned(S_IFCHR | 0o620);
    }
    0
    })
}

/// `stat64(2)`: no paths exist yet.
#[unsafe(no_mangle)]
pub extern "C" fn stat64(_path: *const c_char, _buf: *mut u8) -> CInt {
    traced!("stat64"() {
    errno::fail(code::ENOENT)
    })
}

/// `lstat64(2)`.
#[unsafe(no_mangle)]
pub extern "C" fn lstat64(path: *const c_char, buf: *mut u8) -> CInt {
    stat64(path, buf)
}

/// `realpath(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn realpath(_path: *const c_char, _resolved: *mut c_char) -> *mut c_char {
    traced!("realpath"() {
    errno::fail_null(code::ENOENT)
    })
}
