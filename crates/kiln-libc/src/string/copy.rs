//! Copying strings and memory: `strcpy`, `stpcpy`, `strncpy`, `stpncpy`,
//! `strcat`, `strncat`, `strdup`, `strndup`, `memccpy`, `mempcpy`,
//! `bzero`, `explicit_bzero`.

use core::ffi::{c_char, c_int, c_void};
use core::ptr;

use super::{bytes, bytes_within};
use crate::malloc::malloc;

/// Copies `text` and a NUL to `dest`; returns the address of that NUL.
///
/// # Safety
/// `dest` must be valid for `text.len() + 1` bytes, not overlapping `text`.
unsafe fn put(dest: *mut c_char, text: &[u8]) -> *mut c_char {
    // SAFETY: per the caller.
    unsafe {
        ptr::copy_nonoverlapping(text.as_ptr(), dest.cast(), text.len());
        let end = dest.add(text.len());
        end.write(0);
        end
    }
}

/// `strcpy(3)`.
///
/// # Safety
/// `src` must be a NUL-terminated string; `dest` large enough for it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn strcpy(dest: *mut c_char, src: *const c_char) -> *mut c_char {
    // SAFETY: per the caller.
    unsafe { put(dest, bytes(src)) };
    dest
}

/// `stpcpy(3)`: like `strcpy`, returning the end of the copy.
///
/// # Safety
/// As [`strcpy`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn stpcpy(dest: *mut c_char, src: *const c_char) -> *mut c_char {
    // SAFETY: per the caller.
    unsafe { put(dest, bytes(src)) }
}

/// `stpncpy(3)`: copies at most `n` bytes and pads with NULs to `n`;
/// returns the address of the first NUL written, or `dest + n`.
///
/// # Safety
/// `src` must be readable up to its NUL or `n` bytes; `dest` valid for `n`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn stpncpy(dest: *mut c_char, src: *const c_char, n: usize) -> *mut c_char {
    // SAFETY: per the caller.
    unsafe {
        let text = bytes_within(src, n);
        ptr::copy_nonoverlapping(text.as_ptr(), dest.cast(), text.len());
        dest.add(text.len()).write_bytes(0, n - text.len());
        dest.add(text.len())
    }
}

/// `strncpy(3)`.
///
/// # Safety
/// As [`stpncpy`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn strncpy(dest: *mut c_char, src: *const c_char, n: usize) -> *mut c_char {
    // SAFETY: per the caller.
    unsafe { stpncpy(dest, src, n) };
    dest
}

/// `strcat(3)`.
///
/// # Safety
/// Both must be NUL-terminated strings; `dest` large enough for both.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn strcat(dest: *mut c_char, src: *const c_char) -> *mut c_char {
    // SAFETY: per the caller.
    unsafe { put(dest.add(bytes(dest).len()), bytes(src)) };
    dest
}

/// `strncat(3)`: appends at most `n` bytes of `src`, then a NUL.
///
/// # Safety
/// `dest` must be a NUL-terminated string with room for `n + 1` more
/// bytes; `src` readable up to its NUL or `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn strncat(dest: *mut c_char, src: *const c_char, n: usize) -> *mut c_char {
    // SAFETY: per the caller.
    unsafe { put(dest.add(bytes(dest).len()), bytes_within(src, n)) };
    dest
}

/// A heap copy of `text` with a NUL, or null (`ENOMEM`, set by `malloc`).
fn duplicate(text: &[u8]) -> *mut c_char {
    let copy = malloc(text.len() + 1).cast::<c_char>();
    if !copy.is_null() {
        // SAFETY: `copy` has room for the text and its NUL.
        unsafe { put(copy, text) };
    }
    copy
}

/// `strdup(3)`.
///
/// # Safety
/// `text` must be a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn strdup(text: *const c_char) -> *mut c_char {
    // SAFETY: per the caller.
    duplicate(unsafe { bytes(text) })
}

/// `strndup(3)`.
///
/// # Safety
/// `text` must be readable up to its NUL or `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn strndup(text: *const c_char, n: usize) -> *mut c_char {
    // SAFETY: per the caller.
    duplicate(unsafe { bytes_within(text, n) })
}

/// `memccpy(3)`: copies up to and including the first `stop` byte, at most
/// `n` bytes; returns the address after the copied `stop`, or null.
///
/// # Safety
/// `src` readable and `dest` writable for `n` bytes, not overlapping.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memccpy(
    dest: *mut c_void,
    src: *const c_void,
    stop: c_int,
    n: usize,
) -> *mut c_void {
    // SAFETY: per the caller.
    let source = unsafe { crate::c_slice(src.cast::<u8>(), n) };
    let found = memchr::memchr(stop as u8, source);
    let len = found.map_or(n, |at| at + 1);
    // SAFETY: `len <= n` bytes.
    unsafe { ptr::copy_nonoverlapping(source.as_ptr(), dest.cast::<u8>(), len) };
    match found {
        // SAFETY: within `dest`'s `n` bytes, or one past them.
        Some(_) => unsafe { dest.cast::<u8>().add(len).cast() },
        None => ptr::null_mut(),
    }
}

/// `mempcpy(3)`: `memcpy` returning the end of the copy.
///
/// # Safety
/// As `memcpy`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mempcpy(dest: *mut c_void, src: *const c_void, n: usize) -> *mut c_void {
    // SAFETY: per the caller.
    unsafe {
        ptr::copy_nonoverlapping(src.cast::<u8>(), dest.cast::<u8>(), n);
        dest.cast::<u8>().add(n).cast()
    }
}

/// `bzero(3)`.
///
/// # Safety
/// `dest` must be valid for `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bzero(dest: *mut c_void, n: usize) {
    // SAFETY: per the caller.
    unsafe { dest.cast::<u8>().write_bytes(0, n) };
}

/// `explicit_bzero(3)`: volatile writes, which the compiler may not drop
/// as dead stores.
///
/// # Safety
/// `dest` must be valid for `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn explicit_bzero(dest: *mut c_void, n: usize) {
    let dest = dest.cast::<u8>();
    for i in 0..n {
        // SAFETY: per the caller.
        unsafe { dest.add(i).write_volatile(0) };
    }
}
