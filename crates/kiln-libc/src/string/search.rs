//! Searching strings and memory: `strnlen`, `strchr`, `strrchr`,
//! `strchrnul`, `strstr`, `strcasestr`, `strspn`, `strcspn`, `strpbrk`,
//! `strtok`, `strtok_r`, `memchr`, `memrchr`, `rawmemchr`, `memmem`.

use core::ffi::{c_char, c_int, c_void};
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

use super::{bytes, bytes_within};

/// The address `offset` bytes into `base`, as the mutable pointer C's
/// search functions return.
fn at<T>(base: *const T, offset: usize) -> *mut T {
    base.wrapping_add(offset).cast_mut()
}

/// `strnlen(3)`.
///
/// # Safety
/// `text` must be readable up to its NUL or `limit` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn strnlen(text: *const c_char, limit: usize) -> usize {
    // SAFETY: per the caller.
    unsafe { bytes_within(text, limit) }.len()
}

/// Where `c` (as a byte) first occurs in `text`, its NUL included.
///
/// # Safety
/// `text` must be a NUL-terminated string.
unsafe fn find_char(text: *const c_char, c: c_int) -> Option<usize> {
    // SAFETY: per the caller; the NUL is part of the string searched.
    let with_nul = unsafe { crate::c_slice(text.cast::<u8>(), bytes(text).len() + 1) };
    memchr::memchr(c as u8, with_nul)
}

/// `strchr(3)`.
///
/// # Safety
/// `text` must be a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn strchr(text: *const c_char, c: c_int) -> *mut c_char {
    // SAFETY: per the caller.
    unsafe { find_char(text, c) }.map_or(ptr::null_mut(), |i| at(text, i))
}

/// `strchrnul(3)`: the end of the string when `c` is not found.
///
/// # Safety
/// `text` must be a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn strchrnul(text: *const c_char, c: c_int) -> *mut c_char {
    // SAFETY: per the caller.
    let end = unsafe { bytes(text) }.len();
    // SAFETY: per the caller.
    at(text, unsafe { find_char(text, c) }.unwrap_or(end))
}

/// `strrchr(3)`.
///
/// # Safety
/// `text` must be a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn strrchr(text: *const c_char, c: c_int) -> *mut c_char {
    // SAFETY: per the caller; the NUL is part of the string searched.
    let with_nul = unsafe { crate::c_slice(text.cast::<u8>(), bytes(text).len() + 1) };
    memchr::memrchr(c as u8, with_nul).map_or(ptr::null_mut(), |i| at(text, i))
}

/// `strstr(3)`.
///
/// # Safety
/// Both must be NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn strstr(haystack: *const c_char, needle: *const c_char) -> *mut c_char {
    // SAFETY: per the caller.
    let (text, wanted) = unsafe { (bytes(haystack), bytes(needle)) };
    memchr::memmem::find(text, wanted).map_or(ptr::null_mut(), |i| at(haystack, i))
}

/// `strcasestr(3)`, ASCII case folded.
///
/// # Safety
/// Both must be NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn strcasestr(haystack: *const c_char, needle: *const c_char) -> *mut c_char {
    // SAFETY: per the caller.
    let (text, wanted) = unsafe { (bytes(haystack), bytes(needle)) };
    if wanted.is_empty() {
        return haystack.cast_mut();
    }
    text.windows(wanted.len())
        .position(|window| window.eq_ignore_ascii_case(wanted))
        .map_or(ptr::null_mut(), |i| at(haystack, i))
}

/// The length of the prefix of `text` whose bytes are (`inside`) or are
/// not in `set`.
///
/// # Safety
/// Both must be NUL-terminated strings.
unsafe fn span(text: *const c_char, set: *const c_char, inside: bool) -> usize {
    // SAFETY: per the caller.
    let (text, set) = unsafe { (bytes(text), bytes(set)) };
    text.iter()
        .take_while(|b| set.contains(b) == inside)
        .count()
}

/// `strspn(3)`.
///
/// # Safety
/// Both must be NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn strspn(text: *const c_char, accept: *const c_char) -> usize {
    // SAFETY: per the caller.
    unsafe { span(text, accept, true) }
}

/// `strcspn(3)`.
///
/// # Safety
/// Both must be NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn strcspn(text: *const c_char, reject: *const c_char) -> usize {
    // SAFETY: per the caller.
    unsafe { span(text, reject, false) }
}

/// `strpbrk(3)`.
///
/// # Safety
/// Both must be NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn strpbrk(text: *const c_char, accept: *const c_char) -> *mut c_char {
    // SAFETY: per the caller.
    let (len, n) = unsafe { (bytes(text).len(), span(text, accept, false)) };
    if n == len {
        ptr::null_mut()
    } else {
        at(text, n)
    }
}

/// `strtok_r(3)`.
///
/// # Safety
/// `text` must be null or a writable NUL-terminated string; `delim` a
/// NUL-terminated string; `saved` valid, holding the previous call's
/// position when `text` is null.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn strtok_r(
    text: *mut c_char,
    delim: *const c_char,
    saved: *mut *mut c_char,
) -> *mut c_char {
    // SAFETY: per the caller.
    unsafe {
        let start = if text.is_null() { *saved } else { text };
        if start.is_null() {
            return ptr::null_mut();
        }
        let token = start.add(span(start, delim, true));
        if *token == 0 {
            *saved = token;
            return ptr::null_mut();
        }
        let end = token.add(span(token, delim, false));
        *saved = if *end == 0 {
            end
        } else {
            end.write(0);
            end.add(1)
        };
        token
    }
}

/// `strtok`'s position between calls: one per process, as in glibc.
static TOKENS: AtomicPtr<c_char> = AtomicPtr::new(ptr::null_mut());

/// `strtok(3)`.
///
/// # Safety
/// As [`strtok_r`]; not for concurrent use (as in C).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn strtok(text: *mut c_char, delim: *const c_char) -> *mut c_char {
    let mut saved = TOKENS.load(Ordering::Relaxed);
    // SAFETY: per the caller.
    let token = unsafe { strtok_r(text, delim, &mut saved) };
    TOKENS.store(saved, Ordering::Relaxed);
    token
}

/// `memchr(3)`.
///
/// # Safety
/// `memory` must be readable for `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memchr(memory: *const c_void, c: c_int, n: usize) -> *mut c_void {
    // SAFETY: per the caller.
    let haystack = unsafe { crate::c_slice(memory.cast::<u8>(), n) };
    memchr::memchr(c as u8, haystack).map_or(ptr::null_mut(), |i| at(memory.cast::<u8>(), i).cast())
}

/// `memrchr(3)`.
///
/// # Safety
/// `memory` must be readable for `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memrchr(memory: *const c_void, c: c_int, n: usize) -> *mut c_void {
    // SAFETY: per the caller.
    let haystack = unsafe { crate::c_slice(memory.cast::<u8>(), n) };
    memchr::memrchr(c as u8, haystack)
        .map_or(ptr::null_mut(), |i| at(memory.cast::<u8>(), i).cast())
}

/// `rawmemchr(3)`: `c` is known to occur.
///
/// # Safety
/// `c` must occur in the readable memory at `memory`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rawmemchr(memory: *const c_void, c: c_int) -> *mut c_void {
    let memory = memory.cast::<u8>();
    let mut i = 0;
    // SAFETY: per the caller, every byte up to the match is readable.
    while unsafe { *memory.add(i) } != c as u8 {
        i += 1;
    }
    at(memory, i).cast()
}

/// `memmem(3)`.
///
/// # Safety
/// `haystack` and `needle` must be readable for their lengths.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memmem(
    haystack: *const c_void,
    haystack_len: usize,
    needle: *const c_void,
    needle_len: usize,
) -> *mut c_void {
    // SAFETY: per the caller.
    let (text, wanted) = unsafe {
        (
            crate::c_slice(haystack.cast::<u8>(), haystack_len),
            crate::c_slice(needle.cast::<u8>(), needle_len),
        )
    };
    memchr::memmem::find(text, wanted)
        .map_or(ptr::null_mut(), |i| at(haystack.cast::<u8>(), i).cast())
}
