//! The functions of `math.h` that take a value apart or build one: `frexp`,
//! `modf`, `ldexp`, `scalbn`, `scalbln`, `ilogb`, `logb`, `nan`.

use core::ffi::{CStr, c_char, c_int, c_long};

use super::errno_rules::{ilogb_domain, scaled};

/// The functions for one width.
macro_rules! parts {
    ($F:ty, $Bits:ty, $quiet:expr; $frexp:ident = $l_frexp:path; $modf:ident = $l_modf:path;
     $ldexp:ident, $scalbn:ident, $scalbln:ident = $l_scalbn:path;
     $ilogb:ident = $l_ilogb:path; $logb:ident; $nan:ident) => {
        #[doc = concat!("`", stringify!($frexp), "(3)`.")]
        ///
        /// # Safety
        /// `exp` must be valid for writing an `int`.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $frexp(x: $F, exp: *mut c_int) -> $F {
            let (mantissa, e) = $l_frexp(x);
            // SAFETY: per the caller.
            unsafe { exp.write(e) };
            mantissa
        }

        #[doc = concat!("`", stringify!($modf), "(3)`.")]
        ///
        /// # Safety
        /// `int` must be valid for writes.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $modf(x: $F, int: *mut $F) -> $F {
            let (fraction, integral) = $l_modf(x);
            // SAFETY: per the caller.
            unsafe { int.write(integral) };
            fraction
        }

        #[doc = concat!("`", stringify!($scalbn), "(3)`.")]
        #[unsafe(no_mangle)]
        pub extern "C" fn $scalbn(x: $F, exp: c_int) -> $F {
            scaled(x, $l_scalbn(x, exp))
        }

        #[doc = concat!("`", stringify!($ldexp), "(3)`: `", stringify!($scalbn), "`.")]
        #[unsafe(no_mangle)]
        pub extern "C" fn $ldexp(x: $F, exp: c_int) -> $F {
            $scalbn(x, exp)
        }

        #[doc = concat!("`", stringify!($scalbln), "(3)`: an exponent beyond `int` ")]
        /// over- or underflows any value, so clamping it changes nothing.
        #[unsafe(no_mangle)]
        pub extern "C" fn $scalbln(x: $F, exp: c_long) -> $F {
            $scalbn(x, exp.clamp(c_int::MIN.into(), c_int::MAX.into()) as c_int)
        }

        #[doc = concat!("`", stringify!($ilogb), "(3)`.")]
        #[unsafe(no_mangle)]
        pub extern "C" fn $ilogb(x: $F) -> c_int {
            ilogb_domain(x);
            $l_ilogb(x)
        }

        #[doc = concat!("`", stringify!($logb), "(3)`: the exponent as a float; `-inf` ")]
        /// for zero, without `errno` (as glibc). Hand-written: `libm` has
        /// only `ilogb`, whose sentinels need translating.
        #[unsafe(no_mangle)]
        pub extern "C" fn $logb(x: $F) -> $F {
            if x == 0.0 {
                <$F>::NEG_INFINITY
            } else if !x.is_finite() {
                x * x
            } else {
                $l_ilogb(x) as $F
            }
        }

        #[doc = concat!("`", stringify!($nan), "(3)`: a quiet NaN whose payload is the ")]
        /// tag read as an unsigned number (base prefix allowed), as glibc
        /// does; a tag that is not one gives the default NaN.
        ///
        /// # Safety
        /// `tag` must be a NUL-terminated string.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $nan(tag: *const c_char) -> $F {
            // SAFETY: per the caller.
            let tag = unsafe { CStr::from_ptr(tag) }.to_bytes();
            let payload_mask: $Bits = $quiet - 1;
            let payload = crate::stdlib::number::parse_unsigned_tag(tag)
                .map_or(0, |value| value as $Bits & payload_mask);
            <$F>::from_bits(<$F>::NAN.to_bits() | $quiet | payload)
        }
    };
}

parts!(f64, u64, 1 << 51; frexp = libm::frexp; modf = libm::modf;
    ldexp, scalbn, scalbln = libm::scalbn; ilogb = libm::ilogb; logb; nan);
parts!(f32, u32, 1 << 22; frexpf = libm::frexpf; modff = libm::modff;
    ldexpf, scalbnf, scalblnf = libm::scalbnf; ilogbf = libm::ilogbf; logbf; nanf);
