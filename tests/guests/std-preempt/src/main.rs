//! Threads that never block, checked against Linux: each mode prints what
//! it saw. Under cooperative scheduling every mode but `wild-stack` hangs.
//!
//! - `spin`: the main thread spins on an `AtomicBool` (with `spin_loop`)
//!   that a thread sets after sleeping 100 ms;
//! - `mutex-poll`: the main thread polls `*m.lock().unwrap()` until a thread
//!   sets it after sleeping 100 ms;
//! - `heartbeat`: a 200 ms heartbeat beside a thread that computes for
//!   1.2 s; prints each gap in milliseconds;
//! - `busy`: four threads that wait for each other by spinning, then
//!   compute integer and floating-point results (the upcall must preserve
//!   every register and the SSE state);
//! - `serve-busy`: a thread serves one TCP echo on port 7 while the main
//!   thread computes until it is done (traffic must reach the server
//!   thread while nothing blocks);
//! - `alone`: one thread computes for 300 ms after another has finished
//!   (no other thread could run: Kiln must not tick);
//! - `wild-stack`: with another thread sleeping in a loop, the main thread
//!   points its stack pointer outside memory and spins (Kiln must end the
//!   VM with a violation, not crash the monitor).

use std::hint::{black_box, spin_loop};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    match mode.as_str() {
        "spin" => spin(),
        "mutex-poll" => mutex_poll(),
        "heartbeat" => heartbeat(),
        "busy" => busy(),
        "serve-busy" => serve_busy(),
        "alone" => alone(),
        "wild-stack" => wild_stack(),
        other => {
            eprintln!("unknown mode {other:?}");
            std::process::exit(2);
        }
    }
}

fn spin() {
    static FLAG: AtomicBool = AtomicBool::new(false);
    let start = Instant::now();
    let setter = thread::spawn(|| {
        thread::sleep(Duration::from_millis(100));
        FLAG.store(true, Ordering::Release);
    });
    let mut spins = 0u64;
    while !FLAG.load(Ordering::Acquire) {
        spin_loop();
        spins += 1;
    }
    setter.join().expect("setter");
    let waited = start.elapsed();
    println!("flag seen after spinning: {}", spins > 0);
    println!(
        "waited at least 100 ms: {}",
        waited >= Duration::from_millis(100)
    );
}

fn mutex_poll() {
    let ready = Arc::new(Mutex::new(false));
    let setter = {
        let ready = Arc::clone(&ready);
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(100));
            *ready.lock().expect("lock") = true;
        })
    };
    let mut polls = 0u64;
    while !*ready.lock().expect("lock") {
        polls += 1;
    }
    setter.join().expect("setter");
    println!("mutex saw true after polling: {}", polls > 0);
}

fn heartbeat() {
    const BEATS: u32 = 5;
    const PERIOD: Duration = Duration::from_millis(200);
    let stop = Arc::new(AtomicBool::new(false));
    let worker = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            let mut x = 0u64;
            while !stop.load(Ordering::Relaxed) {
                x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
            x
        })
    };
    let mut last = Instant::now();
    for beat in 1..=BEATS {
        thread::sleep(PERIOD);
        let now = Instant::now();
        println!("gap {beat}: {} ms", (now - last).as_millis());
        last = now;
    }
    stop.store(true, Ordering::Relaxed);
    black_box(worker.join().expect("worker"));
    println!("worker stopped");
}

fn busy() {
    const THREADS: usize = 4;
    static STARTED: AtomicUsize = AtomicUsize::new(0);
    let workers: Vec<thread::JoinHandle<(u64, f64)>> = (0..THREADS as u64)
        .map(|n| {
            let builder = thread::Builder::new().stack_size(64 << 10);
            builder.spawn(move || {
                // Every thread waits, spinning, until all have started: only
                // preemption lets the others start.
                STARTED.fetch_add(1, Ordering::SeqCst);
                while STARTED.load(Ordering::SeqCst) < THREADS {
                    spin_loop();
                }
                let mut hash = n;
                let mut sum = 0.0f64;
                for i in 0..5_000_000u64 {
                    hash = black_box(hash.rotate_left(5) ^ i).wrapping_mul(0x100_0000_01b3);
                    sum += black_box((i % 1000) as f64 * 0.5 + n as f64);
                }
                (hash, sum)
            })
        })
        .collect::<Result<_, _>>()
        .expect("spawn");
    for (n, worker) in workers.into_iter().enumerate() {
        let (hash, sum) = worker.join().expect("worker");
        println!("thread {n}: hash {hash:016x} sum {sum}");
    }
}

fn serve_busy() {
    use std::io::{BufRead, BufReader, Write};
    static DONE: AtomicBool = AtomicBool::new(false);
    let listener = std::net::TcpListener::bind("0.0.0.0:7").expect("listen on port 7");
    println!("listening on port 7");
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        let mut line = String::new();
        BufReader::new(&stream).read_line(&mut line).expect("read");
        (&stream).write_all(line.as_bytes()).expect("write");
        DONE.store(true, Ordering::Release);
    });
    let mut x = 1u64;
    while !DONE.load(Ordering::Acquire) {
        x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
    server.join().expect("server");
    println!("answered while busy");
}

fn alone() {
    let helper = thread::spawn(|| 21 * 2);
    println!("helper answered {}", helper.join().expect("helper"));
    let start = Instant::now();
    let mut x = 1u64;
    while start.elapsed() < Duration::from_millis(300) {
        x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
    println!("computed alone");
}

fn wild_stack() -> ! {
    // A thread that sleeps in a loop keeps time slices going.
    thread::spawn(|| {
        loop {
            thread::sleep(Duration::from_millis(10));
        }
    });
    thread::sleep(Duration::from_millis(20));
    println!("pointing the stack pointer outside memory");
    // SAFETY: deliberately wrong: the stack pointer goes where no memory
    // is, and the loop never touches the stack. Kiln's monitor must refuse
    // to write an upcall frame there.
    unsafe {
        std::arch::asm!(
            "mov rsp, {wild}",
            "2: jmp 2b",
            wild = in(reg) 0x7fff_0000_0000u64,
            options(noreturn),
        )
    }
}
