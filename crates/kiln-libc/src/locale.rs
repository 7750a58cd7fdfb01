//! `locale.h` and `langinfo.h`: Kiln has the two locales glibc builds in,
//! "C" (also named "POSIX") and "C.UTF-8"; `setlocale` refuses the others,
//! as glibc does for a locale that is not installed. The two differ, for
//! what Kiln implements, only in `nl_langinfo(CODESET)`. One locale
//! serves every category.

use core::ffi::{c_char, c_int};
use core::sync::atomic::{AtomicBool, Ordering};

use crate::errno::{self, code};
use crate::string::bytes;

/// `LC_CTYPE` is 0, ..., `LC_ALL` 6, ..., `LC_IDENTIFICATION` 12.
const CATEGORIES: core::ops::RangeInclusive<c_int> = 0..=12;

/// Whether the program chose "C.UTF-8" (programs start in "C").
static UTF8: AtomicBool = AtomicBool::new(false);

/// The locale a name selects: `Some(utf8)`, or `None` if Kiln lacks it.
fn known(name: &[u8]) -> Option<bool> {
    match name {
        b"C" | b"POSIX" => Some(false),
        b"C.UTF-8" | b"C.utf8" => Some(true),
        _ => None,
    }
}

/// The name "" stands for: `LC_ALL`, then `LANG`, from the environment
/// (empty values skipped), else "C".
fn from_environment() -> &'static [u8] {
    [b"LC_ALL".as_slice(), b"LANG"]
        .into_iter()
        .filter_map(crate::stdlib::var)
        .find(|value| !value.is_empty())
        .unwrap_or(b"C")
}

/// `setlocale(3)`: the current locale's name for a query; else switches
/// to "C" or "C.UTF-8" (null, and no change, for any other locale), and
/// null with `EINVAL` for an unknown category.
///
/// # Safety
/// `locale` must be null or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn setlocale(category: c_int, locale: *const c_char) -> *const c_char {
    traced!("setlocale"(category, locale) {
    if !CATEGORIES.contains(&category) {
        return errno::fail_null::<c_char>(code::EINVAL).cast_const();
    }
    if !locale.is_null() {
        // SAFETY: per the caller.
        let name = match unsafe { bytes(locale) } {
            b"" => from_environment(),
            name => name,
        };
        match known(name) {
            Some(utf8) => UTF8.store(utf8, Ordering::Relaxed),
            None => return core::ptr::null(),
        }
    }
    if UTF8.load(Ordering::Relaxed) {
        c"C.UTF-8".as_ptr()
    } else {
        c"C".as_ptr()
    }
    })
}

/// `struct lconv` (glibc's layout): the strings, then the `char` fields.
#[repr(C)]
pub struct Conventions {
    strings: [*const c_char; 10],
    numbers: [c_char; 14],
}

// SAFETY: the strings are immutable statics.
unsafe impl Sync for Conventions {}

/// `CHAR_MAX`: "not available in this locale".
const UNAVAILABLE: c_char = 127;

static C_CONVENTIONS: Conventions = Conventions {
    strings: [
        c".".as_ptr(),
        c"".as_ptr(),
        c"".as_ptr(),
        c"".as_ptr(),
        c"".as_ptr(),
        c"".as_ptr(),
        c"".as_ptr(),
        c"".as_ptr(),
        c"".as_ptr(),
        c"".as_ptr(),
    ],
    numbers: [UNAVAILABLE; 14],
};

/// `localeconv(3)`: the C locale's: "." as the decimal point, nothing
/// else.
#[unsafe(no_mangle)]
pub extern "C" fn localeconv() -> *const Conventions {
    &C_CONVENTIONS
}

/// `nl_item` values (`LC_CTYPE` and `LC_NUMERIC` items, from glibc's
/// `langinfo.h`).
const CODESET: c_int = 14;
const RADIXCHAR: c_int = 0x10000;
const THOUSEP: c_int = 0x10001;

/// `nl_langinfo(3)`: the codeset ("ANSI_X3.4-1968", glibc's name for
/// ASCII, or "UTF-8"), decimal point and thousands separator; "" for
/// items Kiln does not know.
#[unsafe(no_mangle)]
pub extern "C" fn nl_langinfo(item: c_int) -> *const c_char {
    match item {
        CODESET if UTF8.load(Ordering::Relaxed) => c"UTF-8".as_ptr(),
        CODESET => c"ANSI_X3.4-1968".as_ptr(),
        RADIXCHAR => c".".as_ptr(),
        THOUSEP => c"".as_ptr(),
        _ => c"".as_ptr(),
    }
}

/// `__ctype_get_mb_cur_max`, behind C's `MB_CUR_MAX`: the longest
/// multibyte character, 1 byte in "C", 6 in "C.UTF-8" (glibc's bound).
#[unsafe(no_mangle)]
pub extern "C" fn __ctype_get_mb_cur_max() -> usize {
    if UTF8.load(Ordering::Relaxed) { 6 } else { 1 }
}
