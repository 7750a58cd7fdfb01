//! Console output as programs make it. The first argument picks what:
//!
//! - `lines N`: N numbered lines with `println!` (std's line-buffered
//!   stdout: one `write(1, …)` per line);
//! - `then-panic`, `then-fault`, `then-abort`, `then-oom`: lines, then
//!   that crash;
//! - `then-spin MS`: one line, then a busy loop of MS milliseconds with no
//!   system call, then another line;
//! - `interleave N`: N lines to stdout and N to stderr, alternating;
//! - `flood`: lines until the program is stopped.

use std::io::Write;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize| -> u64 {
        args.get(i)
            .and_then(|a| a.parse().ok())
            .expect("a number argument")
    };
    match args.first().map(String::as_str) {
        Some("lines") => lines(number(1)),
        Some("then-panic") => {
            lines(1000);
            panic!("after the lines");
        }
        Some("then-fault") => {
            lines(1000);
            let address = std::hint::black_box(8usize) as *mut u64;
            // SAFETY: none: the write faults on purpose (address 8 is unmapped).
            unsafe { address.write_volatile(1) };
        }
        Some("then-abort") => {
            lines(1000);
            std::process::abort();
        }
        Some("then-oom") => {
            lines(1000);
            let huge = Vec::<u8>::with_capacity(std::hint::black_box(1 << 40));
            println!("allocated {}", huge.capacity());
        }
        Some("then-spin") => {
            println!("before the loop");
            let end = Instant::now() + Duration::from_millis(number(1));
            let mut spins = 0u64;
            while Instant::now() < end {
                spins = std::hint::black_box(spins + 1);
            }
            println!("after the loop");
        }
        Some("interleave") => {
            for i in 0..number(1) {
                println!("out {i}");
                eprintln!("err {i}");
            }
        }
        Some("flood") => {
            let mut out = std::io::stdout().lock();
            for i in 0u64.. {
                // A reader that went away ends the program, as on Linux.
                if writeln!(out, "flood line {i}").is_err() {
                    return;
                }
            }
        }
        other => panic!("unknown mode {other:?}"),
    }
}

fn lines(count: u64) {
    for i in 0..count {
        println!("line {i} of {count}");
    }
}
