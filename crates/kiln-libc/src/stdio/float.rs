//! printf's floating-point conversions: `%e %f %g %a` (and upper case).
//!
//! The decimal digits come from `core::fmt` (`{:.*e}` and `{:.*}`), which
//! rounds the exact binary value correctly with ties to even, as glibc
//! does in the default rounding mode; this module rewrites Rust's layout
//! into C's (`e+05`, `%g`'s choice of style and trailing-zero removal,
//! `#`). `%a` is done here from the bits. A `long double` is converted to
//! the nearest `double` for the decimal conversions (exact for every value
//! a `double` holds); `%La` prints its 64-bit mantissa as glibc does.

use core::fmt::Write;

use super::printf::{Out, Spec};
use super::va_list::extended_to_f64;

/// A floating-point argument.
pub enum Value {
    Double(f64),
    /// An x87 80-bit extended value, in the low 10 of 16 bytes.
    Extended([u8; 16]),
}

impl Value {
    fn as_f64(&self) -> f64 {
        match *self {
            Self::Double(value) => value,
            Self::Extended(bytes) => extended_to_f64(bytes),
        }
    }

    /// `%a`'s parts: the leading hex digit, the fraction, its number of hex
    /// digits, and the binary exponent.
    fn hex_parts(&self) -> (u64, u64, u32, i32) {
        match *self {
            Self::Double(value) => {
                let bits = value.to_bits();
                let exponent = ((bits >> 52) & 0x7ff) as i32;
                let fraction = bits & ((1 << 52) - 1);
                match (exponent, fraction) {
                    (0, 0) => (0, 0, 13, 0),
                    (0, _) => (0, fraction, 13, -1022),
                    _ => (1, fraction, 13, exponent - 1023),
                }
            }
            Self::Extended(bytes) => {
                let mantissa = u64::from_le_bytes([
                    bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                ]);
                let exponent = i32::from(u16::from_le_bytes([bytes[8], bytes[9]]) & 0x7fff);
                if mantissa == 0 {
                    return (0, 0, 15, 0);
                }
                // The leading digit is the mantissa's top four bits.
                (
                    mantissa >> 60,
                    mantissa & ((1 << 60) - 1),
                    15,
                    exponent.max(1) - 16383 - 3,
                )
            }
        }
    }
}

/// Performs a floating-point conversion.
pub fn convert(out: &mut Out, spec: &Spec, value: Value) {
    let upper = spec.conversion.is_ascii_uppercase();
    let number = value.as_f64();
    let negative = match value {
        Value::Double(v) => v.is_sign_negative(),
        Value::Extended(bytes) => bytes[9] & 0x80 != 0,
    };
    let mut prefix = [0u8; 3];
    let mut prefix_len = 0;
    if let Some(sign) = spec.sign(negative) {
        prefix[0] = sign;
        prefix_len = 1;
    }
    if !number.is_finite() {
        let text: &[u8] = match (number.is_nan(), upper) {
            (true, false) => b"nan",
            (true, true) => b"NAN",
            (false, false) => b"inf",
            (false, true) => b"INF",
        };
        spec.emit_padded(out, &prefix[..prefix_len], text.len(), false, |out| {
            out.put(text)
        });
        return;
    }
    let hex = spec.conversion.eq_ignore_ascii_case(&b'a');
    if hex {
        prefix[prefix_len] = b'0';
        prefix[prefix_len + 1] = if upper { b'X' } else { b'x' };
        prefix_len += 2;
    }
    let magnitude = number.abs();
    let render = |emit: &mut dyn FnMut(&[u8])| {
        let precision = spec.precision.unwrap_or(6);
        match spec.conversion.to_ascii_lowercase() {
            b'e' => {
                exponential(magnitude, precision, spec.alt, false, upper, emit);
            }
            b'f' => fixed(magnitude, precision, spec.alt, false, emit),
            b'g' => general(magnitude, precision, spec.alt, upper, emit),
            _ => hexadecimal(value.hex_parts(), spec.precision, spec.alt, upper, emit),
        }
    };
    let mut len = 0;
    render(&mut |bytes| len += bytes.len());
    spec.emit_padded(out, &prefix[..prefix_len], len, spec.zero, |out| {
        render(&mut |bytes| out.put(bytes));
    });
}

/// `%e`: one digit, the point, `precision` digits, `e±dd`. Returns the
/// decimal exponent.
fn exponential(
    value: f64,
    precision: usize,
    alt: bool,
    trim: bool,
    upper: bool,
    emit: &mut dyn FnMut(&[u8]),
) -> i32 {
    let mut layout = Decimal::new(emit, alt, trim, upper);
    let _ = write!(layout, "{value:.precision$e}");
    layout.finish()
}

/// `%f`: the digits, the point, `precision` digits.
fn fixed(value: f64, precision: usize, alt: bool, trim: bool, emit: &mut dyn FnMut(&[u8])) {
    let mut layout = Decimal::new(emit, alt, trim, false);
    let _ = write!(layout, "{value:.precision$}");
    layout.finish();
}

/// `%g`: `precision` significant digits (at least one), as `%f` when the
/// exponent X of the `%e` form satisfies `P > X >= -4`, else as `%e`;
/// trailing zeros (and a bare point) dropped unless `#`.
fn general(value: f64, precision: usize, alt: bool, upper: bool, emit: &mut dyn FnMut(&[u8])) {
    let significant = precision.max(1);
    let exponent = exponential(value, significant - 1, false, false, upper, &mut |_| {});
    let exponent = i64::from(exponent);
    if alt && exponent == significant as i64 && shortest_exponent(value) == exponent - 1 {
        // Rounding carried the value up to 10^P: glibc chose the `%f` style
        // from the unrounded exponent (P - 1, so no fraction digits), then
        // switches to `%e` keeping that, where C's rule would give P - 1
        // digits. Only `#` shows it (the zeros are trimmed otherwise).
        exponential(value, 0, alt, false, upper, emit);
    } else if (significant as i64) > exponent && exponent >= -4 {
        fixed(
            value,
            (significant as i64 - 1 - exponent) as usize,
            alt,
            !alt,
            emit,
        );
    } else {
        exponential(value, significant - 1, alt, !alt, upper, emit);
    }
}

/// The decimal exponent of `value` itself, before any rounding.
fn shortest_exponent(value: f64) -> i64 {
    let mut discard = |_: &[u8]| {};
    let mut layout = Decimal::new(&mut discard, false, false, false);
    let _ = write!(layout, "{value:e}");
    i64::from(layout.finish())
}

/// `%a` (after `0x`): the leading digit, the point and the fraction's hex
/// digits (all significant ones, or `precision` rounded ties to even), and
/// `p±exponent`.
fn hexadecimal(
    parts: (u64, u64, u32, i32),
    precision: Option<usize>,
    alt: bool,
    upper: bool,
    emit: &mut dyn FnMut(&[u8]),
) {
    let (mut leading, fraction, digits, mut exponent) = parts;
    let digits = digits as usize;
    let shown = precision.unwrap_or(if fraction == 0 {
        0
    } else {
        digits - fraction.trailing_zeros() as usize / 4
    });
    let mut kept = fraction;
    if shown < digits {
        let shift = 4 * (digits - shown);
        kept = fraction >> shift;
        let rest = fraction & ((1 << shift) - 1);
        let half = 1 << (shift - 1);
        let odd = if shown == 0 { leading & 1 } else { kept & 1 };
        if rest > half || (rest == half && odd == 1) {
            kept += 1;
            if kept >> (4 * shown) != 0 {
                kept = 0;
                leading += 1;
            }
        }
    }
    // A leading digit carried past `f` becomes 1 four binary places up.
    if leading == 16 {
        leading = 1;
        exponent += 4;
    }
    let digit = |d: u64| -> u8 {
        let d = d as u8;
        match d {
            0..=9 => b'0' + d,
            _ if upper => b'A' + d - 10,
            _ => b'a' + d - 10,
        }
    };
    emit(&[digit(leading)]);
    if shown > 0 || alt {
        emit(b".");
    }
    let from_fraction = shown.min(digits);
    for i in (0..from_fraction).rev() {
        emit(&[digit((kept >> (4 * i)) & 0xf)]);
    }
    for _ in from_fraction..shown {
        emit(b"0");
    }
    emit(if upper { b"P" } else { b"p" });
    emit(if exponent < 0 { b"-" } else { b"+" });
    decimal(exponent.unsigned_abs(), 1, emit);
}

/// `value` in decimal, with at least `min_digits` digits.
fn decimal(value: u32, min_digits: usize, emit: &mut dyn FnMut(&[u8])) {
    let mut text = [b'0'; 10];
    let mut start = text.len();
    let mut rest = value;
    while rest > 0 || text.len() - start < min_digits {
        start -= 1;
        text[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    emit(&text[start..]);
}

/// Rewrites `core::fmt`'s float output (`1.50e2`, `1e-7`, `0.10`) into
/// C's layout as it streams through: the exponent as `e+02`, trailing
/// fraction zeros held back and dropped at the end (`trim`), and a point
/// forced when there is none (`#`).
struct Decimal<'a> {
    emit: &'a mut dyn FnMut(&[u8]),
    force_point: bool,
    trim: bool,
    upper: bool,
    seen_point: bool,
    held_point: bool,
    held_zeros: usize,
    in_exponent: bool,
    exponent_negative: bool,
    exponent: i32,
}

impl<'a> Decimal<'a> {
    fn new(emit: &'a mut dyn FnMut(&[u8]), force_point: bool, trim: bool, upper: bool) -> Self {
        Self {
            emit,
            force_point,
            trim,
            upper,
            seen_point: false,
            held_point: false,
            held_zeros: 0,
            in_exponent: false,
            exponent_negative: false,
            exponent: 0,
        }
    }

    fn byte(&mut self, byte: u8) {
        if self.in_exponent {
            match byte {
                b'-' => self.exponent_negative = true,
                b'0'..=b'9' => self.exponent = self.exponent * 10 + i32::from(byte - b'0'),
                _ => {}
            }
            return;
        }
        match byte {
            b'e' => {
                self.end_mantissa();
                self.in_exponent = true;
            }
            b'.' if self.trim => {
                self.seen_point = true;
                self.held_point = true;
            }
            b'.' => {
                self.seen_point = true;
                (self.emit)(b".");
            }
            b'0' if self.trim && self.seen_point => self.held_zeros += 1,
            _ => {
                if self.held_point {
                    (self.emit)(b".");
                    self.held_point = false;
                }
                while self.held_zeros > 0 {
                    (self.emit)(b"0");
                    self.held_zeros -= 1;
                }
                (self.emit)(&[byte]);
            }
        }
    }

    /// Drops held trailing zeros, or adds the point `#` asks for.
    fn end_mantissa(&mut self) {
        self.held_point = false;
        self.held_zeros = 0;
        if self.force_point && !self.seen_point {
            (self.emit)(b".");
        }
    }

    /// Ends the number; returns its decimal exponent (0 for `%f`).
    fn finish(mut self) -> i32 {
        if !self.in_exponent {
            self.end_mantissa();
            return 0;
        }
        (self.emit)(if self.upper { b"E" } else { b"e" });
        (self.emit)(if self.exponent_negative { b"-" } else { b"+" });
        decimal(self.exponent as u32, 2, self.emit);
        if self.exponent_negative {
            -self.exponent
        } else {
            self.exponent
        }
    }
}

impl Write for Decimal<'_> {
    fn write_str(&mut self, text: &str) -> core::fmt::Result {
        for &byte in text.as_bytes() {
            self.byte(byte);
        }
        Ok(())
    }
}
