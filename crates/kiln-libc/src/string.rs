//! `strerror_r`: the messages glibc gives for the errors Kiln returns.

use core::ffi::c_char;
use core::fmt::Write;

use kiln_libos::fixed_text::FixedText;

use crate::CInt;
use crate::errno::code;

fn message(errnum: CInt) -> Option<&'static str> {
    if errnum == 0 {
        return Some("Success");
    }
    crate::errno::describe(errnum).map(|(_, message)| message)
}

/// "Unknown error N", as glibc words an error it has no message for.
fn unknown(errnum: CInt) -> FixedText<32> {
    let mut text = FixedText::new();
    // The longest ("Unknown error -2147483648") fits: nothing is cut off.
    let _ = write!(text, "Unknown error {errnum}");
    text
}

/// glibc's message for `errnum`, or "Unknown error N" (for `%m` and
/// `perror`).
pub(crate) fn message_or_unknown(errnum: CInt) -> FixedText<64> {
    let mut text = FixedText::new();
    // The longest message (49 bytes) fits: nothing is cut off.
    let _ = match message(errnum) {
        Some(message) => text.write_str(message),
        None => write!(text, "Unknown error {errnum}"),
    };
    text
}

/// The XSI `strerror_r(3)` (what `std` calls): 0, `ERANGE` if truncated, or
/// `EINVAL` (with "Unknown error N" written) for an unknown error.
///
/// # Safety
/// `buf` must be valid for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __xpg_strerror_r(errnum: CInt, buf: *mut c_char, len: usize) -> CInt {
    if len == 0 {
        return code::ERANGE;
    }
    let fallback;
    let text = match message(errnum) {
        Some(text) => text.as_bytes(),
        None => {
            fallback = unknown(errnum);
            fallback.as_bytes()
        }
    };
    let n = text.len().min(len - 1);
    // SAFETY: per the caller, `n + 1 <= len` bytes fit.
    unsafe {
        core::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), n);
        buf.add(n).write(0);
    }
    if n < text.len() {
        code::ERANGE
    } else if message(errnum).is_none() {
        code::EINVAL
    } else {
        0
    }
}
