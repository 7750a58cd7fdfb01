//! `string.h` (and `strings.h`) beyond the `mem*` functions and `strlen`
//! the library OS defines: copying, comparing and searching C strings,
//! error and signal messages, and the fortified `__*_chk` forms.

pub mod compare;
pub mod copy;
pub mod errors;
pub mod fortify;
mod messages;
pub mod search;

use core::ffi::{CStr, c_char};

/// The bytes of a C string, without its NUL.
///
/// # Safety
/// `text` must be a NUL-terminated string that outlives the result.
pub(crate) unsafe fn bytes<'a>(text: *const c_char) -> &'a [u8] {
    // SAFETY: per the caller.
    unsafe { CStr::from_ptr(text) }.to_bytes()
}

/// The bytes of a C string up to `limit` bytes, without its NUL: what the
/// `strn*` functions read, which may not be terminated within `limit`.
///
/// # Safety
/// `text` must be readable up to its NUL or `limit` bytes, whichever
/// comes first.
pub(crate) unsafe fn bytes_within<'a>(text: *const c_char, limit: usize) -> &'a [u8] {
    let mut len = 0;
    // SAFETY: per the caller, bytes before the NUL and within `limit` are
    // readable.
    while len < limit && unsafe { *text.add(len) } != 0 {
        len += 1;
    }
    // SAFETY: the `len` bytes just read.
    unsafe { crate::c_slice(text.cast::<u8>(), len) }
}
