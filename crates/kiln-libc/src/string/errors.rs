//! `strerror`, `strerror_r` (GNU and XSI) and `strsignal`: glibc's
//! messages for errors and signals.

use core::ffi::c_char;
use core::fmt::Write;

use kiln_libos::fixed_text::FixedText;

use crate::CInt;
use crate::errno::code;
use crate::shared_buffer::SharedBuffer;

/// glibc's message for `errnum`, if it has one; a NUL follows it in memory.
fn message(errnum: CInt) -> Option<&'static [u8]> {
    let message = crate::errno::entry(
        super::messages::MESSAGES.as_bytes(),
        usize::try_from(errnum).ok()?,
    )?;
    (!message.is_empty()).then_some(message)
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
        Some(message) => text.write_str(core::str::from_utf8(message).unwrap_or_default()),
        None => write!(text, "Unknown error {errnum}"),
    };
    text
}

/// The XSI `strerror_r(3)` (what `std` calls), as glibc's: what fits of
/// the message, NUL-terminated; 0, or `ERANGE` if it did not all fit. An
/// unknown error writes what fits of "Unknown error N" and is `EINVAL`,
/// however much room there was.
///
/// # Safety
/// `buf` must be valid for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __xpg_strerror_r(errnum: CInt, buf: *mut c_char, len: usize) -> CInt {
    let Some(text) = message(errnum) else {
        // SAFETY: per the caller.
        unsafe { copy_cut(unknown(errnum).as_bytes(), buf, len) };
        return code::EINVAL;
    };
    // SAFETY: per the caller.
    unsafe { copy_cut(text, buf, len) };
    if len <= text.len() { code::ERANGE } else { 0 }
}

/// Copies what fits of `text` into the `len` bytes at `buf`, with a NUL
/// (nothing when `len` is 0).
///
/// # Safety
/// `buf` must be valid for `len` bytes.
unsafe fn copy_cut(text: &[u8], buf: *mut c_char, len: usize) {
    let Some(room) = len.checked_sub(1) else {
        return;
    };
    let n = text.len().min(room);
    // SAFETY: per the caller, `n + 1 <= len` bytes fit.
    unsafe {
        core::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), n);
        buf.add(n).write(0);
    }
}

/// The buffer for the messages composed at run time (`strerror`'s "Unknown
/// error N", `strsignal`'s).
static COMPOSED: SharedBuffer<[u8; COMPOSED_BYTES]> = SharedBuffer::new([0; COMPOSED_BYTES]);
const COMPOSED_BYTES: usize = 40;

/// `text` with a NUL in [`COMPOSED`]: the pointer C gets.
fn composed(text: &[u8]) -> *mut c_char {
    let buffer = COMPOSED.get().cast();
    // SAFETY: the buffer holds `COMPOSED_BYTES` bytes.
    unsafe { copy_cut(text, buffer, COMPOSED_BYTES) };
    buffer
}

/// `strerror(3)`: the static message, or "Unknown error N" composed in
/// the shared buffer.
#[unsafe(no_mangle)]
pub extern "C" fn strerror(errnum: CInt) -> *mut c_char {
    match message(errnum) {
        // The NUL after the message ends the C string.
        Some(text) => text.as_ptr().cast::<c_char>().cast_mut(),
        None => composed(unknown(errnum).as_bytes()),
    }
}

/// The GNU `strerror_r(3)` (what `<string.h>` declares with `_GNU_SOURCE`):
/// the static message, or "Unknown error N" written to `buf` (cut to fit)
/// and `buf` returned.
///
/// # Safety
/// `buf` must be valid for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn strerror_r(errnum: CInt, buf: *mut c_char, len: usize) -> *mut c_char {
    if let Some(text) = message(errnum) {
        return text.as_ptr().cast::<c_char>().cast_mut();
    }
    // SAFETY: per the caller.
    unsafe { copy_cut(unknown(errnum).as_bytes(), buf, len) };
    buf
}

/// glibc's signal descriptions, by number.
const SIGNALS: [&str; 32] = [
    "Unknown signal 0",
    "Hangup",
    "Interrupt",
    "Quit",
    "Illegal instruction",
    "Trace/breakpoint trap",
    "Aborted",
    "Bus error",
    "Floating point exception",
    "Killed",
    "User defined signal 1",
    "Segmentation fault",
    "User defined signal 2",
    "Broken pipe",
    "Alarm clock",
    "Terminated",
    "Stack fault",
    "Child exited",
    "Continued",
    "Stopped (signal)",
    "Stopped",
    "Stopped (tty input)",
    "Stopped (tty output)",
    "Urgent I/O condition",
    "CPU time limit exceeded",
    "File size limit exceeded",
    "Virtual timer expired",
    "Profiling timer expired",
    "Window changed",
    "I/O possible",
    "Power failure",
    "Bad system call",
];

/// `strsignal(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn strsignal(signal: CInt) -> *mut c_char {
    let mut text = FixedText::<40>::new();
    let (min, max) = (
        crate::signal::__libc_current_sigrtmin(),
        crate::signal::__libc_current_sigrtmax(),
    );
    let _ = match usize::try_from(signal).ok().and_then(|i| SIGNALS.get(i)) {
        Some(name) if signal != 0 => text.write_str(name),
        _ if (min..=max).contains(&signal) => write!(text, "Real-time signal {}", signal - min),
        _ => write!(text, "Unknown signal {signal}"),
    };
    composed(text.as_bytes())
}
