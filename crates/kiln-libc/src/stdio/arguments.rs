//! Where printf's conversions take their arguments from: the `va_list` in
//! order, or (for `%n$` formats) values gathered from it beforehand.
//!
//! Positional formats name their arguments by number, in any order, but a
//! `va_list` can only be read front to back, knowing each argument's
//! class. So the format is read once to learn the class of every
//! position, the arguments are read in order into a table, and the
//! conversions then pick from it, as glibc does.

use super::va_list::VaList;
use crate::CInt;
use crate::errno::code;

/// The argument sources a conversion reads from.
pub trait Arguments {
    /// The next integer or pointer.
    ///
    /// # Safety
    /// One more integer-class argument was passed.
    unsafe fn integer(&mut self) -> u64;

    /// The next `double`.
    ///
    /// # Safety
    /// One more `double` was passed.
    unsafe fn double(&mut self) -> f64;

    /// The next `long double`'s 16 bytes.
    ///
    /// # Safety
    /// One more `long double` was passed.
    unsafe fn long_double(&mut self) -> [u8; 16];
}

impl Arguments for VaList {
    unsafe fn integer(&mut self) -> u64 {
        // SAFETY: per the caller.
        unsafe { self.next_u64() }
    }

    unsafe fn double(&mut self) -> f64 {
        // SAFETY: per the caller.
        unsafe { self.next_f64() }
    }

    unsafe fn long_double(&mut self) -> [u8; 16] {
        // SAFETY: per the caller.
        unsafe { self.next_long_double() }
    }
}

/// The System V classes printf's arguments come in.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Integer,
    Double,
    LongDouble,
}

/// One argument, read.
#[derive(Clone, Copy)]
pub enum Value {
    Integer(u64),
    Double(f64),
    LongDouble([u8; 16]),
}

impl Arguments for Value {
    unsafe fn integer(&mut self) -> u64 {
        match *self {
            Self::Integer(value) => value,
            _ => 0,
        }
    }

    unsafe fn double(&mut self) -> f64 {
        match *self {
            Self::Double(value) => value,
            _ => 0.0,
        }
    }

    unsafe fn long_double(&mut self) -> [u8; 16] {
        match *self {
            Self::LongDouble(value) => value,
            _ => [0; 16],
        }
    }
}

/// The most argument positions a format may use (glibc has no fixed
/// limit; a larger one fails with `EINVAL`).
pub const MAX_POSITIONS: usize = 128;

/// The classes of positions 1..: filled from the format, then read.
pub struct Positions {
    classes: [Option<Class>; MAX_POSITIONS],
    used: usize,
}

impl Default for Positions {
    fn default() -> Self {
        Self {
            classes: [None; MAX_POSITIONS],
            used: 0,
        }
    }
}

impl Positions {
    /// Records that position `n` (from 1) holds an argument of `class`.
    pub fn record(&mut self, n: usize, class: Class) -> Result<(), CInt> {
        if n == 0 || n > MAX_POSITIONS {
            return Err(code::EINVAL);
        }
        self.classes[n - 1] = Some(class);
        self.used = self.used.max(n);
        Ok(())
    }

    /// Reads every position in order; a gap is read as an integer.
    ///
    /// # Safety
    /// `args` holds arguments of the recorded classes at their positions.
    pub unsafe fn read(&self, args: &mut VaList) -> [Value; MAX_POSITIONS] {
        let mut values = [Value::Integer(0); MAX_POSITIONS];
        for (value, class) in values.iter_mut().zip(&self.classes[..self.used]) {
            // SAFETY: per the caller.
            *value = unsafe {
                match class.unwrap_or(Class::Integer) {
                    Class::Integer => Value::Integer(args.integer()),
                    Class::Double => Value::Double(args.double()),
                    Class::LongDouble => Value::LongDouble(args.long_double()),
                }
            };
        }
        values
    }
}
