//! Calls every C99 `libm` function (double and float) at edge values and
//! prints each result and `errno`, so the output can be compared with the
//! same program run against glibc.
//!
//! Every function is called through a pointer LLVM cannot see through:
//! called directly, it would replace `sqrt`, `fmod`, `floor`... with
//! instructions that never reach the C library.
//!
//! Exact functions (rounding, `fmod`, `frexp`...) print every digit.
//! Transcendental ones print 12 significant digits: glibc and musl (whose
//! port Kiln uses) both stay within an ulp or so of the true value, but
//! not always the same ulp.

use std::ffi::{c_char, c_int, c_long, c_longlong};
use std::hint::black_box;

unsafe extern "C" {
    fn __errno_location() -> *mut c_int;
    static mut signgam: c_int;
}

macro_rules! declare {
    ($ty:ty => $($name:ident)*) => {
        unsafe extern "C" { $(fn $name(x: $ty) -> $ty;)* }
    };
}
declare!(f64 => sin cos tan asin acos atan sinh cosh tanh asinh acosh atanh exp exp2 exp10
    expm1 log log2 log10 log1p logb cbrt erf erfc tgamma lgamma j0 j1 y0 y1
    sqrt fabs ceil floor trunc round rint nearbyint);
declare!(f32 => sinf cosf tanf asinf acosf atanf sinhf coshf tanhf asinhf acoshf atanhf expf
    exp2f exp10f expm1f logf log2f log10f log1pf logbf cbrtf erff erfcf tgammaf lgammaf
    j0f j1f y0f y1f sqrtf fabsf ceilf floorf truncf roundf rintf nearbyintf);

macro_rules! declare2 {
    ($ty:ty => $($name:ident)*) => {
        unsafe extern "C" { $(fn $name(x: $ty, y: $ty) -> $ty;)* }
    };
}
declare2!(f64 => atan2 pow hypot fmod remainder fmin fmax fdim copysign nextafter);
declare2!(f32 => atan2f powf hypotf fmodf remainderf fminf fmaxf fdimf copysignf nextafterf);

unsafe extern "C" {
    fn ilogb(x: f64) -> c_int;
    fn ilogbf(x: f32) -> c_int;
    fn lround(x: f64) -> c_long;
    fn lroundf(x: f32) -> c_long;
    fn llround(x: f64) -> c_longlong;
    fn llroundf(x: f32) -> c_longlong;
    fn lrint(x: f64) -> c_long;
    fn lrintf(x: f32) -> c_long;
    fn llrint(x: f64) -> c_longlong;
    fn llrintf(x: f32) -> c_longlong;
    fn remquo(x: f64, y: f64, quo: *mut c_int) -> f64;
    fn remquof(x: f32, y: f32, quo: *mut c_int) -> f32;
    fn fma(x: f64, y: f64, z: f64) -> f64;
    fn fmaf(x: f32, y: f32, z: f32) -> f32;
    fn frexp(x: f64, exp: *mut c_int) -> f64;
    fn frexpf(x: f32, exp: *mut c_int) -> f32;
    fn ldexp(x: f64, exp: c_int) -> f64;
    fn ldexpf(x: f32, exp: c_int) -> f32;
    fn scalbn(x: f64, exp: c_int) -> f64;
    fn scalbnf(x: f32, exp: c_int) -> f32;
    fn scalbln(x: f64, exp: c_long) -> f64;
    fn scalblnf(x: f32, exp: c_long) -> f32;
    fn modf(x: f64, int: *mut f64) -> f64;
    fn modff(x: f32, int: *mut f32) -> f32;
    fn nan(tag: *const c_char) -> f64;
    fn nanf(tag: *const c_char) -> f32;
    fn lgamma_r(x: f64, sign: *mut c_int) -> f64;
    fn lgammaf_r(x: f32, sign: *mut c_int) -> f32;
    fn jn(n: c_int, x: f64) -> f64;
    fn jnf(n: c_int, x: f32) -> f32;
    fn yn(n: c_int, x: f64) -> f64;
    fn ynf(n: c_int, x: f32) -> f32;
    fn sincos(x: f64, sin: *mut f64, cos: *mut f64);
    fn sincosf(x: f32, sin: *mut f32, cos: *mut f32);
}

fn errno() -> c_int {
    // SAFETY: the calling thread's errno slot.
    unsafe { *__errno_location() }
}

fn clear_errno() {
    // SAFETY: as in `errno`.
    unsafe { *__errno_location() = 0 };
}

/// The edge values every double function is called with.
const DOUBLES: [f64; 24] = [
    0.0,
    -0.0,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::NAN,
    5e-324,
    -5e-324,
    f64::MIN_POSITIVE,
    1e-300,
    0.5,
    -0.5,
    1.0,
    -1.0,
    1.5,
    2.5,
    -2.5,
    3.0,
    -3.0,
    10.0,
    100.0,
    710.0,
    -746.0,
    1e300,
    -f64::MAX,
];

/// The edge values every float function is called with.
const FLOATS: [f32; 24] = [
    0.0,
    -0.0,
    f32::INFINITY,
    f32::NEG_INFINITY,
    f32::NAN,
    1e-45,
    -1e-45,
    f32::MIN_POSITIVE,
    1e-30,
    0.5,
    -0.5,
    1.0,
    -1.0,
    1.5,
    2.5,
    -2.5,
    3.0,
    -3.0,
    10.0,
    100.0,
    89.0,
    -104.0,
    1e30,
    -f32::MAX,
];

/// A value as the comparison wants it: every digit, or 12 significant ones.
fn show64(value: f64, exact: bool) -> String {
    if exact || !value.is_finite() {
        format!("{value:e}")
    } else {
        format!("{value:.11e}")
    }
}

fn show32(value: f32, exact: bool) -> String {
    if exact || !value.is_finite() {
        format!("{value:e}")
    } else {
        format!("{value:.5e}")
    }
}

/// Calls `f`, with errno cleared, and prints its answer and errno.
fn report(call: String, f: impl FnOnce() -> String) {
    clear_errno();
    let answer = f();
    println!("{call} = {answer} errno {}", errno());
}

macro_rules! unary {
    ($values:expr, $show:ident, $exact:expr, $($name:ident)*) => {$(
        for x in $values {
            // SAFETY: a pure function of its argument.
            report(format!("{}({x:e})", stringify!($name)), || {
                let f = black_box($name as unsafe extern "C" fn(_) -> _);
                $show(unsafe { f(x) }, $exact)
            });
        }
    )*};
}

macro_rules! binary {
    ($values:expr, $show:ident, $exact:expr, $($name:ident)*) => {$(
        for x in $values {
            for y in $values {
                // SAFETY: a pure function of its arguments.
                report(format!("{}({x:e}, {y:e})", stringify!($name)), || {
                    let f = black_box($name as unsafe extern "C" fn(_, _) -> _);
                $show(unsafe { f(x, y) }, $exact)
                });
            }
        }
    )*};
}

macro_rules! to_integer {
    ($values:expr, $($name:ident)*) => {$(
        #[allow(clippy::unnecessary_cast)]
        for x in $values {
            // SAFETY: a pure function of its argument.
            report(format!("{}({x:e})", stringify!($name)), || {
                let f = black_box($name as unsafe extern "C" fn(_) -> _);
                (unsafe { f(x) } as i64).to_string()
            });
        }
    )*};
}

/// The values binary functions pair up: fewer, so the output stays short.
const PAIRS64: [f64; 12] = [
    0.0,
    -0.0,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::NAN,
    5e-324,
    1.0,
    -1.5,
    2.5,
    -3.0,
    1e300,
    -f64::MAX,
];
const PAIRS32: [f32; 12] = [
    0.0,
    -0.0,
    f32::INFINITY,
    f32::NEG_INFINITY,
    f32::NAN,
    1e-45,
    1.0,
    -1.5,
    2.5,
    -3.0,
    1e30,
    -f32::MAX,
];

fn doubles() {
    unary!(DOUBLES, show64, false, sin cos tan asin acos atan sinh cosh tanh asinh acosh atanh
        exp exp2 exp10 expm1 log log2 log10 log1p cbrt erf erfc tgamma lgamma j0 j1 y0 y1);
    unary!(DOUBLES, show64, true, logb sqrt fabs ceil floor trunc round rint nearbyint);
    to_integer!(DOUBLES, ilogb lround llround lrint llrint);
    binary!(PAIRS64, show64, false, atan2 pow hypot);
    binary!(PAIRS64, show64, true, fmod remainder fmin fmax fdim copysign nextafter);
    for x in PAIRS64 {
        for y in PAIRS64 {
            let mut quo = 0;
            // SAFETY: `quo` is a valid int.
            report(format!("remquo({x:e}, {y:e})"), || {
                let r = unsafe { remquo(black_box(x), black_box(y), &mut quo) };
                format!("{r:e} quo {}", quo & 7)
            });
            // SAFETY: a pure function.
            report(format!("fma({x:e}, {y:e}, 1)"), || {
                let f = black_box(fma as unsafe extern "C" fn(_, _, _) -> _);
                show64(unsafe { f(x, y, 1.0) }, true)
            });
        }
    }
    for x in DOUBLES {
        let mut exp = 0;
        // SAFETY: `exp` is a valid int.
        report(format!("frexp({x:e})"), || {
            let m = unsafe { frexp(black_box(x), &mut exp) };
            format!("{m:e} exp {}", if x.is_finite() { exp } else { 0 })
        });
        let mut int = 0.0;
        // SAFETY: `int` is a valid double.
        report(format!("modf({x:e})"), || {
            let frac = unsafe { modf(black_box(x), &mut int) };
            format!("{frac:e} int {int:e}")
        });
        let mut sign = 0;
        // SAFETY: `sign` is a valid int.
        report(format!("lgamma_r({x:e})"), || {
            let r = unsafe { lgamma_r(black_box(x), &mut sign) };
            format!("{} sign {sign}", show64(r, false))
        });
        // SAFETY: lgamma's only other effect is `signgam`.
        report(format!("lgamma({x:e}) signgam"), || {
            unsafe { lgamma(black_box(x)) };
            // SAFETY: read on the only thread that writes it.
            unsafe { signgam }.to_string()
        });
        let (mut s, mut c) = (0.0, 0.0);
        // SAFETY: both outputs are valid doubles.
        report(format!("sincos({x:e})"), || {
            unsafe { sincos(black_box(x), &mut s, &mut c) };
            format!("{} {}", show64(s, false), show64(c, false))
        });
        for n in [-1000, -60, -1, 0, 1, 60, 1000] {
            // SAFETY: pure functions.
            report(format!("ldexp({x:e}, {n})"), || {
                show64(unsafe { ldexp(black_box(x), black_box(n)) }, true)
            });
            report(format!("scalbn({x:e}, {n})"), || {
                show64(unsafe { scalbn(black_box(x), black_box(n)) }, true)
            });
        }
        for n in [i64::MIN, -5000, 5000, i64::MAX] {
            // SAFETY: a pure function.
            report(format!("scalbln({x:e}, {n})"), || {
                show64(unsafe { scalbln(black_box(x), black_box(n)) }, true)
            });
        }
        for n in [-2, 0, 1, 5] {
            // SAFETY: pure functions.
            report(format!("jn({n}, {x:e})"), || {
                show64(unsafe { jn(black_box(n), black_box(x)) }, false)
            });
            report(format!("yn({n}, {x:e})"), || {
                show64(unsafe { yn(black_box(n), black_box(x)) }, false)
            });
        }
    }
    for tag in [c"", c"1", c"0x7", c"junk"] {
        // SAFETY: `tag` is a C string.
        report(format!("nan({tag:?}) bits"), || {
            format!("{:#x}", unsafe { nan(tag.as_ptr()) }.to_bits())
        });
    }
}

fn floats() {
    unary!(FLOATS, show32, false, sinf cosf tanf asinf acosf atanf sinhf coshf tanhf asinhf
        acoshf atanhf expf exp2f exp10f expm1f logf log2f log10f log1pf cbrtf erff erfcf
        tgammaf lgammaf j0f j1f y0f y1f);
    unary!(FLOATS, show32, true, logbf sqrtf fabsf ceilf floorf truncf roundf rintf nearbyintf);
    to_integer!(FLOATS, ilogbf lroundf llroundf lrintf llrintf);
    binary!(PAIRS32, show32, false, atan2f powf hypotf);
    binary!(PAIRS32, show32, true, fmodf remainderf fminf fmaxf fdimf copysignf nextafterf);
    for x in PAIRS32 {
        for y in PAIRS32 {
            let mut quo = 0;
            // SAFETY: `quo` is a valid int.
            report(format!("remquof({x:e}, {y:e})"), || {
                let r = unsafe { remquof(black_box(x), black_box(y), &mut quo) };
                format!("{r:e} quo {}", quo & 7)
            });
            // SAFETY: a pure function.
            report(format!("fmaf({x:e}, {y:e}, 1)"), || {
                let f = black_box(fmaf as unsafe extern "C" fn(_, _, _) -> _);
                show32(unsafe { f(x, y, 1.0f32) }, true)
            });
        }
    }
    for x in FLOATS {
        let mut exp = 0;
        // SAFETY: `exp` is a valid int.
        report(format!("frexpf({x:e})"), || {
            let m = unsafe { frexpf(black_box(x), &mut exp) };
            format!("{m:e} exp {}", if x.is_finite() { exp } else { 0 })
        });
        let mut int = 0.0;
        // SAFETY: `int` is a valid float.
        report(format!("modff({x:e})"), || {
            let frac = unsafe { modff(black_box(x), &mut int) };
            format!("{frac:e} int {int:e}")
        });
        let mut sign = 0;
        // SAFETY: `sign` is a valid int.
        report(format!("lgammaf_r({x:e})"), || {
            let r = unsafe { lgammaf_r(black_box(x), &mut sign) };
            format!("{} sign {sign}", show32(r, false))
        });
        let (mut s, mut c) = (0.0, 0.0);
        // SAFETY: both outputs are valid floats.
        report(format!("sincosf({x:e})"), || {
            unsafe { sincosf(black_box(x), &mut s, &mut c) };
            format!("{} {}", show32(s, false), show32(c, false))
        });
        for n in [-300, -30, -1, 0, 1, 30, 300] {
            // SAFETY: pure functions.
            report(format!("ldexpf({x:e}, {n})"), || {
                show32(unsafe { ldexpf(black_box(x), black_box(n)) }, true)
            });
            report(format!("scalbnf({x:e}, {n})"), || {
                show32(unsafe { scalbnf(black_box(x), black_box(n)) }, true)
            });
        }
        for n in [i64::MIN, -500, 500, i64::MAX] {
            // SAFETY: a pure function.
            report(format!("scalblnf({x:e}, {n})"), || {
                show32(unsafe { scalblnf(black_box(x), black_box(n)) }, true)
            });
        }
        for n in [-2, 0, 1, 5] {
            // SAFETY: pure functions.
            report(format!("jnf({n}, {x:e})"), || {
                show32(unsafe { jnf(black_box(n), black_box(x)) }, false)
            });
            report(format!("ynf({n}, {x:e})"), || {
                show32(unsafe { ynf(black_box(n), black_box(x)) }, false)
            });
        }
    }
    for tag in [c"", c"1", c"0x7", c"junk"] {
        // SAFETY: `tag` is a C string.
        report(format!("nanf({tag:?}) bits"), || {
            format!("{:#x}", unsafe { nanf(tag.as_ptr()) }.to_bits())
        });
    }
}

fn main() {
    doubles();
    floats();
}
