//! `math.h`: the C99 `libm`, double and float, computed by the `libm`
//! crate (a port of musl's), with `errno` set as glibc sets it
//! (`math_errhandling` includes `MATH_ERRNO` there: `log(-1)` is `EDOM`,
//! `exp(1000)` is `ERANGE`).
//!
//! Not defined here: `ceil floor trunc round rint fmod fma fmin fmax fdim
//! copysign fabs sqrt cbrt` and their `f` forms. Rust's `compiler_builtins`
//! defines them in every Rust program, natively too, so a program (and the
//! C code linked into it) already gets those, exactly as on Linux.
//!
//! Left out: the `long double` (x87 80-bit) functions (`sinl`, `nexttoward`
//! ...), which Rust has no type for; a program that calls one fails to
//! build with the function's name, like any missing C function.

mod errno_rules;
pub mod functions;
pub mod parts;
pub mod rounding;

/// Defines each listed function as `libm`'s, double and float, with the
/// given rule of `errno_rules` deciding `errno` from inputs and result.
macro_rules! unary {
    ($rule:ident: $($double:ident / $float:ident),* $(,)?) => {$(
        #[doc = concat!("`", stringify!($double), "(3)`.")]
        #[unsafe(no_mangle)]
        pub extern "C" fn $double(x: f64) -> f64 {
            crate::math::errno_rules::$rule(&[x], libm::$double(x))
        }

        #[doc = concat!("`", stringify!($float), "(3)`.")]
        #[unsafe(no_mangle)]
        pub extern "C" fn $float(x: f32) -> f32 {
            crate::math::errno_rules::$rule(&[x], libm::$float(x))
        }
    )*};
}

/// [`unary`] for functions of two arguments.
macro_rules! binary {
    ($rule:ident: $($double:ident / $float:ident),* $(,)?) => {$(
        #[doc = concat!("`", stringify!($double), "(3)`.")]
        #[unsafe(no_mangle)]
        pub extern "C" fn $double(x: f64, y: f64) -> f64 {
            crate::math::errno_rules::$rule(&[x, y], libm::$double(x, y))
        }

        #[doc = concat!("`", stringify!($float), "(3)`.")]
        #[unsafe(no_mangle)]
        pub extern "C" fn $float(x: f32, y: f32) -> f32 {
            crate::math::errno_rules::$rule(&[x, y], libm::$float(x, y))
        }
    )*};
}

pub(crate) use {binary, unary};
