//! Comparing strings: `strcmp`, `strncmp`, `strcasecmp`, `strncasecmp`,
//! and, in the C locale (the only one), `strcoll` and `strxfrm`.

use core::ffi::{c_char, c_int};

use super::{bytes, bytes_within};

/// C's answer for an ordering: the difference of the first differing
/// bytes (as unsigned chars), as glibc's generic code returns.
fn compare(a: &[u8], b: &[u8], fold: bool) -> c_int {
    let byte = |s: &[u8], i: usize| {
        let c = s.get(i).copied().unwrap_or(0);
        if fold { c.to_ascii_lowercase() } else { c }
    };
    for i in 0..=a.len().max(b.len()) {
        let (x, y) = (byte(a, i), byte(b, i));
        if x != y || x == 0 {
            return c_int::from(x) - c_int::from(y);
        }
    }
    0
}

/// `strcmp(3)`.
///
/// # Safety
/// Both must be NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn strcmp(a: *const c_char, b: *const c_char) -> c_int {
    // SAFETY: per the caller.
    unsafe { compare(bytes(a), bytes(b), false) }
}

/// `strncmp(3)`.
///
/// # Safety
/// Both must be readable up to their NUL or `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn strncmp(a: *const c_char, b: *const c_char, n: usize) -> c_int {
    // SAFETY: per the caller.
    unsafe { compare(bytes_within(a, n), bytes_within(b, n), false) }
}

/// `strcasecmp(3)`, ASCII case folded (the C locale).
///
/// # Safety
/// Both must be NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn strcasecmp(a: *const c_char, b: *const c_char) -> c_int {
    // SAFETY: per the caller.
    unsafe { compare(bytes(a), bytes(b), true) }
}

/// `strncasecmp(3)`.
///
/// # Safety
/// Both must be readable up to their NUL or `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn strncasecmp(a: *const c_char, b: *const c_char, n: usize) -> c_int {
    // SAFETY: per the caller.
    unsafe { compare(bytes_within(a, n), bytes_within(b, n), true) }
}

/// `strcoll(3)`: byte order in the C locale.
///
/// # Safety
/// Both must be NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn strcoll(a: *const c_char, b: *const c_char) -> c_int {
    // SAFETY: per the caller.
    unsafe { strcmp(a, b) }
}

/// `strxfrm(3)` in the C locale: the string itself. Copies at most `n`
/// bytes (the NUL only if it fits) and returns the length it needs.
///
/// # Safety
/// `src` must be a NUL-terminated string, `dest` valid for `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn strxfrm(dest: *mut c_char, src: *const c_char, n: usize) -> usize {
    // SAFETY: per the caller.
    let text = unsafe { bytes(src) };
    let copied = (text.len() + 1).min(n);
    // SAFETY: `copied` bytes of `src` (its NUL included) are readable and
    // fit in `dest`.
    unsafe { core::ptr::copy_nonoverlapping(src, dest, copied) };
    text.len()
}
