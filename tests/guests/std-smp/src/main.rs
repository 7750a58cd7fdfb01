//! Threads on several CPUs, as an ordinary program sees them.
//!
//! Modes (the first argument):
//! - `cpus`: the CPU count `std` and `sched_getaffinity` report.
//! - `spread`: one busy thread per CPU, none blocking, until they have run
//!   on every CPU between them: how many distinct CPUs they saw.
//! - `sum N`: a checksum of `N` hashed values computed by one thread per
//!   CPU, the same on every system.
//! - `fault`: a thread named `faulter` writes through a null pointer once it
//!   runs on a CPU other than the main thread's, which stays busy.
//! - `busy SECONDS`: one thread per CPU computes for that long, printing
//!   "busy" once they have started (for `kiln stats`).
//! - `work THREADS ROUNDS`: fixed CPU-bound work split over THREADS threads;
//!   prints the wall time (benchmarks).
//! - `wake-latency ROUNDS SETTLE_US`: a thread asleep in `park` on one CPU
//!   is woken by a thread on another (the waker never blocks, so the
//!   sleeper runs elsewhere), SETTLE_US after the sleeper said it would
//!   park; prints the median and 90th percentile of the time from `unpark`
//!   to the sleeper running, and the CPUs each used (benchmarks).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize, default: u64| -> u64 {
        args.get(i)
            .map(|a| a.parse().expect("a number"))
            .unwrap_or(default)
    };
    match args.first().map(String::as_str) {
        Some("cpus") => cpus(),
        Some("spread") => spread(),
        Some("sum") => println!("checksum {:#018x}", parallel_sum(number(1, 10_000_000))),
        Some("fault") => fault(),
        Some("busy") => busy(Duration::from_secs(number(1, 10))),
        Some("work") => work(number(1, 2) as usize, number(2, 40)),
        Some("wake-latency") => wake_latency(
            number(1, 1000) as usize,
            Duration::from_micros(number(2, 1000)),
        ),
        _ => {
            eprintln!(
                "usage: std-smp cpus|spread|sum N|fault|busy SECONDS|work THREADS ROUNDS|wake-latency ROUNDS SETTLE_US"
            );
            std::process::exit(2);
        }
    }
}

fn parallelism() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get())
}

/// The CPU the calling thread runs on now.
fn current_cpu() -> u32 {
    // SAFETY: no arguments; it only reads which CPU runs the caller.
    let cpu = unsafe { libc::sched_getcpu() };
    u32::try_from(cpu).expect("sched_getcpu failed")
}

fn cpus() {
    println!("available parallelism {}", parallelism());
    // SAFETY: a zeroed cpu_set_t is a valid empty set, and the size passed
    // is its own.
    let affinity = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        assert_eq!(
            libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set),
            0
        );
        libc::CPU_COUNT(&set)
    };
    println!("affinity {affinity}");
}

fn spread() {
    let cpus = parallelism();
    let seen = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(20);
    let threads: Vec<_> = (0..cpus)
        .map(|_| {
            let seen = Arc::clone(&seen);
            thread::spawn(move || {
                // Busy, never blocking: only running in parallel (or being
                // preempted and moved) puts them on different CPUs.
                while (seen.load(Ordering::Relaxed).count_ones() as usize) < cpus
                    && Instant::now() < deadline
                {
                    seen.fetch_or(1 << current_cpu(), Ordering::Relaxed);
                    std::hint::spin_loop();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    println!(
        "CPUs seen: {} of {cpus}",
        seen.load(Ordering::Relaxed).count_ones()
    );
}

/// splitmix64: a fixed, well-mixed function of `i`.
fn hash(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The wrapping sum of `hash(0..n)`, in one chunk per CPU.
fn parallel_sum(n: u64) -> u64 {
    let threads = parallelism() as u64;
    let chunk = n.div_ceil(threads);
    (0..threads)
        .map(|t| {
            thread::spawn(move || {
                let end = ((t + 1) * chunk).min(n);
                (t * chunk..end).fold(0u64, |sum, i| sum.wrapping_add(hash(i)))
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .fold(0, u64::wrapping_add)
}

fn fault() {
    let main_cpu = current_cpu();
    let done = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&done);
    thread::Builder::new()
        .name("faulter".into())
        .spawn(move || {
            while current_cpu() == main_cpu {
                thread::yield_now();
            }
            println!("faulting on another CPU");
            // SAFETY: deliberately not: the write must fault.
            unsafe { std::ptr::null_mut::<u64>().write_volatile(1) };
            flag.store(true, Ordering::Relaxed);
        })
        .unwrap();
    // Busy on this CPU, so the faulter goes to another.
    let mut spins = 0u64;
    while !done.load(Ordering::Relaxed) {
        spins = spins.wrapping_add(1);
        std::hint::spin_loop();
    }
    println!("the write did not fault after {spins} spins");
}

fn busy(time: Duration) {
    let until = Instant::now() + time;
    let threads: Vec<_> = (0..parallelism() as u64)
        .map(|t| {
            thread::spawn(move || {
                let mut sum = 0u64;
                let mut i = t;
                while Instant::now() < until {
                    sum = sum.wrapping_add(hash(i));
                    i += 1;
                }
                sum
            })
        })
        .collect();
    println!("busy");
    for t in threads {
        std::hint::black_box(t.join().unwrap());
    }
}

/// Fixed CPU-bound work: `rounds` x 1M hashes split over `threads`.
fn work(threads: usize, rounds: u64) {
    let per_thread = rounds * 1_000_000 / threads as u64;
    let started = Instant::now();
    let total = (0..threads as u64)
        .map(|t| {
            thread::spawn(move || {
                (t * per_thread..(t + 1) * per_thread)
                    .fold(0u64, |sum, i| sum.wrapping_add(hash(i)))
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .fold(0, u64::wrapping_add);
    println!(
        "work threads={threads} rounds={rounds} ms={:.1} checksum={total:#x}",
        started.elapsed().as_secs_f64() * 1e3
    );
}

fn wake_latency(rounds: usize, settle: Duration) {
    let base = Instant::now();
    let now_ns = move || base.elapsed().as_nanos() as u64;
    let woken_at = Arc::new(AtomicU64::new(0));
    let asleep = Arc::new(AtomicU32::new(0));
    let sleeper = {
        let woken_at = Arc::clone(&woken_at);
        let asleep = Arc::clone(&asleep);
        thread::spawn(move || {
            let mut cpus = 0u64;
            for round in 1..=rounds as u32 {
                asleep.store(round, Ordering::SeqCst);
                thread::park();
                woken_at.store(now_ns(), Ordering::SeqCst);
                cpus |= 1 << current_cpu();
            }
            cpus
        })
    };
    let mut latencies = Vec::with_capacity(rounds);
    let mut waker_cpus = 0u64;
    for round in 1..=rounds as u32 {
        while asleep.load(Ordering::SeqCst) != round {
            std::hint::spin_loop();
        }
        // Long enough for the sleeper to be asleep in the futex, not on its
        // way there.
        let settled = Instant::now();
        while settled.elapsed() < settle {
            std::hint::spin_loop();
        }
        woken_at.store(0, Ordering::SeqCst);
        waker_cpus |= 1 << current_cpu();
        let sent = now_ns();
        sleeper.thread().unpark();
        let woke = loop {
            let at = woken_at.load(Ordering::SeqCst);
            if at != 0 {
                break at;
            }
            std::hint::spin_loop();
        };
        latencies.push(woke.saturating_sub(sent));
    }
    let cpus = sleeper.join().unwrap();
    latencies.sort_unstable();
    println!(
        "wake latency rounds={rounds} settle_us={} median_us={:.1} p90_us={:.1} sleeper_cpus={cpus:#b} waker_cpus={waker_cpus:#b}",
        settle.as_micros(),
        latencies[rounds / 2] as f64 / 1e3,
        latencies[rounds * 9 / 10] as f64 / 1e3,
    );
}
