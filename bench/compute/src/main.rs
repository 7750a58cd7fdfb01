//! Native build of `examples/compute`: the same workload file, the same output,
//! so `bench/compute/run.sh` can compare guest and host speed.

// Included verbatim so both sides compile exactly the same floating-point code.
#[path = "../../../examples/compute/src/work.rs"]
mod work;

use std::time::Instant;

const DEFAULT_STEPS: u64 = 20_000_000;

fn main() {
    let steps = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_STEPS);
    let start = Instant::now();
    let sum = work::checksum(steps);
    let elapsed = start.elapsed();
    println!("checksum({steps}) = {sum:.6}");
    println!("loop took {} us", elapsed.as_micros());
}
