//! Numbers from text: `strtol` and its family (with the `__isoc23_`
//! names glibc 2.38's headers emit, which also accept `0b`), `strtod`,
//! `strtof`, `atoi`, `atol`, `atoll`, `atof`.
//!
//! The integer parser is written here: C's syntax (leading space, sign,
//! base prefixes, where parsing stops, overflow clamping) has no Rust
//! counterpart. Decimal floating-point text is validated here and
//! converted by `core`'s correctly rounded `from_str`; hexadecimal text
//! by [`hex_float`]. `strtold` is left out: Rust has no `long double`.

use core::ffi::{c_char, c_double, c_float, c_int, c_long, c_longlong, c_ulong, c_ulonglong};

use super::hex_float::{self, HexFloat};
use crate::ctype::is_space;
use crate::errno::{self, code};

/// What an integer parse found: the magnitude (saturated at `u64::MAX`,
/// with `overflowed` set), its sign, and how many bytes it used (0 if no
/// number was found).
struct Parsed {
    magnitude: u64,
    negative: bool,
    overflowed: bool,
    used: usize,
}

fn digit_value(byte: u8) -> Option<u32> {
    (byte as char).to_digit(36)
}

/// Parses an integer as `strtoul` does, from the start of `text`. `None`
/// for an invalid base. `binary_prefix` allows `0b` (C23).
fn parse_integer(text: &[u8], base: c_int, binary_prefix: bool) -> Option<Parsed> {
    if base < 0 || base == 1 || base > 36 {
        return None;
    }
    let mut at = text.iter().take_while(|&&b| is_space(b)).count();
    let mut negative = false;
    if let Some(&sign @ (b'+' | b'-')) = text.get(at) {
        negative = sign == b'-';
        at += 1;
    }
    let mut base = base as u32;
    let has_digit_after_prefix = |at: usize, radix: u32| {
        text.get(at + 2)
            .and_then(|&b| digit_value(b))
            .is_some_and(|d| d < radix)
    };
    let prefix = text.get(at..at + 2).map(|p| p.to_ascii_lowercase());
    match prefix.as_deref() {
        Some(b"0x") if (base == 0 || base == 16) && has_digit_after_prefix(at, 16) => {
            base = 16;
            at += 2;
        }
        Some(b"0b")
            if binary_prefix && (base == 0 || base == 2) && has_digit_after_prefix(at, 2) =>
        {
            base = 2;
            at += 2;
        }
        _ if base == 0 => base = if text.get(at) == Some(&b'0') { 8 } else { 10 },
        _ => {}
    }
    let start = at;
    let (mut magnitude, mut overflowed) = (0u64, false);
    while let Some(d) = text
        .get(at)
        .and_then(|&b| digit_value(b))
        .filter(|&d| d < base)
    {
        match magnitude
            .checked_mul(base.into())
            .and_then(|m| m.checked_add(d.into()))
        {
            Some(m) => magnitude = m,
            None => overflowed = true,
        }
        at += 1;
    }
    if overflowed {
        magnitude = u64::MAX;
    }
    let used = if at == start { 0 } else { at };
    Some(Parsed {
        magnitude,
        negative,
        overflowed,
        used,
    })
}

/// The NUL-terminated string at `text`, as bytes.
///
/// # Safety
/// `text` must be a NUL-terminated string.
unsafe fn c_text<'a>(text: *const c_char) -> &'a [u8] {
    // SAFETY: per the caller.
    unsafe { core::ffi::CStr::from_ptr(text) }.to_bytes()
}

/// Stores where parsing stopped in `*end`, if `end` is not null.
///
/// # Safety
/// `end` must be null or valid for writes; `text` points into a string
/// at least `used` bytes long.
unsafe fn set_end(end: *mut *mut c_char, text: *const c_char, used: usize) {
    if !end.is_null() {
        // SAFETY: per the caller.
        unsafe { end.write(text.add(used).cast_mut()) };
    }
}

/// Parses the integer at the start of C string `text` in `base` and
/// stores where it ended in `*end`; `None` (with `EINVAL`) for a bad base
/// or no digits, the case both `strtol` and `strtoul` answer with 0.
///
/// # Safety
/// As `strtol(3)`.
unsafe fn parse_c_integer(
    text: *const c_char,
    end: *mut *mut c_char,
    base: c_int,
    c23: bool,
) -> Option<Parsed> {
    // SAFETY: per the caller.
    let bytes = unsafe { c_text(text) };
    let Some(parsed) = parse_integer(bytes, base, c23) else {
        errno::set(code::EINVAL);
        return None;
    };
    // SAFETY: `used` is within the string.
    unsafe { set_end(end, text, parsed.used) };
    Some(parsed)
}

/// `strtol` for `long` (64 bits, as `long long` and `intmax_t`).
///
/// # Safety
/// As `strtol(3)`.
unsafe fn to_signed(text: *const c_char, end: *mut *mut c_char, base: c_int, c23: bool) -> i64 {
    // SAFETY: per the caller.
    let Some(parsed) = (unsafe { parse_c_integer(text, end, base, c23) }) else {
        return 0;
    };
    let limit = if parsed.negative {
        i64::MIN.unsigned_abs()
    } else {
        i64::MAX as u64
    };
    if parsed.overflowed || parsed.magnitude > limit {
        errno::set(code::ERANGE);
        return if parsed.negative { i64::MIN } else { i64::MAX };
    }
    if parsed.negative {
        0i64.wrapping_sub_unsigned(parsed.magnitude)
    } else {
        parsed.magnitude as i64
    }
}

/// `strtoul` for `unsigned long` (64 bits): a minus sign negates the value
/// modulo 2^64, as C says.
///
/// # Safety
/// As `strtoul(3)`.
unsafe fn to_unsigned(text: *const c_char, end: *mut *mut c_char, base: c_int, c23: bool) -> u64 {
    // SAFETY: per the caller.
    let Some(parsed) = (unsafe { parse_c_integer(text, end, base, c23) }) else {
        return 0;
    };
    if parsed.overflowed {
        errno::set(code::ERANGE);
        return u64::MAX;
    }
    if parsed.negative {
        parsed.magnitude.wrapping_neg()
    } else {
        parsed.magnitude
    }
}

/// The payload of `nan("tag")`: the tag as a whole unsigned number, in
/// any base `strtoull` accepts with base 0.
pub(crate) fn parse_unsigned_tag(tag: &[u8]) -> Option<u64> {
    let parsed = parse_integer(tag, 0, false)?;
    (parsed.used == tag.len() && parsed.used > 0 && !parsed.negative).then_some(parsed.magnitude)
}

/// Defines C functions as one of the parsers, with or without `0b`.
macro_rules! integer_parsers {
    ($parser:ident -> $ret:ty, c23 = $c23:literal; $($name:ident),*) => {$(
        #[doc = concat!("`", stringify!($name), "(3)`.")]
        ///
        /// # Safety
        /// `text` must be a NUL-terminated string; `end` null or valid for writes.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(text: *const c_char, end: *mut *mut c_char, base: c_int) -> $ret {
            // SAFETY: per the caller.
            unsafe { $parser(text, end, base, $c23) as $ret }
        }
    )*};
}

integer_parsers!(to_signed -> c_long, c23 = false; strtol, strtoimax);
integer_parsers!(to_signed -> c_longlong, c23 = false; strtoll, strtoq);
integer_parsers!(to_unsigned -> c_ulong, c23 = false; strtoul, strtoumax);
integer_parsers!(to_unsigned -> c_ulonglong, c23 = false; strtoull, strtouq);
integer_parsers!(to_signed -> c_long, c23 = true; __isoc23_strtol, __isoc23_strtoimax);
integer_parsers!(to_signed -> c_longlong, c23 = true; __isoc23_strtoll);
integer_parsers!(to_unsigned -> c_ulong, c23 = true; __isoc23_strtoul, __isoc23_strtoumax);
integer_parsers!(to_unsigned -> c_ulonglong, c23 = true; __isoc23_strtoull);

/// `atoi(3)`: `strtol` in base 10, truncated to `int` as glibc does.
///
/// # Safety
/// `text` must be a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn atoi(text: *const c_char) -> c_int {
    // SAFETY: per the caller.
    unsafe { strtol(text, core::ptr::null_mut(), 10) as c_int }
}

/// `atol(3)`.
///
/// # Safety
/// `text` must be a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn atol(text: *const c_char) -> c_long {
    // SAFETY: per the caller.
    unsafe { strtol(text, core::ptr::null_mut(), 10) }
}

/// `atoll(3)`.
///
/// # Safety
/// `text` must be a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn atoll(text: *const c_char) -> c_longlong {
    // SAFETY: per the caller.
    unsafe { strtoll(text, core::ptr::null_mut(), 10) }
}

/// The floating-point number at the start of `text` (after spaces and a
/// sign), as `strtod` reads it: its length, and what kind it is.
enum FloatText {
    /// Decimal digits, point, exponent: converted by `core`.
    Decimal(usize),
    /// `inf` or `infinity`.
    Infinity(usize),
    /// `nan` or `nan(chars)`, with the payload the chars name.
    Nan(usize, u64),
    /// `0x` hex digits, point, binary exponent.
    Hex(HexFloat),
}

/// How many ASCII digits (of `radix`) start `text`.
fn digits(text: &[u8], radix: u32) -> usize {
    text.iter()
        .take_while(|&&b| (b as char).is_digit(radix))
        .count()
}

fn scan_float(text: &[u8]) -> Option<FloatText> {
    let lower = |n: usize| text.get(..n).map(|p| p.to_ascii_lowercase());
    if lower(8).as_deref() == Some(b"infinity") {
        return Some(FloatText::Infinity(8));
    }
    if lower(3).as_deref() == Some(b"inf") {
        return Some(FloatText::Infinity(3));
    }
    if lower(3).as_deref() == Some(b"nan") {
        let rest = &text[3..];
        if rest.first() == Some(&b'(') {
            let inner = rest[1..]
                .iter()
                .take_while(|&&b| b.is_ascii_alphanumeric() || b == b'_')
                .count();
            if rest.get(1 + inner) == Some(&b')') {
                let payload = parse_unsigned_tag(&rest[1..1 + inner]).unwrap_or(0);
                return Some(FloatText::Nan(3 + inner + 2, payload));
            }
        }
        return Some(FloatText::Nan(3, 0));
    }
    if let Some(hex) = hex_float::scan(text) {
        return Some(FloatText::Hex(hex));
    }
    let whole = digits(text, 10);
    let mut at = whole;
    let mut fraction = 0;
    if text.get(at) == Some(&b'.') {
        fraction = digits(&text[at + 1..], 10);
        at += 1 + fraction;
    }
    if whole + fraction == 0 {
        return None;
    }
    if let Some(b'e' | b'E') = text.get(at) {
        let sign = usize::from(matches!(text.get(at + 1), Some(b'+' | b'-')));
        let exponent = digits(&text[(at + 1 + sign).min(text.len())..], 10);
        if exponent > 0 {
            at += 1 + sign + exponent;
        }
    }
    Some(FloatText::Decimal(at))
}

/// The `f32`/`f64` operations `strtod` and `strtof` share.
trait Parse: Copy + core::str::FromStr + PartialEq + core::ops::Neg<Output = Self> {
    const INFINITY: Self;
    const ZERO: Self;
    /// Significant bits, and the exponents of normal values.
    const FORMAT: (i64, i64, i64);
    fn quiet_nan(payload: u64) -> Self;
    fn is_tiny(self) -> bool;
    /// `significand * 2^scale`, which the caller knows is exact.
    fn scaled(significand: u64, scale: i32) -> Self;
}

impl Parse for f64 {
    const INFINITY: Self = f64::INFINITY;
    const ZERO: Self = 0.0;
    const FORMAT: (i64, i64, i64) = (53, -1022, 1023);
    fn scaled(significand: u64, scale: i32) -> Self {
        libm::scalbn(significand as f64, scale)
    }
    fn quiet_nan(payload: u64) -> Self {
        f64::from_bits(f64::NAN.to_bits() | (payload & ((1 << 51) - 1)))
    }
    fn is_tiny(self) -> bool {
        self.is_subnormal()
    }
}

impl Parse for f32 {
    const INFINITY: Self = f32::INFINITY;
    const ZERO: Self = 0.0;
    const FORMAT: (i64, i64, i64) = (24, -126, 127);
    fn scaled(significand: u64, scale: i32) -> Self {
        libm::scalbnf(significand as f32, scale)
    }
    fn quiet_nan(payload: u64) -> Self {
        f32::from_bits(f32::NAN.to_bits() | (payload as u32 & ((1 << 22) - 1)))
    }
    fn is_tiny(self) -> bool {
        self.is_subnormal()
    }
}

/// `strtod` for `F`: the value and how many bytes it used (0 when there
/// is no number). Out of range sets `ERANGE`, as glibc: infinity on
/// overflow; zero or a subnormal on underflow.
fn parse_float<F: Parse>(text: &[u8]) -> (F, usize) {
    let mut at = text.iter().take_while(|&&b| is_space(b)).count();
    let negative = text.get(at) == Some(&b'-');
    if matches!(text.get(at), Some(b'+' | b'-')) {
        at += 1;
    }
    let (value, len) = match scan_float(&text[at..]) {
        None => return (F::ZERO, 0),
        Some(FloatText::Infinity(len)) => (F::INFINITY, len),
        Some(FloatText::Nan(len, payload)) => (F::quiet_nan(payload), len),
        Some(FloatText::Hex(hex)) => {
            let (precision, min_exponent, max_exponent) = F::FORMAT;
            let value = match hex.round(precision, min_exponent, max_exponent) {
                None => {
                    errno::set(code::ERANGE);
                    F::INFINITY
                }
                Some(rounded) => {
                    let value = F::scaled(rounded.significand, rounded.scale);
                    if rounded.inexact && (value.is_tiny() || value == F::ZERO) {
                        errno::set(code::ERANGE);
                    }
                    value
                }
            };
            (value, hex.len)
        }
        Some(FloatText::Decimal(len)) => {
            let number = &text[at..at + len];
            // The scan admitted only ASCII digits, '.', 'e' and a sign.
            let value: F = core::str::from_utf8(number)
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(F::ZERO);
            let nonzero_digits = number
                .iter()
                .take_while(|&&b| b != b'e' && b != b'E')
                .any(|&b| matches!(b, b'1'..=b'9'));
            let underflowed = value.is_tiny() || (value == F::ZERO && nonzero_digits);
            if value == F::INFINITY || underflowed {
                errno::set(code::ERANGE);
            }
            (value, len)
        }
    };
    (if negative { -value } else { value }, at + len)
}

/// `strtod(3)`: decimal, hexadecimal, `inf` and `nan` forms.
///
/// # Safety
/// `text` must be a NUL-terminated string; `end` null or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn strtod(text: *const c_char, end: *mut *mut c_char) -> c_double {
    // SAFETY: per the caller.
    let (value, used) = parse_float::<f64>(unsafe { c_text(text) });
    // SAFETY: `used` is within the string.
    unsafe { set_end(end, text, used) };
    value
}

/// `strtof(3)`: converted straight to `float`, so rounded once.
///
/// # Safety
/// As [`strtod`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn strtof(text: *const c_char, end: *mut *mut c_char) -> c_float {
    // SAFETY: per the caller.
    let (value, used) = parse_float::<f32>(unsafe { c_text(text) });
    // SAFETY: `used` is within the string.
    unsafe { set_end(end, text, used) };
    value
}

/// `atof(3)`.
///
/// # Safety
/// `text` must be a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn atof(text: *const c_char) -> c_double {
    // SAFETY: per the caller.
    unsafe { strtod(text, core::ptr::null_mut()) }
}
