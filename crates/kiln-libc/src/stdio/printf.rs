//! The printf formatter: glibc's conversions, flags, widths and precisions.
//!
//! Written by hand: no maintained `no_std` crate formats C format strings
//! from a `va_list` on stable Rust (`printf-compat` needs nightly
//! `c_variadic`). Float digits come from `core::fmt`, which rounds exactly
//! (see [`super::float`]); this module applies C's layout rules around them.
//!
//! Beyond C17, `%b`/`%B` (binary) as glibc 2.35 added it. Wide characters (`%lc`, `%ls`) are converted as glibc does in the "C"
//! locale, the only one a Kiln program has: ASCII passes, anything else
//! fails the call with `EILSEQ`. Positional arguments (`%1$d`, `*2$`) are
//! read through [`super::arguments`]; a format mixing them with plain
//! conversions fails with `EINVAL`.

use core::ffi::{CStr, c_char};

use super::arguments::{Arguments, Class, Positions, Value};
use super::float;
use super::va_list::VaList;
use crate::CInt;
use crate::errno::{self, code};

/// Where formatted output goes.
pub trait Sink {
    fn write(&mut self, bytes: &[u8]);
}

/// Output with a running count (for `%n` and the return value).
pub struct Out<'a> {
    sink: &'a mut dyn Sink,
    pub count: usize,
}

impl Out<'_> {
    pub fn put(&mut self, bytes: &[u8]) {
        self.count += bytes.len();
        self.sink.write(bytes);
    }

    pub fn pad(&mut self, byte: u8, mut n: usize) {
        let chunk = [byte; 32];
        while n > 0 {
            let step = n.min(chunk.len());
            self.put(&chunk[..step]);
            n -= step;
        }
    }
}

/// Integer argument sizes (`hh`, `h`, none, and the 64-bit ones: `l`,
/// `ll`, `q`, `j`, `z`, `t`), and `L` (long double).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Length {
    Char,
    Short,
    Int,
    Long,
    LongDouble,
}

/// One parsed conversion specification.
#[derive(Clone, Copy)]
pub struct Spec {
    pub left: bool,
    pub plus: bool,
    pub space: bool,
    pub alt: bool,
    pub zero: bool,
    pub width: usize,
    pub precision: Option<usize>,
    pub length: Length,
    pub conversion: u8,
}

impl Spec {
    /// Writes `body` with its `prefix` (sign, `0x`) padded to the width:
    /// spaces before (or after, with `-`), or zeros between prefix and body
    /// when `zero_pad` allows.
    pub fn emit_padded(
        &self,
        out: &mut Out,
        prefix: &[u8],
        body_len: usize,
        zero_pad: bool,
        body: impl FnOnce(&mut Out),
    ) {
        let len = prefix.len() + body_len;
        let fill = self.width.saturating_sub(len);
        if !self.left && !zero_pad {
            out.pad(b' ', fill);
        }
        out.put(prefix);
        if !self.left && zero_pad {
            out.pad(b'0', fill);
        }
        body(out);
        if self.left {
            out.pad(b' ', fill);
        }
    }

    /// The sign character for a signed value (`-`, `+` or space), if any.
    pub fn sign(&self, negative: bool) -> Option<u8> {
        if negative {
            Some(b'-')
        } else if self.plus {
            Some(b'+')
        } else if self.space {
            Some(b' ')
        } else {
            None
        }
    }
}

/// A width or precision as written.
#[derive(Clone, Copy)]
enum Count {
    Absent,
    Fixed(usize),
    /// `*`: the next argument.
    Next,
    /// `*m$`: argument `m`.
    At(usize),
}

/// A conversion specification as written, before its `*` are resolved.
struct Written {
    spec: Spec,
    /// `n$`: the argument's position.
    position: Option<usize>,
    width: Count,
    precision: Count,
    /// Whether the conversion is one glibc knows.
    known: bool,
    /// The index after the specification.
    end: usize,
}

impl Written {
    /// The class of the argument the conversion itself takes, if any.
    fn class(&self) -> Option<Class> {
        match self.spec.conversion {
            _ if !self.known => None,
            b'%' | b'm' => None,
            b'e' | b'E' | b'f' | b'F' | b'g' | b'G' | b'a' | b'A' => {
                Some(if self.spec.length == Length::LongDouble {
                    Class::LongDouble
                } else {
                    Class::Double
                })
            }
            _ => Some(Class::Integer),
        }
    }
}

/// Formats `format` with `args` into `sink`; the count written, or the
/// `errno` value of a failure (`EOVERFLOW` past `INT_MAX`, `EINVAL` for a
/// malformed positional format).
///
/// # Safety
/// `format` is a NUL-terminated string and `args` holds arguments of the
/// types its conversions name.
pub unsafe fn format(
    sink: &mut dyn Sink,
    format: *const c_char,
    args: &mut VaList,
) -> Result<CInt, CInt> {
    let mut out = Out { sink, count: 0 };
    // SAFETY: per the caller.
    let format = unsafe { CStr::from_ptr(format) }.to_bytes();
    let positional = specifications(format)
        .next()
        .is_some_and(|w| w.position.is_some());
    if positional {
        let mut positions = Positions::default();
        for written in specifications(format) {
            let Some(position) = written.position else {
                return Err(code::EINVAL);
            };
            if let Some(class) = written.class() {
                positions.record(position, class)?;
            }
            for count in [written.width, written.precision] {
                match count {
                    Count::At(m) => positions.record(m, Class::Integer)?,
                    Count::Next => return Err(code::EINVAL),
                    Count::Absent | Count::Fixed(_) => {}
                }
            }
        }
        // SAFETY: per the caller, the arguments have the recorded classes.
        let values = unsafe { positions.read(args) };
        run(&mut out, format, |out, written| {
            let pick = |count| match count {
                Count::At(m) => Some(values[m - 1].integer_value()),
                _ => None,
            };
            let spec = checked(resolve(written, pick))?;
            let mut value = written
                .position
                .map_or(Value::Integer(0), |n| values[n - 1]);
            // SAFETY: per the caller, the value has the conversion's type.
            unsafe { convert(out, &spec, &mut value) }
        })?;
    } else {
        run(&mut out, format, |out, written| {
            if written.position.is_some() {
                return Err(code::EINVAL);
            }
            // SAFETY: per the caller, `*` takes an `int`.
            let spec = checked(resolve(written, |_| Some(unsafe { args.integer() })))?;
            // SAFETY: per the caller, the arguments have the conversions' types.
            unsafe { convert(out, &spec, args) }
        })?;
    }
    CInt::try_from(out.count).map_err(|_| code::EOVERFLOW)
}

impl Value {
    fn integer_value(&self) -> u64 {
        match *self {
            Value::Integer(value) => value,
            _ => 0,
        }
    }
}

/// A spec whose width and precision C's `int` return value can count.
fn checked(spec: Spec) -> Result<Spec, CInt> {
    if spec.width > CInt::MAX as usize || spec.precision.is_some_and(|p| p > CInt::MAX as usize) {
        return Err(code::EOVERFLOW);
    }
    Ok(spec)
}

/// Writes the literal text of `format` and has `convert_one` perform each
/// conversion; unknown conversions are copied as they stand, as glibc does.
fn run(
    out: &mut Out,
    format: &[u8],
    mut convert_one: impl FnMut(&mut Out, &Written) -> Result<(), CInt>,
) -> Result<(), CInt> {
    let mut i = 0;
    while i < format.len() {
        let literal_end = format[i..]
            .iter()
            .position(|&b| b == b'%')
            .map_or(format.len(), |n| i + n);
        out.put(&format[i..literal_end]);
        if literal_end == format.len() {
            break;
        }
        let written = parse(format, literal_end + 1);
        i = written.end;
        if written.known {
            convert_one(out, &written)?;
        } else {
            out.put(&format[literal_end..written.end]);
        }
    }
    Ok(())
}

/// Every conversion specification of `format` (not `%%`).
fn specifications(format: &[u8]) -> impl Iterator<Item = Written> + '_ {
    let mut i = 0;
    core::iter::from_fn(move || {
        loop {
            let at = i + format.get(i..)?.iter().position(|&b| b == b'%')?;
            let written = parse(format, at + 1);
            i = written.end;
            if written.spec.conversion != b'%' || written.position.is_some() {
                return Some(written);
            }
        }
    })
}

/// The spec with its `*` width and precision filled in by `pick` (which
/// gives an `int` argument's slot): a negative width means `-`, a negative
/// precision none.
fn resolve(written: &Written, mut pick: impl FnMut(Count) -> Option<u64>) -> Spec {
    let mut spec = written.spec;
    let mut value = |count| match count {
        Count::Absent => None,
        Count::Fixed(n) => Some(n as i64),
        star => pick(star).map(|slot| i64::from(slot as CInt)),
    };
    if let Some(width) = value(written.width) {
        if width < 0 {
            spec.left = true;
        }
        spec.width = width.unsigned_abs() as usize;
    }
    spec.precision = match written.precision {
        Count::Absent => None,
        count => value(count).and_then(|p| usize::try_from(p).ok()),
    };
    spec
}

/// Parses the specification after a `%` at `at`.
fn parse(format: &[u8], mut at: usize) -> Written {
    let byte = |i: usize| format.get(i).copied().unwrap_or(0);
    let mut spec = Spec {
        left: false,
        plus: false,
        space: false,
        alt: false,
        zero: false,
        width: 0,
        precision: None,
        length: Length::Int,
        conversion: 0,
    };
    let position = dollar(format, &mut at);
    loop {
        match byte(at) {
            b'-' => spec.left = true,
            b'+' => spec.plus = true,
            b' ' => spec.space = true,
            b'#' => spec.alt = true,
            b'0' => spec.zero = true,
            // Thousands grouping: none in the "C" locale.
            b'\'' => {}
            _ => break,
        }
        at += 1;
    }
    let width = count(format, &mut at);
    let precision = if byte(at) == b'.' {
        at += 1;
        match count(format, &mut at) {
            Count::Absent => Count::Fixed(0),
            count => count,
        }
    } else {
        Count::Absent
    };
    spec.length = match (byte(at), byte(at + 1)) {
        (b'h', b'h') => {
            at += 2;
            Length::Char
        }
        (b'l', b'l') => {
            at += 2;
            Length::Long
        }
        (b'h', _) => {
            at += 1;
            Length::Short
        }
        (b'l' | b'q' | b'j' | b'z' | b'Z' | b't', _) => {
            at += 1;
            Length::Long
        }
        (b'L', _) => {
            at += 1;
            Length::LongDouble
        }
        _ => Length::Int,
    };
    spec.conversion = byte(at);
    // `%C` and `%S` are glibc's old names for `%lc` and `%ls`.
    if let Some(narrow) = match spec.conversion {
        b'C' => Some(b'c'),
        b'S' => Some(b's'),
        _ => None,
    } {
        spec.conversion = narrow;
        spec.length = Length::Long;
    }
    let known = spec.conversion != 0 && b"diouxXbBcspnm%eEfFgGaA".contains(&spec.conversion);
    Written {
        spec,
        position,
        width,
        precision,
        known,
        end: (at + 1).min(format.len()),
    }
}

/// A `n$` position at `at` (digits then `$`), stepping past it.
fn dollar(format: &[u8], at: &mut usize) -> Option<usize> {
    let (value, next) = number(format, *at);
    (next > *at && format.get(next) == Some(&b'$')).then(|| {
        *at = next + 1;
        value
    })
}

/// A width or precision at `at`: digits, `*` or `*m$`.
fn count(format: &[u8], at: &mut usize) -> Count {
    if format.get(*at) == Some(&b'*') {
        *at += 1;
        return dollar(format, at).map_or(Count::Next, Count::At);
    }
    let (value, next) = number(format, *at);
    if next == *at {
        return Count::Absent;
    }
    *at = next;
    Count::Fixed(value)
}

/// A decimal number at `at` (saturating), and the index after it.
fn number(format: &[u8], mut at: usize) -> (usize, usize) {
    let mut value = 0usize;
    while let Some(digit) = format.get(at).filter(|b| b.is_ascii_digit()) {
        value = value
            .saturating_mul(10)
            .saturating_add(usize::from(digit - b'0'));
        at += 1;
    }
    (value, at)
}

/// Performs one conversion.
///
/// # Safety
/// As [`format`].
unsafe fn convert(out: &mut Out, spec: &Spec, args: &mut dyn Arguments) -> Result<(), CInt> {
    match spec.conversion {
        b'%' => out.put(b"%"),
        b'd' | b'i' => {
            // SAFETY: per the caller.
            let raw = unsafe { args.integer() };
            let value = match spec.length {
                Length::Char => i64::from(raw as i8),
                Length::Short => i64::from(raw as i16),
                Length::Int => i64::from(raw as i32),
                // glibc reads `%Ld` as `long long`.
                Length::Long | Length::LongDouble => raw as i64,
            };
            integer(out, spec, value.unsigned_abs(), spec.sign(value < 0), 10);
        }
        b'u' | b'o' | b'x' | b'X' | b'b' | b'B' => {
            // SAFETY: per the caller.
            let raw = unsafe { args.integer() };
            let value = match spec.length {
                Length::Char => u64::from(raw as u8),
                Length::Short => u64::from(raw as u16),
                Length::Int => u64::from(raw as u32),
                Length::Long | Length::LongDouble => raw,
            };
            let base = match spec.conversion {
                b'b' | b'B' => 2,
                b'o' => 8,
                b'u' => 10,
                _ => 16,
            };
            integer(out, spec, value, None, base);
        }
        b'p' => {
            // SAFETY: per the caller.
            let value = unsafe { args.integer() };
            if value == 0 {
                let nil = Spec {
                    precision: None,
                    ..*spec
                };
                string(out, &nil, b"(nil)");
            } else {
                // glibc prints a pointer as `%#lx`, keeping `+` and space.
                let hex = Spec {
                    alt: true,
                    conversion: b'x',
                    ..*spec
                };
                integer(out, &hex, value, spec.sign(false), 16);
            }
        }
        b'c' => {
            // SAFETY: per the caller.
            let value = unsafe { args.integer() };
            let byte = if spec.length == Length::Long {
                wide_to_byte(value as u32)?
            } else {
                value as u8
            };
            string(
                out,
                &Spec {
                    precision: None,
                    ..*spec
                },
                &[byte],
            );
        }
        b's' => {
            // SAFETY: per the caller.
            let ptr = unsafe { args.integer() } as usize as *const c_char;
            if spec.length == Length::Long {
                // SAFETY: per the caller, a wide string (or null).
                return unsafe { wide_string(out, spec, ptr.cast::<u32>()) };
            }
            if ptr.is_null() {
                // glibc prints "(null)", or nothing if the precision is too
                // small to hold it.
                let text: &[u8] = if spec.precision.is_none_or(|p| p >= 6) {
                    b"(null)"
                } else {
                    b""
                };
                string(out, spec, text);
            } else {
                // SAFETY: per the caller, a string at least `precision`
                // bytes long or NUL-terminated before.
                let text = unsafe { bounded(ptr, spec.precision) };
                string(out, spec, text);
            }
        }
        b'm' => {
            let message = crate::string::errors::message_or_unknown(errno::get());
            string(out, spec, message.as_bytes());
        }
        b'n' => {
            // SAFETY: per the caller, a pointer to an integer of the size named.
            unsafe {
                let ptr = args.integer() as usize;
                let count = out.count;
                match spec.length {
                    Length::Char => (ptr as *mut i8).write(count as i8),
                    Length::Short => (ptr as *mut i16).write(count as i16),
                    Length::Int => (ptr as *mut i32).write(count as i32),
                    Length::Long | Length::LongDouble => (ptr as *mut i64).write(count as i64),
                }
            }
        }
        _ => {
            let value = if spec.length == Length::LongDouble {
                // SAFETY: per the caller.
                float::Value::Extended(unsafe { args.long_double() })
            } else {
                // SAFETY: per the caller.
                float::Value::Double(unsafe { args.double() })
            };
            float::convert(out, spec, value);
        }
    }
    Ok(())
}

/// An integer conversion of `magnitude` in `base`, with an optional sign.
fn integer(out: &mut Out, spec: &Spec, magnitude: u64, sign: Option<u8>, base: u64) {
    let upper = spec.conversion == b'X';
    let mut digits = [0u8; 64];
    let mut start = digits.len();
    if !(magnitude == 0 && spec.precision == Some(0)) {
        let mut rest = magnitude;
        loop {
            start -= 1;
            let digit = (rest % base) as u8;
            digits[start] = match digit {
                0..=9 => b'0' + digit,
                _ if upper => b'A' + digit - 10,
                _ => b'a' + digit - 10,
            };
            rest /= base;
            if rest == 0 {
                break;
            }
        }
    }
    let digits = &digits[start..];
    let mut zeros = spec.precision.map_or(0, |p| p.saturating_sub(digits.len()));
    if spec.alt && base == 8 && zeros == 0 && digits.first() != Some(&b'0') {
        zeros = 1;
    }
    let mut prefix = [0u8; 3];
    let mut prefix_len = 0;
    if let Some(sign) = sign {
        prefix[0] = sign;
        prefix_len = 1;
    }
    if spec.alt && (base == 16 || base == 2) && magnitude != 0 {
        prefix[prefix_len] = b'0';
        prefix[prefix_len + 1] = spec.conversion;
        prefix_len += 2;
    }
    let zero_pad = spec.zero && spec.precision.is_none();
    spec.emit_padded(
        out,
        &prefix[..prefix_len],
        zeros + digits.len(),
        zero_pad,
        |out| {
            out.pad(b'0', zeros);
            out.put(digits);
        },
    );
}

/// A string conversion: `text`, cut to the precision, padded with spaces.
fn string(out: &mut Out, spec: &Spec, text: &[u8]) {
    let text = &text[..spec.precision.map_or(text.len(), |p| p.min(text.len()))];
    spec.emit_padded(out, b"", text.len(), false, |out| out.put(text));
}

/// A C string of at most `limit` bytes (without reading past them).
///
/// # Safety
/// `ptr` points to a NUL-terminated string or to at least `limit` bytes.
unsafe fn bounded<'a>(ptr: *const c_char, limit: Option<usize>) -> &'a [u8] {
    let mut len = 0;
    // SAFETY: per the caller, each byte read is before the NUL or the limit.
    unsafe {
        while limit.is_none_or(|l| len < l) && *ptr.add(len) != 0 {
            len += 1;
        }
        core::slice::from_raw_parts(ptr.cast::<u8>(), len)
    }
}

/// A wide character as the "C" locale's one byte, or `EILSEQ`.
fn wide_to_byte(c: u32) -> Result<u8, CInt> {
    u8::try_from(c)
        .ok()
        .filter(u8::is_ascii)
        .ok_or(code::EILSEQ)
}

/// `%ls`: a wide string, converted character by character.
///
/// # Safety
/// `ptr` is null or a NUL-terminated `wchar_t` string (or one at least
/// `precision` characters long).
unsafe fn wide_string(out: &mut Out, spec: &Spec, ptr: *const u32) -> Result<(), CInt> {
    if ptr.is_null() {
        string(
            out,
            spec,
            if spec.precision.is_none_or(|p| p >= 6) {
                b"(null)"
            } else {
                b""
            },
        );
        return Ok(());
    }
    let mut len = 0;
    // SAFETY: per the caller.
    while spec.precision.is_none_or(|p| len < p) && unsafe { *ptr.add(len) } != 0 {
        // SAFETY: as above, `len` is before the terminator.
        wide_to_byte(unsafe { *ptr.add(len) })?;
        len += 1;
    }
    spec.emit_padded(out, b"", len, false, |out| {
        for i in 0..len {
            // SAFETY: checked above, each is ASCII.
            out.put(&[unsafe { *ptr.add(i) } as u8]);
        }
    });
    Ok(())
}

/// The result of a call as C returns it: the count, or -1 with `errno`.
pub fn result(outcome: Result<CInt, CInt>) -> CInt {
    outcome.unwrap_or_else(errno::fail)
}
