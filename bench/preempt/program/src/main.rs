//! What time slices cost a program.
//!
//!   preempt-bench compute   one thread, pure computation
//!   preempt-bench alloc     one thread, allocation-heavy (library-OS locks)
//!   preempt-bench pair      two threads, each the `compute` work
//!   preempt-bench ticks     one thread reads the TSC for 2 s while another
//!                           sleeps (so time slices tick and find nothing
//!                           else to run): interruptions of 16 us to 1 ms
//!   preempt-bench quiet     the same without the sleeping thread (no ticks)
//!
//! Prints `MODE: N ms` (the program's own timing) or, for `ticks`/`quiet`,
//! `MODE: N gaps, median M us`.

use std::hint::black_box;
use std::time::{Duration, Instant};

fn work(seed: u64) -> u64 {
    let mut x = seed;
    for i in 0..200_000_000u64 {
        x = black_box(x.rotate_left(5) ^ i).wrapping_mul(0x100_0000_01b3);
    }
    x
}

fn alloc_work() -> usize {
    let mut total = 0;
    for i in 0..300_000 {
        let words: Vec<String> = (0..8).map(|j| format!("{i}-{j}")).collect();
        total += black_box(words).iter().map(String::len).sum::<usize>();
    }
    total
}

fn tsc() -> u64 {
    // SAFETY: `rdtsc` has no preconditions.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Gaps between consecutive TSC reads of 16 us to 1 ms over 2 s: the
/// interruptions (ticks, and the host's own scheduling).
fn gaps() -> (usize, f64) {
    let calibration = (tsc(), Instant::now());
    while calibration.1.elapsed() < Duration::from_millis(50) {}
    let per_us = (tsc() - calibration.0) as f64 / calibration.1.elapsed().as_secs_f64() / 1e6;
    let mut gaps = Vec::new();
    let start = Instant::now();
    let mut last = tsc();
    while start.elapsed() < Duration::from_secs(2) {
        let now = tsc();
        let gap = (now - last) as f64 / per_us;
        if (16.0..1000.0).contains(&gap) {
            gaps.push(gap);
        }
        last = now;
    }
    gaps.sort_by(f64::total_cmp);
    (gaps.len(), gaps.get(gaps.len() / 2).copied().unwrap_or(0.0))
}

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let start = Instant::now();
    match mode.as_str() {
        "compute" => {
            black_box(work(1));
        }
        "alloc" => {
            black_box(alloc_work());
        }
        "pair" => {
            let a = std::thread::spawn(|| work(1));
            let b = std::thread::spawn(|| work(2));
            black_box((a.join().expect("a"), b.join().expect("b")));
        }
        "ticks" | "quiet" => {
            if mode == "ticks" {
                std::thread::spawn(|| std::thread::sleep(Duration::from_secs(3600)));
            }
            let (count, median) = gaps();
            println!("{mode}: {count} gaps, median {median:.1} us");
            return;
        }
        _ => {
            eprintln!("usage: preempt-bench compute|alloc|pair|ticks|quiet");
            std::process::exit(2);
        }
    }
    println!("{mode}: {:.1} ms", start.elapsed().as_secs_f64() * 1e3);
}
