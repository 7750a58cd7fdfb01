//! The functions of `math.h` that map one or two values to one, and the
//! special functions (gamma, Bessel) that also return a sign or take an
//! order.

use core::ffi::c_int;
use core::sync::atomic::{AtomicI32, Ordering};

use super::errno_rules::{Float, atan2_checked, checked, stepped, underflow_checked};
use super::{binary, unary};

unary!(checked:
    sin / sinf, cos / cosf, tan / tanf, asin / asinf, acos / acosf, atan / atanf,
    sinh / sinhf, cosh / coshf, tanh / tanhf, asinh / asinhf, atanh / atanhf,
    expm1 / expm1f, log / logf, log2 / log2f, log10 / log10f, log1p / log1pf,
    erf / erff, j0 / j0f, y0 / y0f, y1 / y1f,
);
unary!(underflow_checked:
    exp / expf, exp2 / exp2f, exp10 / exp10f, erfc / erfcf, tgamma / tgammaf,
);
binary!(checked: hypot / hypotf, remainder / remainderf);

/// `acosh(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn acosh(x: f64) -> f64 {
    checked(&[x], libm::acosh(x))
}

/// `pow(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn pow(x: f64, y: f64) -> f64 {
    underflow_checked(&[x, y], libm::pow(x, y))
}

/// `powf(3)`: glibc's also reports an underflow when the exact result is
/// below 2^-149, even where it rounds up to the smallest subnormal.
#[unsafe(no_mangle)]
pub extern "C" fn powf(x: f32, y: f32) -> f32 {
    let result = libm::powf(x, y);
    let finite_nonzero = |v: f32| v.is_finite() && v != 0.0;
    let exact_log2 = f64::from(y) * libm::log2(f64::from(x).abs());
    if finite_nonzero(x)
        && finite_nonzero(y)
        && result.abs() <= f32::from_bits(1)
        && exact_log2 < -149.0
    {
        crate::errno::set(crate::errno::code::ERANGE);
        return result;
    }
    underflow_checked(&[x, y], result)
}

/// `acoshf(3)`: `libm`'s answers a number for large negative arguments,
/// where it is undefined (NaN, `EDOM`).
#[unsafe(no_mangle)]
pub extern "C" fn acoshf(x: f32) -> f32 {
    checked(&[x], if x < 1.0 { f32::NAN } else { libm::acoshf(x) })
}

/// Bessel functions of the first kind vanish at ±infinity with the sign
/// of J_n(x) there, which is odd in x for odd n: `-0` at `-inf`, as glibc
/// answers (`libm` answers `+0`).
fn bessel_first_kind<F: Float + core::ops::Neg<Output = F> + PartialOrd>(
    n: c_int,
    x: F,
    result: F,
) -> F {
    let (n, x) = if n < 0 {
        (n.wrapping_neg(), -x)
    } else {
        (n, x)
    };
    if x.is_infinite() && n % 2 != 0 && x < F::ZERO {
        -F::ZERO
    } else {
        result
    }
}

/// `j1(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn j1(x: f64) -> f64 {
    underflow_checked(&[x], bessel_first_kind(1, x, libm::j1(x)))
}

/// `j1f(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn j1f(x: f32) -> f32 {
    underflow_checked(&[x], bessel_first_kind(1, x, libm::j1f(x)))
}

/// `signgam`: the sign of gamma at the last `lgamma`/`lgammaf` argument.
#[unsafe(no_mangle)]
pub static signgam: AtomicI32 = AtomicI32::new(0);

/// The functions with extra arguments or results, for one width.
macro_rules! special {
    ($F:ty; $lgamma:ident, $lgamma_r:ident = $l_lgamma_r:path; $jn:ident = $l_jn:path;
     $yn:ident = $l_yn:path; $sincos:ident = $l_sincos:path; $remquo:ident = $l_remquo:path;
     $atan2:ident = $l_atan2:path; $nextafter:ident = $l_nextafter:path) => {
        #[doc = concat!("`", stringify!($lgamma_r), "(3)`.")]
        ///
        /// # Safety
        /// `sign` must be valid for writing an `int`.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $lgamma_r(x: $F, sign: *mut c_int) -> $F {
            let (result, s) = $l_lgamma_r(x);
            // SAFETY: per the caller.
            unsafe { sign.write(s) };
            checked(&[x], result)
        }

        #[doc = concat!("`", stringify!($lgamma), "(3)`: also sets `signgam`.")]
        #[unsafe(no_mangle)]
        pub extern "C" fn $lgamma(x: $F) -> $F {
            let (result, s) = $l_lgamma_r(x);
            signgam.store(s, Ordering::Relaxed);
            checked(&[x], result)
        }

        #[doc = concat!("`", stringify!($jn), "(3)`: Bessel function of the first kind.")]
        #[unsafe(no_mangle)]
        pub extern "C" fn $jn(n: c_int, x: $F) -> $F {
            underflow_checked(&[x], bessel_first_kind(n, x, $l_jn(n, x)))
        }

        #[doc = concat!("`", stringify!($yn), "(3)`: Bessel function of the second kind.")]
        #[unsafe(no_mangle)]
        pub extern "C" fn $yn(n: c_int, x: $F) -> $F {
            checked(&[x], $l_yn(n, x))
        }

        #[doc = concat!("`", stringify!($sincos), "(3)`.")]
        ///
        /// # Safety
        /// `sin` and `cos` must be valid for writes.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $sincos(x: $F, sin: *mut $F, cos: *mut $F) {
            let (s, c) = $l_sincos(x);
            // SAFETY: per the caller.
            unsafe {
                sin.write(checked(&[x], s));
                cos.write(c);
            }
        }

        #[doc = concat!("`", stringify!($remquo), "(3)`: glibc sets no `errno` here.")]
        ///
        /// # Safety
        /// `quo` must be valid for writing an `int`.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $remquo(x: $F, y: $F, quo: *mut c_int) -> $F {
            let (result, q) = $l_remquo(x, y);
            // SAFETY: per the caller.
            unsafe { quo.write(q) };
            result
        }

        #[doc = concat!("`", stringify!($atan2), "(3)`.")]
        #[unsafe(no_mangle)]
        pub extern "C" fn $atan2(y: $F, x: $F) -> $F {
            atan2_checked(y, x, $l_atan2(y, x))
        }

        #[doc = concat!("`", stringify!($nextafter), "(3)`.")]
        #[unsafe(no_mangle)]
        pub extern "C" fn $nextafter(x: $F, y: $F) -> $F {
            stepped(x, y, $l_nextafter(x, y))
        }
    };
}

special!(f64; lgamma, lgamma_r = libm::lgamma_r; jn = libm::jn; yn = libm::yn;
    sincos = libm::sincos; remquo = libm::remquo; atan2 = libm::atan2;
    nextafter = libm::nextafter);
special!(f32; lgammaf, lgammaf_r = libm::lgammaf_r; jnf = libm::jnf; ynf = libm::ynf;
    sincosf = libm::sincosf; remquof = libm::remquof; atan2f = libm::atan2f;
    nextafterf = libm::nextafterf);
