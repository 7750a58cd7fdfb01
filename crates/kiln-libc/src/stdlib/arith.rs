//! `abs`, `labs`, `llabs`, `div`, `ldiv`, `lldiv`.

use core::ffi::{c_int, c_long, c_longlong};

/// `abs(3)`: `INT_MIN` stays itself, as with glibc's two's complement.
#[unsafe(no_mangle)]
pub extern "C" fn abs(n: c_int) -> c_int {
    n.wrapping_abs()
}

/// `labs(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn labs(n: c_long) -> c_long {
    n.wrapping_abs()
}

/// `llabs(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn llabs(n: c_longlong) -> c_longlong {
    n.wrapping_abs()
}

/// `div_t`, `ldiv_t`, `lldiv_t`: quotient then remainder.
#[repr(C)]
pub struct Division<T> {
    quot: T,
    rem: T,
}

/// `div(3)`: truncating division.
#[unsafe(no_mangle)]
pub extern "C" fn div(n: c_int, d: c_int) -> Division<c_int> {
    Division {
        quot: n / d,
        rem: n % d,
    }
}

/// `ldiv(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn ldiv(n: c_long, d: c_long) -> Division<c_long> {
    Division {
        quot: n / d,
        rem: n % d,
    }
}

/// `lldiv(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn lldiv(n: c_longlong, d: c_longlong) -> Division<c_longlong> {
    Division {
        quot: n / d,
        rem: n % d,
    }
}
