//! `asctime` and `ctime`: the fixed `"Sun Sep 16 01:03:52 1973\n"` form.

use core::ffi::c_char;
use core::fmt::Write;

use kiln_libos::fixed_text::FixedText;

use super::calendar::{Tm, localtime, localtime_r};
use super::names::{self, DAYS, MONTHS};
use crate::errno::{self, code};
use crate::shared_buffer::SharedBuffer;

/// The buffer `asctime_r`'s caller provides (POSIX: at least 26 bytes).
const CALLER_BUFFER: usize = 26;

/// glibc's own `asctime` buffer: room for any `int` fields.
const OWN_BUFFER: usize = 114;

static TEXT_BUFFER: SharedBuffer<[u8; OWN_BUFFER]> = SharedBuffer::new([0; OWN_BUFFER]);

/// C's `%.2d`: at least two digits, the sign before them.
struct TwoDigits(i32);

impl core::fmt::Display for TwoDigits {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        write!(f, "{sign}{:02}", self.0.unsigned_abs())
    }
}

/// Formats `tm` into `out` (NUL-terminated) if it fits in `size` bytes;
/// else `EOVERFLOW`, as glibc.
///
/// # Safety
/// `tm` must be valid for a read and `out` for `size` bytes of writes.
unsafe fn format(tm: *const Tm, out: *mut c_char, size: usize) -> *mut c_char {
    // SAFETY: per the caller.
    let tm = unsafe { &*tm };
    let name =
        |table: &[&'static str], i: i32| names::get(table, i).map_or("???", names::abbreviated);
    let mut text = FixedText::<OWN_BUFFER>::new();
    let written = writeln!(
        text,
        "{} {}{:3} {}:{}:{} {}",
        name(&DAYS, tm.wday),
        name(&MONTHS, tm.mon),
        tm.mday,
        TwoDigits(tm.hour),
        TwoDigits(tm.min),
        TwoDigits(tm.sec),
        i64::from(tm.year) + 1900,
    );
    let bytes = text.as_bytes();
    if written.is_err() || tm.year > i32::MAX - 1900 || bytes.len() >= size {
        errno::set(code::EOVERFLOW);
        return core::ptr::null_mut();
    }
    // SAFETY: per the caller, `out` holds `size` bytes, more than written.
    let target = unsafe { crate::c_slice_mut(out.cast::<u8>(), bytes.len() + 1) };
    target[..bytes.len()].copy_from_slice(bytes);
    target[bytes.len()] = 0;
    out
}

/// `asctime_r(3)`.
///
/// # Safety
/// `tm` must be valid for a read and `out` for 26 bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn asctime_r(tm: *const Tm, out: *mut c_char) -> *mut c_char {
    // SAFETY: per the caller.
    unsafe { format(tm, out, CALLER_BUFFER) }
}

/// `asctime(3)`.
///
/// # Safety
/// `tm` must be valid for a read.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn asctime(tm: *const Tm) -> *mut c_char {
    // SAFETY: per the caller; the shared buffer holds `OWN_BUFFER` bytes.
    unsafe { format(tm, TEXT_BUFFER.get().cast(), OWN_BUFFER) }
}

/// `ctime_r(3)`.
///
/// # Safety
/// `t` must be valid for a read and `out` for 26 bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ctime_r(t: *const i64, out: *mut c_char) -> *mut c_char {
    let mut tm = core::mem::MaybeUninit::<Tm>::uninit();
    // SAFETY: per the caller; `tm` is valid for a write.
    if unsafe { localtime_r(t, tm.as_mut_ptr()) }.is_null() {
        return core::ptr::null_mut();
    }
    // SAFETY: `localtime_r` filled `tm`; `out` per the caller.
    unsafe { asctime_r(tm.as_ptr(), out) }
}

/// `ctime(3)`.
///
/// # Safety
/// `t` must be valid for a read.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ctime(t: *const i64) -> *mut c_char {
    // SAFETY: per the caller.
    let tm = unsafe { localtime(t) };
    if tm.is_null() {
        return core::ptr::null_mut();
    }
    // SAFETY: `localtime` returned its filled buffer.
    unsafe { asctime(tm) }
}
