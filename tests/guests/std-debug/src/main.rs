//! A program for the debugging tests. The first argument picks what it does:
//! `fault` writes through a bad pointer in `write_through_bad_pointer`,
//! `panic` panics in `check_the_answer` with a panic hook that aborts (as
//! programs that want a crash, not an unwind, do), both while a second thread named
//! `waiter` sleeps in `wait_in_helper_thread`; `spin SECONDS` burns the CPU
//! in `hot_loop_for_profile` (nearly all the time) and
//! `cold_loop_for_profile` (a tenth of it); `gdb` prints what
//! `call_for_gdb` computes with `add_for_gdb`, for breakpoints, steps and
//! a watchpoint on `LAST_ANSWER`;
//! `ticks SECONDS` calls `tick_for_gdb` every 20 ms, for a debugger to
//! attach to.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[inline(never)]
fn write_through_bad_pointer(address: usize) {
    // SAFETY: none: the point is to fault.
    unsafe { std::ptr::write_volatile(address as *mut u64, 0x6b696c6e) };
}

#[inline(never)]
fn check_the_answer(answer: u32) {
    assert_eq!(answer, 42, "the answer is wrong");
}

#[inline(never)]
fn wait_in_helper_thread() {
    std::thread::sleep(Duration::from_secs(60));
}

#[inline(never)]
fn add_for_gdb(a: u64, b: u64) -> u64 {
    let sum = a + b;
    sum * 2
}

/// What `call_for_gdb` last computed: a place to watch.
static LAST_ANSWER: AtomicU64 = AtomicU64::new(0);

#[inline(never)]
fn call_for_gdb() -> u64 {
    let first = add_for_gdb(black_box(20), 1);
    let second = add_for_gdb(first, 0);
    LAST_ANSWER.store(first + second, Ordering::Relaxed);
    first + second
}

#[inline(never)]
fn tick_for_gdb(count: u64) -> u64 {
    black_box(count + 1)
}

fn ticks(seconds: u64) {
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut count = 0;
    while Instant::now() < end {
        count = tick_for_gdb(count);
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("ticks: done");
}

#[inline(never)]
fn hot_loop_for_profile(rounds: u64) -> u64 {
    let mut x = 1u64;
    for i in 0..rounds {
        x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
    }
    x
}

#[inline(never)]
fn cold_loop_for_profile(rounds: u64) -> u64 {
    hot_loop_for_profile(black_box(rounds))
}

fn spin(seconds: u64) {
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut sum = 0u64;
    while Instant::now() < end {
        sum = sum.wrapping_add(hot_loop_for_profile(900_000));
        sum = sum.wrapping_add(cold_loop_for_profile(100_000));
    }
    println!("spun: {}", sum & 1);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map_or("fault", String::as_str);
    let seconds = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2);
    if mode == "spin" {
        spin(seconds);
        return;
    }
    if mode == "ticks" {
        ticks(seconds);
        return;
    }
    std::thread::Builder::new()
        .name("waiter".into())
        .spawn(wait_in_helper_thread)
        .expect("spawn the waiter");
    // Let the waiter reach its sleep.
    std::thread::sleep(Duration::from_millis(50));
    match mode {
        "fault" => write_through_bad_pointer(black_box(0x10)),
        "panic" => {
            let report = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                report(info);
                std::process::abort();
            }));
            check_the_answer(black_box(41));
        }
        "gdb" => println!("gdb: {}", call_for_gdb()),
        other => eprintln!("std-debug: unknown mode {other}"),
    }
}
