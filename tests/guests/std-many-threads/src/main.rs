//! Starts `N` threads (first argument, default 1000) with std's default
//! stacks, holds them all alive at a barrier, has one of them recurse
//! deep into its stack, and checks each one's answer.

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::thread;

/// Uses about `depth` KiB of stack: each frame holds a 1 KiB array.
fn recurse(depth: u32) -> u64 {
    let frame = black_box([depth as u8; 1024]);
    if depth == 0 {
        return u64::from(frame[0]);
    }
    recurse(depth - 1) + u64::from(frame[1023])
}

fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse().expect("a thread count"))
        .unwrap_or(1000);
    let barrier = Arc::new(Barrier::new(count));
    let threads: Vec<_> = (0..count)
        .map(|i| {
            let barrier = Arc::clone(&barrier);
            thread::Builder::new()
                .name(format!("worker-{i}"))
                .spawn(move || {
                    barrier.wait();
                    // One thread goes over 600 KiB deep into its 2 MiB stack (about
                    // twice that in a debug build).
                    let deep = if i == count / 2 { recurse(600) } else { 0 };
                    (i as u64) * 2 + deep
                })
                .unwrap_or_else(|e| panic!("thread {i} of {count}: {e}"))
        })
        .collect();
    let sum: u64 = threads
        .into_iter()
        .map(|t| t.join().expect("a worker panicked"))
        .sum();
    let deep: u64 = (1..=600u64).map(|d| d % 256).sum();
    let expected = (count as u64) * (count as u64 - 1) + deep;
    println!("{count} threads alive at once; sum {sum}, expected {expected}");
}
