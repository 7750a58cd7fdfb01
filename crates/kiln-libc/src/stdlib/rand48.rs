//! The `drand48` family: glibc's 48-bit linear congruential generator,
//! X' = (0x5DEECE66D * X + 0xB) mod 2^48, so a seed gives the sequence it
//! gives on Linux. The shared state starts at X = 0, as glibc's does
//! until `srand48` or `seed48`.

use core::ffi::{c_double, c_long, c_ushort};

use kiln_libos::preempt::Lock;

use crate::shared_buffer::SharedBuffer;

const MULTIPLIER: u64 = 0x5_DEEC_E66D;
const INCREMENT: u64 = 0xB;
const MASK: u64 = (1 << 48) - 1;

/// The shared state, and the old state `seed48` returns a pointer to.
static STATE: Lock<u64> = Lock::new(0);
static PREVIOUS: SharedBuffer<[c_ushort; 3]> = SharedBuffer::new([0; 3]);

fn step(x: u64) -> u64 {
    x.wrapping_mul(MULTIPLIER).wrapping_add(INCREMENT) & MASK
}

fn next_shared() -> u64 {
    let mut state = STATE.lock();
    *state = step(*state);
    *state
}

/// Steps a caller's state (`unsigned short[3]`, least significant first).
///
/// # Safety
/// `xsubi` must be valid for reading and writing three `unsigned short`s.
unsafe fn next_caller(xsubi: *mut c_ushort) -> u64 {
    // SAFETY: per the caller.
    let words = unsafe { &mut *xsubi.cast::<[c_ushort; 3]>() };
    let x = step(words.iter().rev().fold(0, |x, &w| x << 16 | u64::from(w)));
    for (i, word) in words.iter_mut().enumerate() {
        *word = (x >> (16 * i)) as c_ushort;
    }
    x
}

/// The 48 bits as a double in [0, 1) (exact: 48 bits fit).
fn fraction(x: u64) -> c_double {
    x as c_double / (1u64 << 48) as c_double
}

/// The top 31 bits, non-negative.
fn non_negative(x: u64) -> c_long {
    (x >> 17) as c_long
}

/// The top 32 bits, signed.
fn signed(x: u64) -> c_long {
    c_long::from((x >> 16) as u32 as i32)
}

/// `drand48(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn drand48() -> c_double {
    fraction(next_shared())
}

/// `lrand48(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn lrand48() -> c_long {
    non_negative(next_shared())
}

/// `mrand48(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn mrand48() -> c_long {
    signed(next_shared())
}

/// `erand48(3)`.
///
/// # Safety
/// `xsubi` must be valid for three `unsigned short`s.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn erand48(xsubi: *mut c_ushort) -> c_double {
    // SAFETY: per the caller.
    fraction(unsafe { next_caller(xsubi) })
}

/// `nrand48(3)`.
///
/// # Safety
/// As [`erand48`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nrand48(xsubi: *mut c_ushort) -> c_long {
    // SAFETY: per the caller.
    non_negative(unsafe { next_caller(xsubi) })
}

/// `jrand48(3)`.
///
/// # Safety
/// As [`erand48`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn jrand48(xsubi: *mut c_ushort) -> c_long {
    // SAFETY: per the caller.
    signed(unsafe { next_caller(xsubi) })
}

/// `srand48(3)`: X = the seed's low 32 bits, then 0x330E.
#[unsafe(no_mangle)]
pub extern "C" fn srand48(seed: c_long) {
    *STATE.lock() = (seed as u64 & 0xFFFF_FFFF) << 16 | 0x330E;
}

/// `seed48(3)`: sets X, returning a pointer to the previous X (in a
/// static buffer, as in glibc).
///
/// # Safety
/// `seed` must be valid for reading three `unsigned short`s.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn seed48(seed: *const c_ushort) -> *mut c_ushort {
    // SAFETY: per the caller.
    let words = unsafe { *seed.cast::<[c_ushort; 3]>() };
    let mut state = STATE.lock();
    let previous = *state;
    *state = words.iter().rev().fold(0, |x, &w| x << 16 | u64::from(w));
    let buffer = PREVIOUS.get();
    // SAFETY: written only here, under the state's lock; readers are the
    // callers `seed48` gave the pointer to (see `SharedBuffer`).
    unsafe {
        *buffer = [
            previous as c_ushort,
            (previous >> 16) as c_ushort,
            (previous >> 32) as c_ushort,
        ];
    }
    buffer.cast()
}
