//! Rounding to integers: `lround`, `llround`, `lrint`, `llrint` and
//! `nearbyint`. `libm` has the rounding but not the conversions, whose
//! out-of-range answer is x86's "integer indefinite" (`LONG_MIN`), not
//! Rust's saturation; glibc sets no `errno` for it.

use core::ffi::{c_long, c_longlong};

/// `value` as a `long`, or `LONG_MIN` when out of range or NaN, as
/// `cvttsd2si` answers.
fn to_long<F: Into<f64>>(value: F) -> c_long {
    let value: f64 = value.into();
    // 2^63: the first value past `long`'s range.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if (-LIMIT..LIMIT).contains(&value) {
        value as c_long
    } else {
        c_long::MIN
    }
}

/// The functions for one width. `rint` rounds to nearest, ties to even:
/// Kiln never changes the rounding mode.
macro_rules! rounding {
    ($F:ty; $lround:ident, $llround:ident = $l_round:path;
     $lrint:ident, $llrint:ident, $nearbyint:ident = $l_rint:path) => {
        #[doc = concat!("`", stringify!($lround), "(3)`.")]
        #[unsafe(no_mangle)]
        pub extern "C" fn $lround(x: $F) -> c_long {
            to_long($l_round(x))
        }

        #[doc = concat!("`", stringify!($llround), "(3)`.")]
        #[unsafe(no_mangle)]
        pub extern "C" fn $llround(x: $F) -> c_longlong {
            $lround(x)
        }

        #[doc = concat!("`", stringify!($lrint), "(3)`.")]
        #[unsafe(no_mangle)]
        pub extern "C" fn $lrint(x: $F) -> c_long {
            to_long($l_rint(x))
        }

        #[doc = concat!("`", stringify!($llrint), "(3)`.")]
        #[unsafe(no_mangle)]
        pub extern "C" fn $llrint(x: $F) -> c_longlong {
            $lrint(x)
        }

        #[doc = concat!("`", stringify!($nearbyint), "(3)`.")]
        #[unsafe(no_mangle)]
        pub extern "C" fn $nearbyint(x: $F) -> $F {
            $l_rint(x)
        }
    };
}

rounding!(f64; lround, llround = libm::round; lrint, llrint, nearbyint = libm::rint);
rounding!(f32; lroundf, llroundf = libm::roundf; lrintf, llrintf, nearbyintf = libm::rintf);
