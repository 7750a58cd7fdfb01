//! `strftime` in the C locale, with glibc's extensions: the flags `_ - 0 ^
//! #`, a field width, the `E`/`O` modifiers (which the C locale has no
//! alternatives for) and `%k %l %P %s`. Written here because no maintained
//! `no_std` crate formats glibc's way (chrono's `%` syntax differs in its
//! flags and padding rules).

use alloc::vec::Vec;
use core::ffi::{CStr, c_char};
use core::sync::atomic::Ordering;

use super::calendar::{Tm, mktime};
use super::names::{self, DAYS, MONTHS, abbreviated};
use super::zone::{self, tzname};

/// A name from `table`, or `?` for an out-of-range index, as glibc prints.
fn name(table: &[&'static str], index: i32) -> &'static str {
    names::get(table, index).unwrap_or("?")
}

/// One conversion's flags, width and modifier.
#[derive(Clone, Copy, Default)]
struct Spec {
    pad: Option<u8>,
    upper: bool,
    lower: bool,
    swap_case: bool,
    width: Option<usize>,
}

struct Out<'a> {
    bytes: Vec<u8>,
    tm: &'a Tm,
}

impl Out<'_> {
    /// Text, right-aligned in the width (zeros with the `0` flag, else
    /// spaces), in the case the flags ask for.
    fn text(&mut self, spec: &Spec, text: &[u8]) {
        let fill = spec.width.unwrap_or(0).saturating_sub(text.len());
        let pad = if spec.pad == Some(b'0') { b'0' } else { b' ' };
        self.bytes.extend(core::iter::repeat_n(pad, fill));
        self.bytes.extend(text.iter().map(|&b| {
            if spec.lower {
                b.to_ascii_lowercase()
            } else if spec.upper {
                b.to_ascii_uppercase()
            } else {
                b
            }
        }));
    }

    /// A number at least `digits` wide: zero-padded (after the sign) by
    /// default or with `0`, space-padded with `_` (or by default when
    /// `spaces`), unpadded with `-`.
    fn number(&mut self, spec: &Spec, digits: usize, value: i64, spaces: bool) {
        let mut spec = *spec;
        if spaces && spec.pad != Some(b'0') && spec.pad != Some(b'-') {
            spec.pad = Some(b'_');
        }
        let digits = digits.max(spec.width.unwrap_or(0));
        let mut text = Vec::new();
        if value < 0 {
            text.push(b'-');
        }
        let magnitude = alloc::format!("{}", value.unsigned_abs());
        let padding = digits.saturating_sub(text.len() + magnitude.len());
        if spec.pad != Some(b'-') && padding > 0 {
            if spec.pad == Some(b'_') {
                self.bytes.extend(core::iter::repeat_n(b' ', padding));
                spec.width = spec.width.map(|w| w.saturating_sub(padding));
            } else {
                text.extend(core::iter::repeat_n(b'0', padding));
                spec.width = None;
            }
        }
        text.extend_from_slice(magnitude.as_bytes());
        self.text(&spec, &text);
    }

    /// Another format's output as one piece of text (`%c`, `%D`...).
    fn nested(&mut self, spec: &Spec, format: &[u8]) {
        let mut inner = Out {
            bytes: Vec::new(),
            tm: self.tm,
        };
        inner.format(format);
        let spec = Spec {
            lower: false,
            ..*spec
        };
        self.text(&spec, &inner.bytes);
    }

    fn format(&mut self, format: &[u8]) {
        let mut i = 0;
        while i < format.len() {
            if format[i] != b'%' {
                self.bytes.push(format[i]);
                i += 1;
                continue;
            }
            let start = i;
            i += 1;
            let mut spec = Spec::default();
            while let Some(&flag) = format.get(i) {
                match flag {
                    b'_' | b'-' | b'0' => spec.pad = Some(flag),
                    b'^' => spec.upper = true,
                    b'#' => spec.swap_case = true,
                    _ => break,
                }
                i += 1;
            }
            let digits = format[i..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            if digits > 0 {
                let width = format[i..i + digits].iter().fold(0usize, |w, d| {
                    w.saturating_mul(10).saturating_add(usize::from(d - b'0'))
                });
                spec.width = Some(width.min(i32::MAX as usize));
                i += digits;
            }
            let modifier = match format.get(i) {
                Some(&m @ (b'E' | b'O')) => {
                    i += 1;
                    Some(m)
                }
                _ => None,
            };
            let conversion = format.get(i).copied();
            if !self.convert(&mut spec, modifier, conversion) {
                // An unknown conversion (or `%` at the end) is copied
                // through, flags and all.
                let end = if conversion.is_some() { i + 1 } else { i };
                self.text(&spec, &format[start..end]);
            }
            i += 1;
        }
    }

    /// One conversion; `false` for one glibc prints as it was written.
    fn convert(&mut self, spec: &mut Spec, modifier: Option<u8>, conversion: Option<u8>) -> bool {
        let tm = self.tm;
        let year = i64::from(tm.year) + 1900;
        let hour12 = match tm.hour {
            0 => 12,
            h if h > 12 => h - 12,
            h => h,
        };
        let (no_e, no_o, none) = (
            modifier == Some(b'E'),
            modifier == Some(b'O'),
            modifier.is_some(),
        );
        let Some(conversion) = conversion else {
            return false;
        };
        let upper_with_hash = |spec: &mut Spec| {
            if spec.swap_case {
                spec.upper = true;
                spec.lower = false;
            }
        };
        let lower_with_hash = |spec: &mut Spec| {
            if spec.swap_case {
                spec.upper = false;
                spec.lower = true;
            }
        };
        match conversion {
            b'%' => self.text(spec, b"%"),
            b'a' if !none => {
                upper_with_hash(spec);
                self.text(spec, abbreviated(name(&DAYS, tm.wday)).as_bytes());
            }
            b'A' if !none => {
                upper_with_hash(spec);
                self.text(spec, name(&DAYS, tm.wday).as_bytes());
            }
            b'b' | b'h' if !no_e => {
                upper_with_hash(spec);
                self.text(spec, abbreviated(name(&MONTHS, tm.mon)).as_bytes());
            }
            b'B' if !no_e => {
                upper_with_hash(spec);
                self.text(spec, name(&MONTHS, tm.mon).as_bytes());
            }
            b'c' if !no_o => self.nested(spec, b"%a %b %e %H:%M:%S %Y"),
            b'C' if !no_o => self.number(spec, 1, year.div_euclid(100), false),
            b'x' if !no_o => self.nested(spec, b"%m/%d/%y"),
            b'D' if !none => self.nested(spec, b"%m/%d/%y"),
            b'd' if !no_e => self.number(spec, 2, tm.mday.into(), false),
            b'e' if !no_e => self.number(spec, 2, tm.mday.into(), true),
            b'F' if !none => self.nested(spec, b"%Y-%m-%d"),
            b'H' if !no_e => self.number(spec, 2, tm.hour.into(), false),
            b'I' if !no_e => self.number(spec, 2, hour12.into(), false),
            b'k' if !no_e => self.number(spec, 2, tm.hour.into(), true),
            b'l' if !no_e => self.number(spec, 2, hour12.into(), true),
            b'j' if !no_e => self.number(spec, 3, i64::from(tm.yday) + 1, false),
            b'M' if !no_e => self.number(spec, 2, tm.min.into(), false),
            b'm' if !no_e => self.number(spec, 2, i64::from(tm.mon) + 1, false),
            b'n' => self.text(spec, b"\n"),
            b't' => self.text(spec, b"\t"),
            b'P' | b'p' => {
                if conversion == b'P' {
                    spec.lower = true;
                }
                lower_with_hash(spec);
                self.text(spec, if tm.hour > 11 { b"PM" } else { b"AM" });
            }
            b'R' => self.nested(spec, b"%H:%M"),
            b'r' => self.nested(spec, b"%I:%M:%S %p"),
            b'S' if !no_e => self.number(spec, 2, tm.sec.into(), false),
            b's' => {
                let mut copy = *tm;
                // SAFETY: `copy` is a valid, exclusive `struct tm`.
                let t = unsafe { mktime(&mut copy) };
                self.number(spec, 1, t, false);
            }
            b'X' if !no_o => self.nested(spec, b"%H:%M:%S"),
            b'T' => self.nested(spec, b"%H:%M:%S"),
            b'u' => self.number(spec, 1, i64::from((tm.wday - 1 + 7) % 7 + 1), false),
            b'U' if !no_e => self.number(spec, 2, i64::from((tm.yday - tm.wday + 7) / 7), false),
            b'V' | b'g' | b'G' if !no_e => {
                let (iso_year, week) = iso_week(year, tm.yday, tm.wday);
                match conversion {
                    b'g' => self.number(spec, 2, iso_year.rem_euclid(100), false),
                    b'G' => self.number(spec, 1, iso_year, false),
                    _ => self.number(spec, 2, week, false),
                }
            }
            b'W' if !no_e => self.number(
                spec,
                2,
                i64::from((tm.yday - (tm.wday - 1 + 7) % 7 + 7) / 7),
                false,
            ),
            b'w' if !no_e => self.number(spec, 1, tm.wday.into(), false),
            b'Y' if !no_o => self.number(spec, 1, year, false),
            b'y' => self.number(spec, 2, year.rem_euclid(100), false),
            b'Z' => {
                lower_with_hash(spec);
                let zone = zone_name(tm);
                self.text(spec, zone);
            }
            b'z' => {
                if tm.isdst >= 0 {
                    let offset = tm.gmtoff;
                    self.text(spec, if offset < 0 { b"-" } else { b"+" });
                    let minutes = offset.unsigned_abs() / 60;
                    self.number(spec, 4, ((minutes / 60) * 100 + minutes % 60) as i64, false);
                }
            }
            _ => return false,
        }
        true
    }
}

/// `tm_zone`, or if it is empty `tzname[tm_isdst]`.
fn zone_name(tm: &Tm) -> &[u8] {
    // SAFETY: `tm_zone` is null or a C string (the caller's `struct tm`).
    let own = (!tm.zone.is_null()).then(|| unsafe { CStr::from_ptr(tm.zone) }.to_bytes());
    match own {
        Some(name) if !name.is_empty() => name,
        _ if tm.isdst >= 0 => {
            let slot = usize::from(tm.isdst != 0);
            let name = tzname[slot].load(Ordering::Relaxed);
            // SAFETY: `tzname` entries are interned, NUL-terminated, never freed.
            unsafe { CStr::from_ptr(name) }.to_bytes()
        }
        _ => b"",
    }
}

/// The ISO 8601 week-numbering year and week of a day.
fn iso_week(year: i64, yday: i32, wday: i32) -> (i64, i64) {
    let leap = |y: i64| y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    // Days from the Monday starting the year's first ISO week (the week
    // with its first Thursday) to day `yday`.
    let week_days = |yday: i64, wday: i64| yday - (yday - wday + 4 + 378).rem_euclid(7) + 3;
    let (yday, wday) = (i64::from(yday), i64::from(wday));
    let mut days = week_days(yday, wday);
    let mut iso_year = year;
    if days < 0 {
        iso_year -= 1;
        days = week_days(yday + 365 + i64::from(leap(iso_year)), wday);
    } else {
        let next = week_days(yday - 365 - i64::from(leap(year)), wday);
        if next >= 0 {
            iso_year += 1;
            days = next;
        }
    }
    (iso_year, days / 7 + 1)
}

/// `strftime(3)`: the length written (without the NUL), or 0 if the
/// result and its NUL do not fit in `max` bytes.
///
/// # Safety
/// `out` must be valid for `max` bytes, `format` a C string, `tm` valid
/// for a read.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn strftime(
    out: *mut c_char,
    max: usize,
    format: *const c_char,
    tm: *const Tm,
) -> usize {
    // POSIX: local zone information is used as if `tzset` were called.
    zone::local(true);
    // SAFETY: per the caller.
    let (format, tm) = unsafe { (CStr::from_ptr(format).to_bytes(), &*tm) };
    let mut result = Out {
        bytes: Vec::new(),
        tm,
    };
    result.format(format);
    if result.bytes.len() >= max {
        return 0;
    }
    result.bytes.push(0);
    // SAFETY: per the caller, `out` holds `max` bytes, more than written.
    unsafe { crate::c_slice_mut(out.cast::<u8>(), result.bytes.len()) }
        .copy_from_slice(&result.bytes);
    result.bytes.len() - 1
}

/// `strftime_l(3)`: the C locale is the only one.
///
/// # Safety
/// As [`strftime`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn strftime_l(
    out: *mut c_char,
    max: usize,
    format: *const c_char,
    tm: *const Tm,
    _locale: *mut core::ffi::c_void,
) -> usize {
    // SAFETY: per the caller.
    unsafe { strftime(out, max, format, tm) }
}
