//! When glibc's `libm` sets `errno`, as predicates on a call's inputs and
//! result, shared by the double and float shims.

use crate::errno::{self, code};

/// The floating-point operations the rules look at.
pub trait Float: Copy + PartialEq {
    const ZERO: Self;
    fn is_nan(self) -> bool;
    fn is_finite(self) -> bool;
    fn is_infinite(self) -> bool;
    fn is_subnormal(self) -> bool;
}

macro_rules! float {
    ($ty:ty) => {
        impl Float for $ty {
            const ZERO: Self = 0.0;
            fn is_nan(self) -> bool {
                <$ty>::is_nan(self)
            }
            fn is_finite(self) -> bool {
                <$ty>::is_finite(self)
            }
            fn is_infinite(self) -> bool {
                <$ty>::is_infinite(self)
            }
            fn is_subnormal(self) -> bool {
                <$ty>::is_subnormal(self)
            }
        }
    };
}
float!(f32);
float!(f64);

/// glibc's general rule: a NaN out of non-NaN inputs is a domain error
/// (`EDOM`); an infinity out of finite inputs is a pole or an overflow
/// (`ERANGE`). Returns `result`.
pub fn checked<F: Float>(inputs: &[F], result: F) -> F {
    if result.is_nan() && !inputs.iter().any(|x| x.is_nan()) {
        errno::set(code::EDOM);
    } else if result.is_infinite() && inputs.iter().all(|x| x.is_finite()) {
        errno::set(code::ERANGE);
    }
    result
}

/// [`checked`], and a zero out of finite, non-zero inputs is an underflow
/// (`ERANGE`), as for `exp`, `pow`, `erfc`, `tgamma`.
pub fn underflow_checked<F: Float>(inputs: &[F], result: F) -> F {
    if result == F::ZERO && inputs.iter().all(|x| x.is_finite() && *x != F::ZERO) {
        errno::set(code::ERANGE);
        return result;
    }
    checked(inputs, result)
}

/// `ldexp`/`scalbn`: a finite non-zero `x` that scales to zero or
/// infinity is `ERANGE`.
pub fn scaled<F: Float>(x: F, result: F) -> F {
    if x.is_finite() && x != F::ZERO && (result == F::ZERO || result.is_infinite()) {
        errno::set(code::ERANGE);
    }
    result
}

/// `nextafter`: stepping from a non-zero `x` into the subnormals or zero,
/// or from a finite `x` to infinity, is `ERANGE` (a step from zero to the
/// smallest subnormal is not, in glibc).
pub fn stepped<F: Float>(x: F, y: F, result: F) -> F {
    let underflow = x != F::ZERO && x != y && (result == F::ZERO || result.is_subnormal());
    if underflow || (x.is_finite() && result.is_infinite()) {
        errno::set(code::ERANGE);
    }
    result
}

/// `atan2`: a zero out of a non-zero `y` and a finite `x` underflowed.
pub fn atan2_checked<F: Float>(y: F, x: F, result: F) -> F {
    if result == F::ZERO && y != F::ZERO && x.is_finite() {
        errno::set(code::ERANGE);
    }
    result
}

/// `ilogb` of zero, an infinity or NaN: `EDOM`.
pub fn ilogb_domain<F: Float>(x: F) {
    if !x.is_finite() || x == F::ZERO {
        errno::set(code::EDOM);
    }
}
