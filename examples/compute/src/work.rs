//! The workload, shared verbatim with the native build in `bench/compute`
//! so both run exactly the same floating-point code.

/// Integrates `sin(x) * exp(-x / 50)` over `[0, steps)` with the midpoint rule,
/// in a loop the compiler cannot fold away, and returns the sum.
pub fn checksum(steps: u64) -> f64 {
    let mut sum = 0.0f64;
    let mut x = 0.5f64;
    for _ in 0..steps {
        sum += libm_sin(x) * libm_exp(-x / 50.0);
        x += 1.0;
    }
    sum
}

/// `sin` by range reduction and a Taylor polynomial: `core` has no libm.
fn libm_sin(x: f64) -> f64 {
    let tau = core::f64::consts::TAU;
    let mut r = x - tau * (x / tau + 0.5).floor_const();
    if r > core::f64::consts::FRAC_PI_2 {
        r = core::f64::consts::PI - r;
    } else if r < -core::f64::consts::FRAC_PI_2 {
        r = -core::f64::consts::PI - r;
    }
    let r2 = r * r;
    r * (1.0 - r2 / 6.0 * (1.0 - r2 / 20.0 * (1.0 - r2 / 42.0 * (1.0 - r2 / 72.0))))
}

/// `exp` for the small negative arguments used here, by squaring a series.
fn libm_exp(x: f64) -> f64 {
    let y = x / 16.0;
    let mut e = 1.0 + y * (1.0 + y / 2.0 * (1.0 + y / 3.0 * (1.0 + y / 4.0)));
    for _ in 0..4 {
        e *= e;
    }
    e
}

trait FloorConst {
    fn floor_const(self) -> Self;
}

impl FloorConst for f64 {
    /// `floor` without libm: truncate, then step down for negatives.
    fn floor_const(self) -> f64 {
        let t = self as i64 as f64;
        if t > self { t - 1.0 } else { t }
    }
}
