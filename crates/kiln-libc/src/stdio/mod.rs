//! `stdio.h`: `FILE` streams for C code (the `cc`-built parts of crates),
//! the printf and scanf families, and `rename`/`renameat`/`renameat2`.
//!
//! - [`stream`]: the `FILE` object, its buffering, `stdin`/`stdout`/`stderr`;
//! - [`file`]: opening, closing, positioning, buffering modes, `remove`;
//! - [`io`]: bytes, lines and blocks;
//! - [`printf`] and [`float`]: the formatter, [`arguments`] its argument
//!   sources (in order, or by position); [`print`]: its entry points;
//! - [`scanf`]: the scanner and its entry points;
//! - [`unlocked`]: glibc's `_unlocked` names for the same calls;
//! - [`va_list`]: C variadic arguments (trampolines and `va_arg`).

use core::ffi::{c_char, c_uint};

use kiln_libos::fs::{self, Existing, flags::AT_FDCWD};

use crate::errno;
use crate::{CInt, c_path};

pub mod arguments;
pub mod file;
pub mod float;
pub mod io;
pub mod print;
pub mod printf;
pub mod scanf;
pub mod stream;
pub mod unlocked;
pub mod va_list;

/// `renameat(2)`.
///
/// # Safety
/// `old` and `new` must be null or NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn renameat(
    olddirfd: CInt,
    old: *const c_char,
    newdirfd: CInt,
    new: *const c_char,
) -> CInt {
    traced!("renameat"(olddirfd, old, newdirfd, new) {
    // SAFETY: per the caller.
    unsafe { rename_paths(olddirfd, old, newdirfd, new, Existing::Replace) }
    })
}

/// `renameat2(2)`'s `RENAME_NOREPLACE`.
const RENAME_NOREPLACE: c_uint = 1;

/// `renameat2(2)`: `renameat` with flags. `RENAME_NOREPLACE` is done; any
/// other flag (`RENAME_EXCHANGE`, `RENAME_WHITEOUT`) is `EINVAL`, as on a
/// Linux filesystem that lacks it.
///
/// # Safety
/// As [`renameat`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn renameat2(
    olddirfd: CInt,
    old: *const c_char,
    newdirfd: CInt,
    new: *const c_char,
    flags: c_uint,
) -> CInt {
    traced!("renameat2"(olddirfd, old, newdirfd, new, flags) {
    let existing = match flags {
        0 => Existing::Replace,
        RENAME_NOREPLACE => Existing::Keep,
        _ => return errno::fail(kiln_abi::errno::EINVAL),
    };
    // SAFETY: per the caller.
    unsafe { rename_paths(olddirfd, old, newdirfd, new, existing) }
    })
}

/// [`renameat`] and [`renameat2`] once their flags are read.
///
/// # Safety
/// As [`renameat`].
unsafe fn rename_paths(
    olddirfd: CInt,
    old: *const c_char,
    newdirfd: CInt,
    new: *const c_char,
    existing: Existing,
) -> CInt {
    // SAFETY: per the caller.
    let result = unsafe { c_path(old).and_then(|o| c_path(new).map(|n| (o, n))) }
        .and_then(|(old, new)| fs::rename(olddirfd, old, newdirfd, new, existing));
    errno::check(result.map(|()| 0)) as CInt
}

/// `rename(2)`.
///
/// # Safety
/// As [`renameat`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rename(old: *const c_char, new: *const c_char) -> CInt {
    // SAFETY: per the caller.
    unsafe { renameat(AT_FDCWD, old, AT_FDCWD, new) }
}
