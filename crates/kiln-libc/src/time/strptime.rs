//! `strptime` in the C locale, as glibc parses: whitespace in the format
//! matches any run of whitespace, names match case-insensitively in full
//! or abbreviated, numbers skip leading spaces and take at most their
//! width, and at the end the fields the input did not give (weekday, day
//! of the year, month and day from `%j` or week numbers) are derived from
//! the ones it did, by glibc's rules. Written here because no maintained
//! `no_std` crate parses glibc's format language.

use core::ffi::{CStr, c_char};

use super::calendar::{Tm, localtime_r};
use super::names::{DAYS, MONTHS, abbreviated};

/// Days before each month, in common and leap years.
const MONTH_STARTS: [[i32; 13]; 2] = [
    [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365],
    [0, 31, 60, 91, 121, 152, 182, 213, 244, 274, 305, 335, 366],
];

fn is_leap(year: i32) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// glibc's locale guess. An `O` conversion looks for the locale's
/// alternative digits first; the C locale has none, so the first one
/// decides for "the locale's" and parses plain digits, and any later one
/// then fails. An era conversion (`%EC`, `%EY`, `%Ey`) finds no era and
/// decides for the C forms, or fails once "the locale's" was decided.
#[derive(Default, Clone, Copy, PartialEq)]
enum Guess {
    #[default]
    Undecided,
    Locale,
    Plain,
}

/// What the conversions so far have given, for the fields derived at the
/// end.
#[derive(Default)]
struct Seen {
    twelve_hour: bool,
    weekday: bool,
    year_day: bool,
    month: bool,
    month_day: bool,
    sunday_week: bool,
    monday_week: bool,
    pm: bool,
    want_century: bool,
    want_era: bool,
    want_derived: bool,
    /// glibc's guess at which representations the input uses, which
    /// the `E` and `O` conversions consult.
    locale: Guess,
    week: i32,
    century: Option<i32>,
}

struct Parser<'a> {
    input: &'a [u8],
    at: usize,
    tm: &'a mut Tm,
    seen: Seen,
}

impl Parser<'_> {
    fn peek(&self) -> u8 {
        self.input.get(self.at).copied().unwrap_or(0)
    }

    fn skip_spaces(&mut self) {
        while is_space(self.peek()) {
            self.at += 1;
        }
    }

    /// A number of at most `digits` digits (fewer if another would pass
    /// `to`) in `from..=to`, after any spaces.
    fn number(&mut self, from: u64, to: u64, digits: u32) -> Option<i32> {
        self.skip_spaces();
        if !self.peek().is_ascii_digit() {
            return None;
        }
        let mut value = 0u64;
        let mut left = digits;
        loop {
            value = value * 10 + u64::from(self.peek() - b'0');
            self.at += 1;
            left -= 1;
            if left == 0 || value * 10 > to || !self.peek().is_ascii_digit() {
                break;
            }
        }
        (from..=to).contains(&value).then_some(value as i32)
    }

    /// The index of the longest name in `names` (in full or its first
    /// three letters) the input starts with, ignoring case.
    fn name(&mut self, names: &[&str]) -> Option<i32> {
        let rest = &self.input[self.at..];
        let starts =
            |n: &str| rest.len() >= n.len() && rest[..n.len()].eq_ignore_ascii_case(n.as_bytes());
        let mut best: Option<(usize, usize)> = None;
        for (i, full) in names.iter().enumerate() {
            for candidate in [*full, abbreviated(full)] {
                if starts(candidate) && best.is_none_or(|(_, len)| candidate.len() > len) {
                    best = Some((i, candidate.len()));
                }
            }
        }
        let (index, len) = best?;
        self.at += len;
        Some(index as i32)
    }

    /// `%p`: `AM` (false) or `PM` (true), in any case.
    fn meridiem(&mut self) -> Option<bool> {
        let rest = &self.input[self.at..];
        let pm = match rest.get(..2) {
            Some(t) if t.eq_ignore_ascii_case(b"AM") => false,
            Some(t) if t.eq_ignore_ascii_case(b"PM") => true,
            _ => return None,
        };
        self.at += 2;
        Some(pm)
    }

    fn literal(&mut self, expected: u8) -> Option<()> {
        (self.peek() == expected && expected != 0).then(|| self.at += 1)
    }

    fn parse(&mut self, format: &[u8]) -> Option<()> {
        let mut f = 0;
        while f < format.len() {
            let c = format[f];
            f += 1;
            if is_space(c) {
                self.skip_spaces();
                continue;
            }
            if c != b'%' {
                self.literal(c)?;
                continue;
            }
            // strftime's flags and widths mean nothing here.
            while matches!(format.get(f), Some(b'-' | b'_' | b'0' | b'^' | b'#')) {
                f += 1;
            }
            while format.get(f).is_some_and(u8::is_ascii_digit) {
                f += 1;
            }
            let conversion = *format.get(f)?;
            f += 1;
            match conversion {
                b'E' => {
                    let next = *format.get(f)?;
                    f += 1;
                    self.era_conversion(next)?;
                }
                b'O' => {
                    let next = *format.get(f)?;
                    f += 1;
                    if matches!(next, b'b' | b'B' | b'h') {
                        self.conversion(next)?;
                        continue;
                    }
                    match self.seen.locale {
                        Guess::Undecided => self.seen.locale = Guess::Locale,
                        Guess::Locale => return None,
                        Guess::Plain => {}
                    }
                    match next {
                        b'd' | b'e' | b'H' | b'I' | b'm' | b'M' | b'S' | b'U' | b'W' | b'V'
                        | b'w' => self.conversion(next)?,
                        b'y' => {
                            // Unlike `%y`, the century is not wanted.
                            let year = self.number(0, 99, 2)?;
                            self.tm.year = if year >= 69 { year } else { year + 100 };
                            self.seen.want_derived = true;
                        }
                        _ => return None,
                    }
                }
                _ => self.conversion(conversion)?,
            }
        }
        Some(())
    }

    /// `%E` and its conversion: the C locale has no eras, so each is its
    /// plain form, with glibc's differences (`%Ex` does not derive the
    /// weekday; `%Ey` first reads a full year while the guess is open;
    /// the era conversions fail once the guess is "the locale's").
    fn era_conversion(&mut self, conversion: u8) -> Option<()> {
        let era = matches!(conversion, b'C' | b'Y' | b'y');
        if era && self.seen.locale == Guess::Locale && conversion != b'y' {
            return None;
        }
        match conversion {
            b'c' | b'C' | b'Y' | b'X' => self.conversion(conversion)?,
            b'x' => self.parse(b"%m/%d/%y")?,
            b'y' => {
                if self.seen.locale != Guess::Plain {
                    self.tm.year = self.number(0, 9999, 4)?;
                    self.seen.want_era = true;
                    self.seen.want_derived = true;
                    self.seen.want_century = true;
                    if self.seen.locale == Guess::Locale {
                        return None;
                    }
                    self.seen.locale = Guess::Plain;
                }
                self.conversion(b'y')?;
            }
            _ => return None,
        }
        if era {
            self.seen.locale = Guess::Plain;
        }
        Some(())
    }

    fn conversion(&mut self, conversion: u8) -> Option<()> {
        match conversion {
            b'%' => self.literal(b'%')?,
            b'a' | b'A' => {
                let start = self.at;
                self.tm.wday = self.name(&DAYS)?;
                self.seen.weekday = true;
                // Once the C forms are decided on, glibc matches an
                // abbreviated weekday without moving past it.
                if self.seen.locale == Guess::Plain && self.at - start == 3 {
                    self.at = start;
                }
            }
            b'b' | b'B' | b'h' => {
                self.tm.mon = self.name(&MONTHS)?;
                self.seen.month = true;
                self.seen.want_derived = true;
            }
            b'c' => {
                self.parse(b"%a %b %e %H:%M:%S %Y")?;
                self.seen.want_derived = true;
            }
            b'C' => {
                self.seen.century = Some(self.number(0, 99, 2)?);
                self.seen.want_derived = true;
            }
            b'd' | b'e' => {
                self.tm.mday = self.number(1, 31, 2)?;
                self.seen.month_day = true;
                self.seen.want_derived = true;
            }
            b'F' => {
                self.parse(b"%Y-%m-%d")?;
                self.seen.want_derived = true;
            }
            b'x' | b'D' => {
                self.parse(b"%m/%d/%y")?;
                self.seen.want_derived = true;
            }
            b'k' | b'H' => {
                self.tm.hour = self.number(0, 23, 2)?;
                self.seen.twelve_hour = false;
            }
            b'l' | b'I' => {
                self.tm.hour = self.number(1, 12, 2)? % 12;
                self.seen.twelve_hour = true;
            }
            b'j' => {
                self.tm.yday = self.number(1, 366, 3)? - 1;
                self.seen.year_day = true;
            }
            b'm' => {
                self.tm.mon = self.number(1, 12, 2)? - 1;
                self.seen.month = true;
                self.seen.want_derived = true;
            }
            b'M' => self.tm.min = self.number(0, 59, 2)?,
            b'n' | b't' => self.skip_spaces(),
            b'p' => self.seen.pm = self.meridiem()?,
            b'r' => self.parse(b"%I:%M:%S %p")?,
            b'R' => self.parse(b"%H:%M")?,
            b's' => {
                if !self.peek().is_ascii_digit() {
                    return None;
                }
                let mut secs: i64 = 0;
                while self.peek().is_ascii_digit() {
                    secs = secs
                        .wrapping_mul(10)
                        .wrapping_add(i64::from(self.peek() - b'0'));
                    self.at += 1;
                }
                // SAFETY: both pointers are valid for their accesses.
                if unsafe { localtime_r(&secs, self.tm) }.is_null() {
                    return None;
                }
            }
            b'S' => self.tm.sec = self.number(0, 61, 2)?,
            b'X' | b'T' => self.parse(b"%H:%M:%S")?,
            b'u' => {
                self.tm.wday = self.number(1, 7, 1)? % 7;
                self.seen.weekday = true;
            }
            b'g' => {
                self.number(0, 99, 2)?;
            }
            b'G' => {
                if !self.peek().is_ascii_digit() {
                    return None;
                }
                while self.peek().is_ascii_digit() {
                    self.at += 1;
                }
            }
            b'U' | b'W' => {
                self.seen.week = self.number(0, 53, 2)?;
                if conversion == b'U' {
                    self.seen.sunday_week = true;
                } else {
                    self.seen.monday_week = true;
                }
            }
            b'V' => {
                self.number(0, 53, 2)?;
            }
            b'w' => {
                self.tm.wday = self.number(0, 6, 1)?;
                self.seen.weekday = true;
            }
            b'y' => {
                let year = self.number(0, 99, 2)?;
                self.tm.year = if year >= 69 { year } else { year + 100 };
                self.seen.want_century = true;
                self.seen.want_derived = true;
            }
            b'Y' => {
                self.tm.year = self.number(0, 9999, 4)? - 1900;
                self.seen.want_century = false;
                self.seen.want_derived = true;
            }
            b'Z' => {
                self.skip_spaces();
                while self.peek() != 0 && !is_space(self.peek()) {
                    self.at += 1;
                }
            }
            b'z' => self.offset()?,
            _ => return None,
        }
        Some(())
    }

    /// `%z`: `Z`, or a sign and `hh`, `hhmm` or `hh:mm`.
    fn offset(&mut self) -> Option<()> {
        self.skip_spaces();
        if self.peek() == b'Z' {
            self.at += 1;
            self.tm.gmtoff = 0;
            return Some(());
        }
        let negative = match self.peek() {
            b'+' => false,
            b'-' => true,
            _ => return None,
        };
        self.at += 1;
        let (mut value, mut digits) = (0i64, 0);
        while digits < 4 && self.peek().is_ascii_digit() {
            value = value * 10 + i64::from(self.peek() - b'0');
            self.at += 1;
            digits += 1;
            if digits == 2
                && self.peek() == b':'
                && self.input.get(self.at + 1).is_some_and(u8::is_ascii_digit)
            {
                self.at += 1;
            }
        }
        match digits {
            2 => value *= 100,
            4 if value % 100 < 60 => {}
            _ => return None,
        }
        let seconds = (value / 100) * 3600 + (value % 100) * 60;
        self.tm.gmtoff = if negative { -seconds } else { seconds };
        Some(())
    }

    /// glibc's weekday formula (January 1st 1970 was a Thursday).
    fn derive_weekday(&mut self) {
        let tm = &mut *self.tm;
        let corrected = 1900 + tm.year - i32::from(tm.mon < 2);
        let quads = corrected / 4;
        let start = usize::try_from(tm.mon).map_or(0, |m| MONTH_STARTS[0][m.min(12)]);
        let days = -473 + 365 * (tm.year - 70) + quads - quads / 25
            + i32::from(quads % 25 < 0)
            + quads / 25 / 4
            + start
            + tm.mday
            - 1;
        tm.wday = (days % 7 + 7) % 7;
    }

    fn derive_year_day(&mut self) {
        let tm = &mut *self.tm;
        let leap = usize::from(is_leap(1900 + tm.year));
        let start = usize::try_from(tm.mon).map_or(0, |m| MONTH_STARTS[leap][m.min(12)]);
        tm.yday = start + tm.mday - 1;
    }

    /// Month and day from the day of the year, for those not given.
    fn derive_month_and_day(&mut self) {
        let tm = &mut *self.tm;
        let starts = &MONTH_STARTS[usize::from(is_leap(1900 + tm.year))];
        let month = starts.iter().take_while(|&&s| s <= tm.yday).count().max(1);
        if !self.seen.month {
            tm.mon = month as i32 - 1;
        }
        if !self.seen.month_day {
            tm.mday = tm.yday - starts[month - 1] + 1;
        }
    }

    /// The fields glibc derives once the whole input is read.
    fn finish(&mut self) {
        if self.seen.twelve_hour && self.seen.pm {
            self.tm.hour += 12;
        }
        if let Some(century) = self.seen.century {
            self.tm.year = if self.seen.want_century {
                self.tm.year % 100 + (century - 19) * 100
            } else {
                (century - 19) * 100
            };
        } else if self.seen.want_era && self.seen.want_century && self.tm.year < 69 {
            self.tm.year += 100;
        }
        let month_known = |s: &Seen, tm: &Tm| s.month || (0..=11).contains(&tm.mon);
        if self.seen.want_derived && !self.seen.weekday {
            if !(self.seen.month && self.seen.month_day) && self.seen.year_day {
                self.derive_month_and_day();
                self.seen.month = true;
                self.seen.month_day = true;
            }
            if month_known(&self.seen, self.tm) {
                self.derive_weekday();
            }
        }
        if self.seen.want_derived && !self.seen.year_day && month_known(&self.seen, self.tm) {
            self.derive_year_day();
        }
        if (self.seen.sunday_week || self.seen.monday_week) && self.seen.weekday {
            let (weekday, mday, mon) = (self.tm.wday, self.tm.mday, self.tm.mon);
            let offset = if self.seen.sunday_week { 0 } else { 1 };
            self.tm.mday = 1;
            self.tm.mon = 0;
            self.derive_weekday();
            if self.seen.month_day {
                self.tm.mday = mday;
            }
            if self.seen.month {
                self.tm.mon = mon;
            }
            if !self.seen.year_day {
                self.tm.yday = (7 - (self.tm.wday - offset)) % 7
                    + (self.seen.week - 1) * 7
                    + (weekday - offset + 7) % 7;
            }
            if !self.seen.month_day || !self.seen.month {
                self.derive_month_and_day();
            }
            self.tm.wday = weekday;
        }
    }
}

/// `strptime(3)`: the first unparsed input byte, or null if the input does
/// not match the format.
///
/// # Safety
/// `input` and `format` must be C strings, `tm` valid for reads and
/// writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn strptime(
    input: *const c_char,
    format: *const c_char,
    tm: *mut Tm,
) -> *mut c_char {
    // SAFETY: per the caller.
    let (text, format, tm) = unsafe {
        (
            CStr::from_ptr(input).to_bytes(),
            CStr::from_ptr(format).to_bytes(),
            &mut *tm,
        )
    };
    let mut parser = Parser {
        input: text,
        at: 0,
        tm,
        seen: Seen::default(),
    };
    if parser.parse(format).is_none() {
        return core::ptr::null_mut();
    }
    parser.finish();
    // SAFETY: `at` is within the input string (at most its length).
    unsafe { input.add(parser.at) }.cast_mut()
}
