//! `ctype.h` in the C locale, with glibc's ABI: the macros of glibc's
//! headers index the tables `__ctype_b_loc`, `__ctype_tolower_loc` and
//! `__ctype_toupper_loc` point at (valid from -128, so a signed `char`
//! and `EOF` index them), and the functions answer from the same table.

use core::ffi::c_int;

/// glibc's class bits (`_ISupper`... in `<ctype.h>`, little-endian order).
mod class {
    pub const UPPER: u16 = 0x100;
    pub const LOWER: u16 = 0x200;
    pub const ALPHA: u16 = 0x400;
    pub const DIGIT: u16 = 0x800;
    pub const XDIGIT: u16 = 0x1000;
    pub const SPACE: u16 = 0x2000;
    pub const PRINT: u16 = 0x4000;
    pub const GRAPH: u16 = 0x8000;
    pub const BLANK: u16 = 0x1;
    pub const CNTRL: u16 = 0x2;
    pub const PUNCT: u16 = 0x4;
    pub const ALNUM: u16 = 0x8;
}

/// Entries from -128 to 255.
const ENTRIES: usize = 384;
/// The entry of character 0.
const ORIGIN: usize = 128;

/// The classes of one byte in the C locale (only ASCII has any).
const fn classes(c: u8) -> u16 {
    let mut bits = 0;
    if c.is_ascii_uppercase() {
        bits |= class::UPPER | class::ALPHA | class::ALNUM;
    }
    if c.is_ascii_lowercase() {
        bits |= class::LOWER | class::ALPHA | class::ALNUM;
    }
    if c.is_ascii_digit() {
        bits |= class::DIGIT | class::ALNUM;
    }
    if c.is_ascii_hexdigit() {
        bits |= class::XDIGIT;
    }
    if matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        bits |= class::SPACE;
    }
    if c.is_ascii_graphic() {
        bits |= class::GRAPH | class::PRINT;
    }
    if c == b' ' {
        bits |= class::PRINT;
    }
    if matches!(c, b' ' | b'\t') {
        bits |= class::BLANK;
    }
    if c.is_ascii_control() {
        bits |= class::CNTRL;
    }
    if c.is_ascii_punctuation() {
        bits |= class::PUNCT;
    }
    bits
}

const fn class_table() -> [u16; ENTRIES] {
    let mut table = [0; ENTRIES];
    let mut c = 0;
    while c < 256 {
        table[ORIGIN + c] = classes(c as u8);
        c += 1;
    }
    table
}

/// A case table: the ASCII letters mapped, every other byte itself. A
/// negative index is a signed `char`, which maps to its unsigned value
/// (as in glibc's tables), except -1, `EOF`, which stays -1.
const fn case_table(upper: bool) -> [i32; ENTRIES] {
    let mut table = [0; ENTRIES];
    let mut i = 0;
    while i < ENTRIES {
        let c = i as i32 - ORIGIN as i32;
        table[i] = if c >= 0 && c < 128 {
            let byte = c as u8;
            (if upper {
                byte.to_ascii_uppercase()
            } else {
                byte.to_ascii_lowercase()
            }) as i32
        } else if c < -1 {
            c + 256
        } else {
            c
        };
        i += 1;
    }
    table
}

static CLASSES: [u16; ENTRIES] = class_table();
static LOWER: [i32; ENTRIES] = case_table(false);
static UPPER: [i32; ENTRIES] = case_table(true);

/// A pointer into one of the tables, as the `_loc` functions hand out.
#[repr(transparent)]
pub struct TablePointer<T>(*const T);

// SAFETY: the pointers point into immutable statics.
unsafe impl<T> Sync for TablePointer<T> {}

static CLASSES_AT_ZERO: TablePointer<u16> = TablePointer(CLASSES.as_ptr().wrapping_add(ORIGIN));
static LOWER_AT_ZERO: TablePointer<i32> = TablePointer(LOWER.as_ptr().wrapping_add(ORIGIN));
static UPPER_AT_ZERO: TablePointer<i32> = TablePointer(UPPER.as_ptr().wrapping_add(ORIGIN));

/// `__ctype_b_loc`: where the class table's pointer lives.
#[unsafe(no_mangle)]
pub extern "C" fn __ctype_b_loc() -> *const TablePointer<u16> {
    &CLASSES_AT_ZERO
}

/// `__ctype_tolower_loc`.
#[unsafe(no_mangle)]
pub extern "C" fn __ctype_tolower_loc() -> *const TablePointer<i32> {
    &LOWER_AT_ZERO
}

/// `__ctype_toupper_loc`.
#[unsafe(no_mangle)]
pub extern "C" fn __ctype_toupper_loc() -> *const TablePointer<i32> {
    &UPPER_AT_ZERO
}

/// The table index of `c`, if the tables cover it.
fn index(c: c_int) -> Option<usize> {
    usize::try_from(c + ORIGIN as c_int)
        .ok()
        .filter(|&i| i < ENTRIES)
}

/// `c`'s class bits masked by `mask`, as glibc's functions answer (the
/// bit itself, not 1).
fn is(c: c_int, mask: u16) -> c_int {
    index(c).map_or(0, |i| c_int::from(CLASSES[i] & mask))
}

/// Whether `byte` is white space in the C locale, for the C library's own
/// parsers.
pub(crate) fn is_space(byte: u8) -> bool {
    CLASSES[ORIGIN + usize::from(byte)] & class::SPACE != 0
}

macro_rules! classifiers {
    ($($name:ident = $mask:expr),* $(,)?) => {$(
        #[doc = concat!("`", stringify!($name), "(3)` in the C locale.")]
        #[unsafe(no_mangle)]
        pub extern "C" fn $name(c: c_int) -> c_int {
            is(c, $mask)
        }
    )*};
}

classifiers!(
    isalpha = class::ALPHA,
    isdigit = class::DIGIT,
    isalnum = class::ALNUM,
    isspace = class::SPACE,
    isupper = class::UPPER,
    islower = class::LOWER,
    isxdigit = class::XDIGIT,
    ispunct = class::PUNCT,
    isprint = class::PRINT,
    isgraph = class::GRAPH,
    iscntrl = class::CNTRL,
    isblank = class::BLANK,
);

/// `isascii(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn isascii(c: c_int) -> c_int {
    c_int::from(c & !0x7f == 0)
}

/// `toascii(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn toascii(c: c_int) -> c_int {
    c & 0x7f
}

/// `tolower(3)`: characters outside the table are returned unchanged.
#[unsafe(no_mangle)]
pub extern "C" fn tolower(c: c_int) -> c_int {
    index(c).map_or(c, |i| LOWER[i])
}

/// `toupper(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn toupper(c: c_int) -> c_int {
    index(c).map_or(c, |i| UPPER[i])
}
