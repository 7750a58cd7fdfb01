//! A CPU-bound floating-point loop: shows that guest code runs natively.
//! Prints a checksum and the time the loop took.
#![no_std]
#![no_main]

mod work;

use kiln::println;
use kiln::time::Instant;

kiln::entry!(main);

const DEFAULT_STEPS: u64 = 20_000_000;

fn main() {
    let steps = kiln::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_STEPS);
    let start = Instant::now();
    let sum = work::checksum(steps);
    let elapsed = start.elapsed();
    println!("checksum({steps}) = {sum:.6}");
    println!("loop took {} us", elapsed.as_micros());
}
