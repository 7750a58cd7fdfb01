//! glibc's `_unlocked` forms (`getc_unlocked`, `fwrite_unlocked`...): the
//! same calls, as streams take no lock here (see [`super::stream`]).

use core::ffi::{c_char, c_void};

use super::stream::File;
use super::{file, io};
use crate::CInt;

/// `getc_unlocked`: [`io::getc`].
///
/// # Safety
/// As [`io::getc`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getc_unlocked(file: *mut File) -> CInt {
    // SAFETY: per the caller.
    unsafe { io::getc(file) }
}

/// `fgetc_unlocked`: [`io::fgetc`].
///
/// # Safety
/// As [`io::fgetc`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fgetc_unlocked(file: *mut File) -> CInt {
    // SAFETY: per the caller.
    unsafe { io::fgetc(file) }
}

/// `putc_unlocked`: [`io::putc`].
///
/// # Safety
/// As [`io::putc`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn putc_unlocked(c: CInt, file: *mut File) -> CInt {
    // SAFETY: per the caller.
    unsafe { io::putc(c, file) }
}

/// `fputc_unlocked`: [`io::fputc`].
///
/// # Safety
/// As [`io::fputc`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fputc_unlocked(c: CInt, file: *mut File) -> CInt {
    // SAFETY: per the caller.
    unsafe { io::fputc(c, file) }
}

/// `fputs_unlocked`: [`io::fputs`].
///
/// # Safety
/// As [`io::fputs`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fputs_unlocked(s: *const c_char, file: *mut File) -> CInt {
    // SAFETY: per the caller.
    unsafe { io::fputs(s, file) }
}

/// `fgets_unlocked`: [`io::fgets`].
///
/// # Safety
/// As [`io::fgets`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fgets_unlocked(
    buf: *mut c_char,
    size: CInt,
    file: *mut File,
) -> *mut c_char {
    // SAFETY: per the caller.
    unsafe { io::fgets(buf, size, file) }
}

/// `fwrite_unlocked`: [`io::fwrite`].
///
/// # Safety
/// As [`io::fwrite`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fwrite_unlocked(
    buf: *const c_void,
    size: usize,
    count: usize,
    file: *mut File,
) -> usize {
    // SAFETY: per the caller.
    unsafe { io::fwrite(buf, size, count, file) }
}

/// `fread_unlocked`: [`io::fread`].
///
/// # Safety
/// As [`io::fread`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fread_unlocked(
    buf: *mut c_void,
    size: usize,
    count: usize,
    file: *mut File,
) -> usize {
    // SAFETY: per the caller.
    unsafe { io::fread(buf, size, count, file) }
}

/// `feof_unlocked`: [`file::feof`].
///
/// # Safety
/// As [`file::feof`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn feof_unlocked(file: *mut File) -> CInt {
    // SAFETY: per the caller.
    unsafe { file::feof(file) }
}

/// `ferror_unlocked`: [`file::ferror`].
///
/// # Safety
/// As [`file::ferror`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ferror_unlocked(file: *mut File) -> CInt {
    // SAFETY: per the caller.
    unsafe { file::ferror(file) }
}

/// `clearerr_unlocked`: [`file::clearerr`].
///
/// # Safety
/// As [`file::clearerr`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn clearerr_unlocked(file: *mut File) {
    // SAFETY: per the caller.
    unsafe { file::clearerr(file) }
}

/// `fileno_unlocked`: [`file::fileno`].
///
/// # Safety
/// As [`file::fileno`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fileno_unlocked(file: *mut File) -> CInt {
    // SAFETY: per the caller.
    unsafe { file::fileno(file) }
}

/// `getchar_unlocked`: [`io::getchar`].
#[unsafe(no_mangle)]
pub extern "C" fn getchar_unlocked() -> CInt {
    io::getchar()
}

/// `putchar_unlocked`: [`io::putchar`].
#[unsafe(no_mangle)]
pub extern "C" fn putchar_unlocked(c: CInt) -> CInt {
    io::putchar(c)
}

/// `fflush_unlocked`: [`file::fflush`].
///
/// # Safety
/// As [`file::fflush`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fflush_unlocked(file: *mut File) -> CInt {
    // SAFETY: per the caller.
    unsafe { file::fflush(file) }
}
