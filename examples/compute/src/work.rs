//! The workload, shared verbatim with the native build in `bench/compute`
//! so both run exactly the same floating-point code.

/// Iterates the logistic map `x -> 3.9 x (1 - x)` (chaotic, so the compiler
/// cannot shortcut it) and sums the iterates with a slowly decaying weight.
/// Every step is a dependent chain of multiplies, a subtraction and a
/// division: pure SSE arithmetic, no memory traffic, no system calls.
pub fn checksum(steps: u64) -> f64 {
    let mut x = 0.5f64;
    let mut sum = 0.0f64;
    for i in 0..steps {
        x = 3.9 * x * (1.0 - x);
        sum += x / (1.0 + i as f64 * 1e-7);
    }
    sum
}
