//! Hexadecimal floating-point text (`0x1.8p3`), which `strtod` accepts
//! and `core`'s parser does not: scanned here, and rounded once, to
//! nearest with ties to even, to the target's precision (fewer bits for
//! subnormal results), so the answer is the correctly rounded one.

/// The number a hexadecimal text denotes: `mantissa * 2^exponent`, plus
/// whether nonzero digits were dropped below the mantissa (`sticky`).
pub struct HexFloat {
    /// Bytes used, from the "0x".
    pub len: usize,
    mantissa: u64,
    sticky: bool,
    exponent: i64,
}

/// Beyond any finite value's exponent: where exponents stop counting.
const EXPONENT_LIMIT: i64 = 1 << 20;

/// Scans "0x" hex-digits ["." hex-digits] ["p" [sign] digits] at the
/// start of `text` (after the sign); `None` unless a hex digit follows
/// the "0x" (then C reads just the "0").
pub fn scan(text: &[u8]) -> Option<HexFloat> {
    if !matches!(text.get(..2), Some(b"0x" | b"0X")) {
        return None;
    }
    let (mut mantissa, mut sticky, mut exponent) = (0u64, false, 0i64);
    let (mut at, mut any_digit, mut in_fraction) = (2, false, false);
    loop {
        match text.get(at) {
            Some(b'.') if !in_fraction => in_fraction = true,
            Some(&b) if b.is_ascii_hexdigit() => {
                any_digit = true;
                let digit = u64::from((b as char).to_digit(16).unwrap_or(0));
                if mantissa >> 60 == 0 {
                    mantissa = mantissa << 4 | digit;
                    if in_fraction {
                        exponent -= 4;
                    }
                } else {
                    sticky |= digit != 0;
                    if !in_fraction {
                        exponent += 4;
                    }
                }
            }
            _ => break,
        }
        at += 1;
    }
    if !any_digit {
        return None;
    }
    if let Some(b'p' | b'P') = text.get(at) {
        let negative = text.get(at + 1) == Some(&b'-');
        let sign = usize::from(matches!(text.get(at + 1), Some(b'+' | b'-')));
        let digits = text[(at + 1 + sign).min(text.len())..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits > 0 {
            let start = at + 1 + sign;
            let value = text[start..start + digits].iter().fold(0i64, |value, &b| {
                (value * 10 + i64::from(b - b'0')).min(EXPONENT_LIMIT)
            });
            exponent += if negative { -value } else { value };
            at = start + digits;
        }
    }
    Some(HexFloat {
        len: at,
        mantissa,
        sticky,
        exponent,
    })
}

/// A value rounded to a floating-point format: the integer significand
/// and its scale (`significand * 2^scale`), and whether rounding lost
/// anything.
pub struct Rounded {
    pub significand: u64,
    pub scale: i32,
    pub inexact: bool,
}

impl HexFloat {
    /// Rounds to a format with `precision` significant bits and exponents
    /// from `min_exponent` (normal) to `max_exponent`; `None` when the
    /// value overflows it.
    pub fn round(&self, precision: i64, min_exponent: i64, max_exponent: i64) -> Option<Rounded> {
        if self.mantissa == 0 {
            return Some(Rounded {
                significand: 0,
                scale: 0,
                inexact: false,
            });
        }
        let top = self.exponent + 63 - i64::from(self.mantissa.leading_zeros());
        if top > max_exponent {
            return None;
        }
        // The weight of the last bit the format keeps at this magnitude.
        let quantum = top.max(min_exponent) - (precision - 1);
        let shift = quantum - self.exponent;
        let (significand, inexact) = if shift <= 0 {
            (self.mantissa << -shift, self.sticky)
        } else if shift >= 128 {
            (0, true)
        } else {
            let wide = u128::from(self.mantissa);
            let kept = wide >> shift;
            let rest = wide & ((1u128 << shift) - 1);
            let half = 1u128 << (shift - 1);
            let up = rest > half || (rest == half && (self.sticky || kept & 1 == 1));
            (kept as u64 + u64::from(up), rest != 0 || self.sticky)
        };
        let rounded_top = quantum + 63 - i64::from(significand.leading_zeros());
        if significand != 0 && rounded_top > max_exponent {
            return None;
        }
        Some(Rounded {
            significand,
            scale: quantum as i32,
            inexact,
        })
    }
}
