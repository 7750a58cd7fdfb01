//! The checks `-D_FORTIFY_SOURCE` compiles in: `__*_chk` forms of the
//! string functions, which fail through `__chk_fail` when the object the
//! compiler knows the size of would overflow, and `__stack_chk_fail`, which
//! `-fstack-protector` calls on a smashed canary. Both end the program as
//! glibc does: a message on standard error, then `abort` (Kiln's crash
//! report).

use core::ffi::{c_char, c_int, c_void};

use super::bytes;
use super::copy::{explicit_bzero, mempcpy, stpcpy, stpncpy, strcat, strcpy, strncat, strncpy};
use kiln_libos::mem::{memcpy, memmove, memset};

/// Writes glibc's "*** `what` ***: terminated" line and aborts.
fn fail(what: &str) -> ! {
    let mut line = kiln_libos::fixed_text::FixedText::<80>::new();
    let _ = core::fmt::Write::write_fmt(&mut line, format_args!("*** {what} ***: terminated\n"));
    crate::stdlib::write_stderr(line.as_bytes());
    crate::stdlib::abort()
}

/// `__chk_fail`: a fortified call would have overflowed its buffer.
#[unsafe(no_mangle)]
pub extern "C" fn __chk_fail() -> ! {
    fail("buffer overflow detected")
}

/// `__stack_chk_fail`: a function's stack canary was overwritten.
#[unsafe(no_mangle)]
pub extern "C" fn __stack_chk_fail() -> ! {
    fail("stack smashing detected")
}

/// Fails unless `needed` bytes fit in an object of `size` bytes.
fn check(needed: usize, size: usize) {
    if needed > size {
        __chk_fail()
    }
}

/// Defines `__name_chk(dest, src, n, dest_size)` for a `mem*` function.
macro_rules! memory_checked {
    ($($checked:ident => $function:ident($src:ty)),* $(,)?) => {$(
        #[doc = concat!("`", stringify!($function), "` with `dest`'s size checked.")]
        ///
        /// # Safety
        #[doc = concat!("As `", stringify!($function), "`.")]
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $checked(dest: *mut c_void, src: $src, n: usize, size: usize) -> *mut c_void {
            check(n, size);
            // SAFETY: per the caller.
            unsafe { $function(dest.cast(), src as _, n).cast() }
        }
    )*};
}

memory_checked!(
    __memcpy_chk => memcpy(*const c_void),
    __memmove_chk => memmove(*const c_void),
    __mempcpy_chk => mempcpy(*const c_void),
    __memset_chk => memset(c_int),
);

/// `__explicit_bzero_chk`.
///
/// # Safety
/// As `explicit_bzero`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __explicit_bzero_chk(dest: *mut c_void, n: usize, size: usize) {
    check(n, size);
    // SAFETY: per the caller.
    unsafe { explicit_bzero(dest, n) }
}

/// Defines `__name_chk(dest, src, dest_size)` for a string copy, which
/// needs room for all of `src` and its NUL.
macro_rules! string_checked {
    ($($checked:ident => $function:ident),* $(,)?) => {$(
        #[doc = concat!("`", stringify!($function), "` with `dest`'s size checked.")]
        ///
        /// # Safety
        #[doc = concat!("As `", stringify!($function), "`.")]
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $checked(dest: *mut c_char, src: *const c_char, size: usize) -> *mut c_char {
            // SAFETY: per the caller.
            check(unsafe { bytes(src) }.len() + 1, size);
            // SAFETY: per the caller, and it fits.
            unsafe { $function(dest, src) }
        }
    )*};
}

string_checked!(__strcpy_chk => strcpy, __stpcpy_chk => stpcpy);

/// Defines `__name_chk(dest, src, n, dest_size)` for a bounded string
/// copy, which writes exactly `n` bytes.
macro_rules! bounded_checked {
    ($($checked:ident => $function:ident),* $(,)?) => {$(
        #[doc = concat!("`", stringify!($function), "` with `dest`'s size checked.")]
        ///
        /// # Safety
        #[doc = concat!("As `", stringify!($function), "`.")]
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $checked(
            dest: *mut c_char,
            src: *const c_char,
            n: usize,
            size: usize,
        ) -> *mut c_char {
            check(n, size);
            // SAFETY: per the caller, and it fits.
            unsafe { $function(dest, src, n) }
        }
    )*};
}

bounded_checked!(__strncpy_chk => strncpy, __stpncpy_chk => stpncpy);

/// `__strcat_chk`.
///
/// # Safety
/// As `strcat`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __strcat_chk(
    dest: *mut c_char,
    src: *const c_char,
    size: usize,
) -> *mut c_char {
    // SAFETY: per the caller.
    check(unsafe { bytes(dest).len() + bytes(src).len() } + 1, size);
    // SAFETY: per the caller, and it fits.
    unsafe { strcat(dest, src) }
}

/// `__strncat_chk`.
///
/// # Safety
/// As `strncat`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __strncat_chk(
    dest: *mut c_char,
    src: *const c_char,
    n: usize,
    size: usize,
) -> *mut c_char {
    // SAFETY: per the caller.
    let needed = unsafe { bytes(dest).len() + super::bytes_within(src, n).len() } + 1;
    check(needed, size);
    // SAFETY: per the caller, and it fits.
    unsafe { strncat(dest, src, n) }
}
