//! The scanf family: `sscanf`, `fscanf`, `scanf` and their `v` forms,
//! under glibc's ISO C names (`__isoc99_*`, and `__isoc23_*`, whose `%i`
//! also reads `0b` binary numbers).
//!
//! Written by hand for the same reason as the printf formatter (no stable
//! `va_list` crate). Numbers follow `strtol`/`strtoul`/`strtod`: integers
//! saturate at the 64-bit limits and are then cut to the size the length
//! modifier names, as glibc's scanf does; decimal floats are converted by
//! `core`'s correctly rounded parser. Not supported: positional arguments
//! (the call stops there, as at a matching failure).

use core::ffi::{CStr, c_char};
use core::sync::atomic::Ordering;

use super::printf::Length;
use super::stream::{self, EOF, File};
use super::va_list::{VaList, variadic};
use crate::CInt;
use crate::errno::{self, code};
use crate::malloc::{free, realloc};

/// Where input comes from, with one byte of pushback (all C allows).
trait Input {
    fn next(&mut self) -> Option<u8>;
    fn back(&mut self, byte: u8);
}

struct Text<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Input for Text<'_> {
    fn next(&mut self) -> Option<u8> {
        let byte = self.bytes.get(self.at).copied()?;
        self.at += 1;
        Some(byte)
    }

    fn back(&mut self, _byte: u8) {
        self.at -= 1;
    }
}

struct Stream<'a>(&'a mut File);

impl Input for Stream<'_> {
    fn next(&mut self) -> Option<u8> {
        self.0.get()
    }

    fn back(&mut self, byte: u8) {
        self.0.unget(byte);
    }
}

/// The input with a count of bytes consumed (for `%n`).
struct Scanner<'a> {
    input: &'a mut dyn Input,
    consumed: usize,
}

impl Scanner<'_> {
    fn next(&mut self) -> Option<u8> {
        let byte = self.input.next()?;
        self.consumed += 1;
        Some(byte)
    }

    fn back(&mut self, byte: u8) {
        self.input.back(byte);
        self.consumed -= 1;
    }

    fn peek(&mut self) -> Option<u8> {
        let byte = self.next()?;
        self.back(byte);
        Some(byte)
    }

    fn skip_space(&mut self) {
        while let Some(byte) = self.next() {
            if !is_space(byte) {
                self.back(byte);
                break;
            }
        }
    }

    /// Takes the next byte if `accept` likes it and the width allows.
    fn take_if(&mut self, width: &mut usize, accept: impl Fn(u8) -> bool) -> Option<u8> {
        if *width == 0 {
            return None;
        }
        let byte = self.next()?;
        if accept(byte) {
            *width -= 1;
            Some(byte)
        } else {
            self.back(byte);
            None
        }
    }
}

fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

/// Why a conversion stopped the scan.
enum Stop {
    /// End of input (or a read error) before the conversion matched.
    Input,
    /// The input did not match.
    Matching,
}

/// Scans `format` against `input`: the number of assignments, or `EOF`
/// if input ran out before the first one.
///
/// # Safety
/// `format` is a NUL-terminated string and `args` holds pointers of the
/// types its conversions name.
unsafe fn scan(
    input: &mut dyn Input,
    format: *const c_char,
    args: &mut VaList,
    binary: bool,
) -> CInt {
    let mut scanner = Scanner { input, consumed: 0 };
    // SAFETY: per the caller.
    let format = unsafe { CStr::from_ptr(format) }.to_bytes();
    let mut done: CInt = 0;
    let mut i = 0;
    let input_error = |done: CInt| if done == 0 { EOF } else { done };
    while i < format.len() {
        let c = format[i];
        if is_space(c) {
            scanner.skip_space();
            i += 1;
            continue;
        }
        if c != b'%' || format.get(i + 1) == Some(&b'%') {
            let literal = if c == b'%' {
                scanner.skip_space();
                i += 2;
                b'%'
            } else {
                i += 1;
                c
            };
            match scanner.next() {
                None => return input_error(done),
                Some(byte) if byte == literal => continue,
                Some(byte) => {
                    scanner.back(byte);
                    return done;
                }
            }
        }
        i += 1;
        let suppress = format.get(i) == Some(&b'*');
        if suppress {
            i += 1;
        }
        let mut width = 0usize;
        let mut has_width = false;
        while let Some(digit) = format.get(i).filter(|b| b.is_ascii_digit()) {
            width = width
                .saturating_mul(10)
                .saturating_add(usize::from(digit - b'0'));
            has_width = true;
            i += 1;
        }
        // POSIX's `m`: `%ms`, `%mc`, `%m[...]` store a new `malloc`
        // allocation through a `char **`.
        let allocate = format.get(i) == Some(&b'm');
        if allocate {
            i += 1;
        }
        let length = match (format.get(i).copied(), format.get(i + 1).copied()) {
            (Some(b'h'), Some(b'h')) => {
                i += 2;
                Length::Char
            }
            (Some(b'l'), Some(b'l')) => {
                i += 2;
                Length::Long
            }
            (Some(b'h'), _) => {
                i += 1;
                Length::Short
            }
            (Some(b'l'), _) => {
                i += 1;
                Length::Long
            }
            (Some(b'q' | b'j' | b'z' | b't'), _) => {
                i += 1;
                Length::Long
            }
            (Some(b'L'), _) => {
                i += 1;
                Length::LongDouble
            }
            _ => Length::Int,
        };
        // `l` on `c`, `s` and `[` means `wchar_t`; `ll`'s distinction from `l`
        // matters only there, where both are wide.
        let wide = length == Length::Long;
        let Some(&conversion) = format.get(i) else {
            return done;
        };
        i += 1;
        if conversion == b'n' {
            if !suppress {
                // SAFETY: per the caller, a pointer of the size named.
                unsafe { store_integer(args, length, scanner.consumed as u64) };
            }
            continue;
        }
        if !matches!(conversion, b'c' | b'[') {
            scanner.skip_space();
        }
        if scanner.peek().is_none() {
            return input_error(done);
        }
        if !has_width {
            width = if conversion == b'c' { 1 } else { usize::MAX };
        }
        if width == 0 {
            return done;
        }
        let outcome = match conversion {
            b'd' => integer(&mut scanner, width, 10, true, binary),
            b'i' => integer(&mut scanner, width, 0, true, binary),
            b'u' => integer(&mut scanner, width, 10, false, binary),
            b'o' => integer(&mut scanner, width, 8, false, binary),
            b'x' | b'X' | b'p' => integer(&mut scanner, width, 16, false, binary),
            b'e' | b'E' | b'f' | b'F' | b'g' | b'G' | b'a' | b'A' => {
                float(&mut scanner, width, length == Length::Int).map(|value| value.to_bits())
            }
            b'c' | b's' | b'[' => {
                let set = if conversion == b'[' {
                    let Some((set, end)) = scan_set(format, i) else {
                        return done;
                    };
                    i = end;
                    Some(set)
                } else {
                    None
                };
                let destination = if suppress {
                    Destination::Discard
                } else {
                    // SAFETY: per the caller, a pointer to a large enough
                    // buffer, or (`m`) to a `char *`.
                    let ptr = unsafe { args.next_u64() } as usize;
                    if allocate {
                        Destination::Allocate(ptr as *mut *mut u8)
                    } else {
                        Destination::Buffer(ptr as *mut u8)
                    }
                };
                // SAFETY: per the caller.
                unsafe {
                    characters(
                        &mut scanner,
                        width,
                        conversion,
                        set.as_ref(),
                        destination,
                        wide,
                    )
                }
                .map(|()| 0)
            }
            _ => return done,
        };
        let value = match outcome {
            Ok(value) => value,
            Err(Stop::Input) => return input_error(done),
            Err(Stop::Matching) => return done,
        };
        if suppress || matches!(conversion, b'c' | b's' | b'[') {
            if !suppress {
                done += 1;
            }
            continue;
        }
        // SAFETY: per the caller, a pointer of the type the conversion names.
        unsafe {
            match conversion {
                b'e' | b'E' | b'f' | b'F' | b'g' | b'G' | b'a' | b'A' => {
                    store_float(args, length, f64::from_bits(value))
                }
                b'p' => store_integer(args, Length::Long, value),
                _ => store_integer(args, length, value),
            }
        }
        done += 1;
    }
    done
}

/// An integer in `base` (0: by prefix, as `strtol`), as its 64-bit two's
/// complement pattern: signed conversions saturate at `i64`'s limits,
/// unsigned ones at `u64::MAX` (a `-` negates, as `strtoul` does).
fn integer(
    scanner: &mut Scanner,
    mut width: usize,
    mut base: u32,
    signed: bool,
    binary: bool,
) -> Result<u64, Stop> {
    let negative = match scanner.take_if(&mut width, |b| b == b'-' || b == b'+') {
        Some(sign) => sign == b'-',
        None => false,
    };
    let mut digits = 0;
    if (base == 0 || base == 16) && scanner.take_if(&mut width, |b| b == b'0').is_some() {
        digits = 1;
        let prefix =
            |b: u8| matches!(b, b'x' | b'X') || (binary && base == 0 && matches!(b, b'b' | b'B'));
        // The `0` counts as a digit: glibc reads "0x" alone as zero.
        match scanner.take_if(&mut width, prefix) {
            Some(b'x' | b'X') => base = 16,
            Some(_) => base = 2,
            None if base == 0 => base = 8,
            None => {}
        }
    }
    if base == 0 {
        base = 10;
    }
    let mut magnitude: u64 = 0;
    let mut overflow = false;
    while let Some(byte) = scanner.take_if(&mut width, |b| char::from(b).is_digit(base)) {
        let digit = u64::from(char::from(byte).to_digit(base).unwrap_or(0));
        match magnitude
            .checked_mul(u64::from(base))
            .and_then(|m| m.checked_add(digit))
        {
            Some(value) => magnitude = value,
            None => overflow = true,
        }
        digits += 1;
    }
    if digits == 0 {
        return Err(Stop::Matching);
    }
    Ok(if signed {
        let limit = if negative {
            i64::MIN.unsigned_abs()
        } else {
            i64::MAX as u64
        };
        if overflow || magnitude > limit {
            if negative {
                i64::MIN as u64
            } else {
                i64::MAX as u64
            }
        } else if negative {
            magnitude.wrapping_neg()
        } else {
            magnitude
        }
    } else if overflow {
        u64::MAX
    } else if negative {
        magnitude.wrapping_neg()
    } else {
        magnitude
    })
}

/// A floating-point number as `strtod` reads it: decimal (with an
/// exponent), hexadecimal (`0x1.8p3`), `inf`, `infinity` or `nan`.
fn float(scanner: &mut Scanner, mut width: usize, single: bool) -> Result<f64, Stop> {
    let mut text = Collected {
        bytes: [0; 512],
        len: 0,
    };
    let mut negative = false;
    if let Some(sign) = scanner.take_if(&mut width, |b| b == b'-' || b == b'+') {
        negative = sign == b'-';
    }
    // A sign and then nothing is a matching failure, as in glibc.
    let first = scanner.peek().ok_or(Stop::Matching)?;
    if matches!(first.to_ascii_lowercase(), b'i' | b'n') {
        let word: &[u8] = if first.eq_ignore_ascii_case(&b'i') {
            b"infinity"
        } else {
            b"nan"
        };
        let mut matched = 0;
        while matched < word.len()
            && scanner
                .take_if(&mut width, |b| b.eq_ignore_ascii_case(&word[matched]))
                .is_some()
        {
            matched += 1;
        }
        let value = match (word.len(), matched) {
            (8, 3 | 8) => f64::INFINITY,
            (3, 3) => f64::NAN,
            _ => return Err(Stop::Matching),
        };
        return Ok(if negative { -value } else { value });
    }
    let mut hex = false;
    let mut digits = 0;
    if scanner.take_if(&mut width, |b| b == b'0').is_some() {
        digits = 1;
        text.push(b'0');
        if scanner
            .take_if(&mut width, |b| b == b'x' || b == b'X')
            .is_some()
        {
            hex = true;
            digits = 0;
            text.len = 0;
        }
    }
    let is_digit = |b: u8| {
        if hex {
            b.is_ascii_hexdigit()
        } else {
            b.is_ascii_digit()
        }
    };
    while let Some(byte) = scanner.take_if(&mut width, is_digit) {
        text.push(byte);
        digits += 1;
    }
    if scanner.take_if(&mut width, |b| b == b'.').is_some() {
        text.push(b'.');
        while let Some(byte) = scanner.take_if(&mut width, is_digit) {
            text.push(byte);
            digits += 1;
        }
    }
    if digits == 0 {
        return Err(Stop::Matching);
    }
    let mantissa_len = text.len;
    let marker = if hex { [b'p', b'P'] } else { [b'e', b'E'] };
    let mut exponent_text = [0u8; 24];
    let mut exponent_len = 0;
    if scanner
        .take_if(&mut width, |b| marker.contains(&b))
        .is_some()
    {
        let sign = scanner.take_if(&mut width, |b| b == b'-' || b == b'+');
        let mut exponent_digits = 0;
        while let Some(byte) = scanner.take_if(&mut width, |b| b.is_ascii_digit()) {
            if exponent_len < exponent_text.len() {
                exponent_text[exponent_len] = byte;
                exponent_len += 1;
            }
            exponent_digits += 1;
        }
        // Without digits, glibc has taken the marker (and sign) but
        // converts only the mantissa.
        if exponent_digits > 0 {
            text.push(b'e');
            if sign == Some(b'-') {
                text.push(b'-');
            }
            for &byte in &exponent_text[..exponent_len] {
                text.push(byte);
            }
        }
    }
    let value = if hex {
        hex_float(
            &text.bytes[..mantissa_len],
            &text.bytes[mantissa_len..text.len],
        )
    } else {
        let text = core::str::from_utf8(&text.bytes[..text.len]).map_err(|_| Stop::Matching)?;
        // A `float` is rounded once, from the decimal text, as `strtof` does.
        let parsed = if single {
            text.parse::<f32>().map(f64::from)
        } else {
            text.parse::<f64>()
        };
        parsed.map_err(|_| Stop::Matching)?
    };
    Ok(if negative { -value } else { value })
}

/// A number's text as scanned (longer ones are cut: `strtod` would see
/// more digits, which cannot change a correctly rounded result this far
/// past the 17th significant digit for ordinary inputs).
struct Collected {
    bytes: [u8; 512],
    len: usize,
}

impl Collected {
    fn push(&mut self, byte: u8) {
        if self.len < self.bytes.len() {
            self.bytes[self.len] = byte;
            self.len += 1;
        }
    }
}

/// A hexadecimal float's value from its digits (with an optional point)
/// and its `e`-marked binary exponent. The first 15 significant digits
/// are kept exactly, later ones only as a sticky bit.
fn hex_float(mantissa: &[u8], exponent: &[u8]) -> f64 {
    let mut bits: u64 = 0;
    let mut scale: i64 = 0;
    let mut after_point = false;
    let mut significant = 0;
    for &byte in mantissa {
        if byte == b'.' {
            after_point = true;
            continue;
        }
        let digit = u64::from(char::from(byte).to_digit(16).unwrap_or(0));
        if significant < 15 {
            bits = bits * 16 + digit;
            if bits != 0 {
                significant += 1;
            }
            if after_point {
                scale -= 4;
            }
        } else {
            bits |= u64::from(digit != 0);
            if !after_point {
                scale += 4;
            }
        }
    }
    let (negative, digits) = match exponent.get(1) {
        Some(b'-') => (true, &exponent[2..]),
        _ => (false, exponent.get(1..).unwrap_or(&[])),
    };
    let mut power: i64 = 0;
    for &byte in digits {
        power = (power * 10 + i64::from(byte - b'0')).min(100_000);
    }
    let power = if negative { -power } else { power } + scale;
    let mut value = bits as f64;
    let mut rest = power.clamp(-4000, 4000);
    while rest != 0 {
        let step = rest.clamp(-1000, 1000);
        value *= f64::from_bits(((1023 + step) as u64) << 52);
        rest -= step;
    }
    value
}

/// Where `%c`, `%s` and `%[` put what they read.
enum Destination {
    /// Suppressed (`*`).
    Discard,
    /// The caller's buffer.
    Buffer(*mut u8),
    /// A new `malloc` allocation, stored through the pointer (`m`).
    Allocate(*mut *mut u8),
}

/// `%c`, `%s` and `%[`: bytes into the destination (`%c` without a NUL),
/// or (`wide`) as `wchar_t`s.
///
/// # Safety
/// A `Buffer` destination is large enough for what is read; an `Allocate`
/// one is valid for a pointer write.
unsafe fn characters(
    scanner: &mut Scanner,
    mut width: usize,
    conversion: u8,
    set: Option<&[bool; 256]>,
    destination: Destination,
    wide: bool,
) -> Result<(), Stop> {
    let unit = if wide { 4 } else { 1 };
    let (mut base, mut capacity) = match destination {
        Destination::Buffer(buf) => (buf, usize::MAX),
        _ => (core::ptr::null_mut(), 0),
    };
    let allocating = matches!(destination, Destination::Allocate(_));
    let mut count = 0;
    let accept = |b: u8| match conversion {
        b'c' => true,
        b's' => !is_space(b),
        _ => set.is_some_and(|set| set[usize::from(b)]),
    };
    let terminated = conversion != b'c';
    while let Some(byte) = scanner.take_if(&mut width, accept) {
        // Room for this unit and the terminator.
        if allocating && count + 2 > capacity {
            let grown = (capacity * 2).max(100);
            // SAFETY: `base` is null or this conversion's allocation.
            let new = unsafe { realloc(base.cast(), grown * unit) }.cast::<u8>();
            if new.is_null() {
                // SAFETY: as above.
                unsafe { free(base.cast()) };
                errno::set(code::ENOMEM);
                return Err(Stop::Input);
            }
            base = new;
            capacity = grown;
        }
        if !base.is_null() {
            // SAFETY: per the caller, or the allocation's room checked above.
            unsafe { put_unit(base, count, byte, wide) };
        }
        count += 1;
    }
    if count == 0 {
        return Err(if scanner.peek().is_none() {
            Stop::Input
        } else {
            Stop::Matching
        });
    }
    if !base.is_null() && terminated {
        // SAFETY: per the caller, or the allocation's room kept for it.
        unsafe { put_unit(base, count, 0, wide) };
    }
    if let Destination::Allocate(out) = destination {
        // SAFETY: per the caller.
        unsafe { out.write(base) };
    }
    Ok(())
}

/// Writes unit `index` of a byte or `wchar_t` buffer.
///
/// # Safety
/// `base` has room for `index + 1` units.
unsafe fn put_unit(base: *mut u8, index: usize, byte: u8, wide: bool) {
    // SAFETY: per the caller.
    unsafe {
        if wide {
            base.cast::<u32>()
                .add(index)
                .write_unaligned(u32::from(byte));
        } else {
            base.add(index).write(byte);
        }
    }
}

/// A `%[...]` set starting at `at` (after the `[`): the accepted bytes and
/// the index after the closing `]`.
fn scan_set(format: &[u8], mut at: usize) -> Option<([bool; 256], usize)> {
    let mut set = [false; 256];
    let invert = format.get(at) == Some(&b'^');
    if invert {
        at += 1;
    }
    let start = at;
    loop {
        let byte = *format.get(at)?;
        if byte == b']' && at > start {
            at += 1;
            break;
        }
        if format.get(at + 1) == Some(&b'-')
            && let Some(&end) = format.get(at + 2)
            && end != b']'
            && end >= byte
        {
            for b in byte..=end {
                set[usize::from(b)] = true;
            }
            at += 3;
        } else {
            set[usize::from(byte)] = true;
            at += 1;
        }
    }
    if invert {
        for slot in &mut set {
            *slot = !*slot;
        }
    }
    Some((set, at))
}

/// Stores an integer through the next pointer, cut to the size named.
///
/// # Safety
/// The next argument points to an integer of that size.
unsafe fn store_integer(args: &mut VaList, length: Length, value: u64) {
    // SAFETY: per the caller.
    unsafe {
        let ptr = args.next_u64() as usize;
        match length {
            Length::Char => (ptr as *mut u8).write(value as u8),
            Length::Short => (ptr as *mut u16).write(value as u16),
            Length::Int => (ptr as *mut u32).write(value as u32),
            Length::Long | Length::LongDouble => (ptr as *mut u64).write(value),
        }
    }
}

/// Stores a float through the next pointer: `float` (no modifier),
/// `double` (`l`) or `long double` (`L`).
///
/// # Safety
/// The next argument points to a value of that type.
unsafe fn store_float(args: &mut VaList, length: Length, value: f64) {
    // SAFETY: per the caller.
    unsafe {
        let ptr = args.next_u64() as usize;
        match length {
            Length::Long => (ptr as *mut f64).write(value),
            Length::LongDouble => (ptr as *mut [u8; 10]).write(f64_to_extended(value)),
            _ => (ptr as *mut f32).write(value as f32),
        }
    }
}

/// A `double` as an x87 80-bit extended value (exact).
fn f64_to_extended(value: f64) -> [u8; 10] {
    let bits = value.to_bits();
    let sign = ((bits >> 63) as u16) << 15;
    let exponent = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1 << 52) - 1);
    let (exponent, mantissa) = match exponent {
        0 if fraction == 0 => (0, 0),
        0 => {
            // Subnormal: normalise, the extended range holds it.
            let shift = fraction.leading_zeros();
            (16383 - 1022 - (shift as i32 - 11), fraction << shift)
        }
        0x7ff => (0x7fff, (1 << 63) | (fraction << 11)),
        _ => (exponent - 1023 + 16383, (1 << 63) | (fraction << 11)),
    };
    let mut out = [0u8; 10];
    out[..8].copy_from_slice(&mantissa.to_le_bytes());
    out[8..].copy_from_slice(&(sign | exponent as u16).to_le_bytes());
    out
}

/// `vsscanf(3)`, as glibc's `__isoc99_vsscanf`.
///
/// # Safety
/// `s` and `format` are NUL-terminated strings; `args` holds pointers of
/// the types the conversions name.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __isoc99_vsscanf(
    s: *const c_char,
    format: *const c_char,
    args: *mut VaList,
) -> CInt {
    // SAFETY: per the caller.
    unsafe { string_scan(s, format, args, false) }
}

/// `__isoc23_vsscanf`: `%i` also reads `0b` numbers.
///
/// # Safety
/// As [`__isoc99_vsscanf`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __isoc23_vsscanf(
    s: *const c_char,
    format: *const c_char,
    args: *mut VaList,
) -> CInt {
    // SAFETY: per the caller.
    unsafe { string_scan(s, format, args, true) }
}

/// `vsscanf(3)`.
///
/// # Safety
/// As [`__isoc99_vsscanf`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vsscanf(
    s: *const c_char,
    format: *const c_char,
    args: *mut VaList,
) -> CInt {
    // SAFETY: per the caller.
    unsafe { string_scan(s, format, args, false) }
}

/// # Safety
/// As [`__isoc99_vsscanf`].
unsafe fn string_scan(
    s: *const c_char,
    format: *const c_char,
    args: *mut VaList,
    binary: bool,
) -> CInt {
    traced!("vsscanf"(s, format) {
    // SAFETY: per the caller.
    let mut input = Text { bytes: unsafe { CStr::from_ptr(s) }.to_bytes(), at: 0 };
    // SAFETY: per the caller.
    unsafe { scan(&mut input, format, &mut *args, binary) }
    })
}

/// # Safety
/// `file` is an open stream; otherwise as [`__isoc99_vsscanf`].
unsafe fn stream_scan(
    file: *mut File,
    format: *const c_char,
    args: *mut VaList,
    binary: bool,
) -> CInt {
    traced!("vfscanf"(file, format) {
    // SAFETY: per the caller.
    let mut file = unsafe { stream::stream(file) };
    let mut input = Stream(&mut file);
    // SAFETY: per the caller.
    unsafe { scan(&mut input, format, &mut *args, binary) }
    })
}

/// `vfscanf(3)`, as glibc's `__isoc99_vfscanf`.
///
/// # Safety
/// `file` is an open stream; otherwise as [`__isoc99_vsscanf`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __isoc99_vfscanf(
    file: *mut File,
    format: *const c_char,
    args: *mut VaList,
) -> CInt {
    // SAFETY: per the caller.
    unsafe { stream_scan(file, format, args, false) }
}

/// `__isoc23_vfscanf`.
///
/// # Safety
/// As [`__isoc99_vfscanf`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __isoc23_vfscanf(
    file: *mut File,
    format: *const c_char,
    args: *mut VaList,
) -> CInt {
    // SAFETY: per the caller.
    unsafe { stream_scan(file, format, args, true) }
}

/// `vfscanf(3)`.
///
/// # Safety
/// As [`__isoc99_vfscanf`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vfscanf(
    file: *mut File,
    format: *const c_char,
    args: *mut VaList,
) -> CInt {
    // SAFETY: per the caller.
    unsafe { stream_scan(file, format, args, false) }
}

/// `vscanf(3)`, as glibc's `__isoc99_vscanf`.
///
/// # Safety
/// As [`__isoc99_vsscanf`], reading `stdin`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __isoc99_vscanf(format: *const c_char, args: *mut VaList) -> CInt {
    // SAFETY: per the caller; `stdin` is a stream.
    unsafe { stream_scan(stream::stdin.load(Ordering::Relaxed), format, args, false) }
}

/// `__isoc23_vscanf`.
///
/// # Safety
/// As [`__isoc99_vscanf`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __isoc23_vscanf(format: *const c_char, args: *mut VaList) -> CInt {
    // SAFETY: per the caller; `stdin` is a stream.
    unsafe { stream_scan(stream::stdin.load(Ordering::Relaxed), format, args, true) }
}

/// `vscanf(3)`.
///
/// # Safety
/// As [`__isoc99_vscanf`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vscanf(format: *const c_char, args: *mut VaList) -> CInt {
    // SAFETY: per the caller.
    unsafe { __isoc99_vscanf(format, args) }
}

variadic!("sscanf", 2, vsscanf);
variadic!("__isoc99_sscanf", 2, __isoc99_vsscanf);
variadic!("__isoc23_sscanf", 2, __isoc23_vsscanf);
variadic!("fscanf", 2, vfscanf);
variadic!("__isoc99_fscanf", 2, __isoc99_vfscanf);
variadic!("__isoc23_fscanf", 2, __isoc23_vfscanf);
variadic!("scanf", 1, vscanf);
variadic!("__isoc99_scanf", 1, __isoc99_vscanf);
variadic!("__isoc23_scanf", 1, __isoc23_vscanf);
