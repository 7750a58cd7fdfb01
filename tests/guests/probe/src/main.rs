//! A guest that reports what it sees, for the end-to-end tests:
//! `env` prints its arguments and environment, `clock` the wall clock and
//! monotonic readings, `heap` exercises the allocator, `spin` never ends,
//! `block-forever` idles with no deadline, `ticks` prints a line every
//! 50 ms forever, `memory MIB` the guest's memory size, then allocates and
//! touches MIB mebibytes.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use kiln::println;
use kiln::time::{Instant, sleep, unix_time};

kiln::entry!(main);

fn main() -> i32 {
    match kiln::env::args().nth(1).unwrap_or("") {
        "env" => {
            for (i, arg) in kiln::env::args().enumerate() {
                println!("arg[{i}]={arg}");
            }
            for (key, value) in kiln::env::vars() {
                println!("env {key}={value}");
            }
            println!("var GREETING={:?}", kiln::env::var("GREETING"));
        }
        "clock" => {
            let before = Instant::now();
            sleep(Duration::from_millis(20));
            let after = Instant::now();
            println!("unix_seconds={}", unix_time().as_secs());
            println!("monotonic_ok={}", after > before);
            println!("slept_ms={}", (after - before).as_millis());
        }
        "heap" => {
            let mut blocks: Vec<Vec<u64>> = Vec::new();
            for i in 0..64u64 {
                blocks.push((0..1024).map(|j| i * j).collect());
            }
            let sum: u64 = blocks.iter().flatten().sum();
            let mut text = String::new();
            for word in ["kiln", "heap", "ok"] {
                text.push_str(word);
            }
            println!("heap sum={sum} text={text}");
        }
        "spin" => loop {
            core::hint::spin_loop();
        },
        "block-forever" => kiln::platform::block_until(u64::MAX),
        "ticks" => {
            for i in 0.. {
                println!("tick {i}");
                sleep(Duration::from_millis(50));
            }
        }
        "print-many" => {
            for i in 0..1000 {
                println!("line {i}");
            }
        }
        "memory" => {
            println!(
                "memory_mib={}",
                kiln::platform::boot_info().memory_size >> 20
            );
            let mib: usize = kiln::env::args()
                .nth(2)
                .and_then(|a| a.parse().ok())
                .unwrap_or(0);
            let mut block = Vec::<u8>::with_capacity(mib << 20);
            block.resize(mib << 20, 1);
            let sum: usize = block.iter().step_by(4096).map(|&b| usize::from(b)).sum();
            println!("allocated {mib} MiB, {sum} pages touched");
        }
        other => {
            kiln::eprintln!("probe: unknown mode {other:?}");
            return 2;
        }
    }
    0
}
