//! Cost of `thread::spawn` + `join` of a thread that does nothing.
//!
//!   spawn-join [N]   (default 20000)
//!
//! Prints `spawn+join: MEAN ns (N iterations)`.

use std::thread;
use std::time::Instant;

const DEFAULT_N: u32 = 20_000;
const WARMUP: u32 = 500;

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_N);
    // Warm up: stacks get allocated and cached, page faults are taken.
    for _ in 0..WARMUP {
        thread::spawn(|| {}).join().expect("thread ran");
    }
    let start = Instant::now();
    for _ in 0..n {
        thread::spawn(|| {}).join().expect("thread ran");
    }
    let elapsed = start.elapsed();
    let mean = elapsed.as_nanos() as f64 / f64::from(n);
    println!("spawn+join: {mean:.0} ns ({n} iterations)");
}
