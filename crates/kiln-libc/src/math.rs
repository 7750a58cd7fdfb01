//! The `libm` functions compiled Rust calls for floating-point operations
//! it has no instruction for (`f64::powf` is `pow`), from the `libm` crate.

/// `pow(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn pow(x: f64, y: f64) -> f64 {
    libm::pow(x, y)
}

/// `powf(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn powf(x: f32, y: f32) -> f32 {
    libm::powf(x, y)
}
