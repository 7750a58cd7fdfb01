//! An ordinary Rust program that uses threads the usual ways: spawning and
//! joining, channels, locks, condition variables, barriers, scoped threads,
//! one-time initialisation, thread-locals with destructors, and sleeping.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Condvar, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

static DROPPED: AtomicUsize = AtomicUsize::new(0);
static CONFIG: OnceLock<String> = OnceLock::new();

/// A thread-local whose destructor counts that it ran.
struct Tracked(Cell<u64>);

impl Drop for Tracked {
    fn drop(&mut self) {
        DROPPED.fetch_add(1, Ordering::SeqCst);
    }
}

thread_local! {
    static LOCAL: Tracked = const { Tracked(Cell::new(0)) };
}

fn main() {
    // Eight threads, each sending its partial sum down a channel.
    let (tx, rx) = mpsc::channel();
    let handles: Vec<_> = (0..8u64)
        .map(|i| {
            let tx = tx.clone();
            thread::spawn(move || {
                LOCAL.with(|l| l.0.set(i));
                let sum: u64 = (i * 1000..(i + 1) * 1000).sum();
                tx.send((i, sum)).expect("receiver alive");
                LOCAL.with(|l| l.0.get()) * 10
            })
        })
        .collect();
    drop(tx);
    let mut total: u64 = rx.iter().map(|(_, sum)| sum).sum();
    let returned: u64 = handles
        .into_iter()
        .map(|h| h.join().expect("no panic"))
        .sum();
    println!(
        "channel total: {total} (expected {})",
        (0..8000u64).sum::<u64>()
    );
    println!("join results: {returned}");

    // A mutex-protected counter and a condition variable.
    let state = Arc::new((Mutex::new(0u32), Condvar::new()));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let state = Arc::clone(&state);
            thread::spawn(move || {
                for _ in 0..100 {
                    let (lock, cvar) = &*state;
                    *lock.lock().expect("not poisoned") += 1;
                    cvar.notify_all();
                    thread::yield_now();
                }
            })
        })
        .collect();
    {
        let (lock, cvar) = &*state;
        let guard = cvar
            .wait_while(lock.lock().expect("not poisoned"), |n| *n < 400)
            .expect("not poisoned");
        println!("condvar saw: {}", *guard);
    }
    for w in workers {
        w.join().expect("no panic");
    }

    // A barrier: every thread must arrive before any leaves.
    let barrier = Arc::new(Barrier::new(5));
    let arrived = Arc::new(AtomicUsize::new(0));
    let waiters: Vec<_> = (0..5)
        .map(|_| {
            let (barrier, arrived) = (Arc::clone(&barrier), Arc::clone(&arrived));
            thread::spawn(move || {
                arrived.fetch_add(1, Ordering::SeqCst);
                barrier.wait();
                arrived.load(Ordering::SeqCst)
            })
        })
        .collect();
    let seen: Vec<usize> = waiters
        .into_iter()
        .map(|w| w.join().expect("no panic"))
        .collect();
    println!("barrier: every thread saw {seen:?}");

    // Scoped threads borrowing from the stack, and a OnceLock raced by them.
    let data = [1u64, 2, 3, 4, 5, 6, 7, 8];
    let sums: Vec<u64> = thread::scope(|s| {
        let parts: Vec<_> = data
            .chunks(2)
            .map(|chunk| {
                s.spawn(move || {
                    CONFIG.get_or_init(|| "initialised once".to_string());
                    chunk.iter().sum::<u64>()
                })
            })
            .collect();
        parts
            .into_iter()
            .map(|p| p.join().expect("no panic"))
            .collect()
    });
    total = sums.iter().sum();
    println!("scoped sums: {sums:?} = {total}");
    println!("once: {}", CONFIG.get().expect("set by a scoped thread"));

    // Sleeping threads overlap: four 50 ms sleeps take about 50 ms.
    let started = Instant::now();
    let sleepers: Vec<_> = (0..4)
        .map(|_| thread::spawn(|| thread::sleep(Duration::from_millis(50))))
        .collect();
    for s in sleepers {
        s.join().expect("no panic");
    }
    let ms = started.elapsed().as_millis();
    println!(
        "four 50 ms sleeps in parallel: {}",
        if ms < 100 { "overlapped" } else { "serialised" }
    );

    println!(
        "thread-local destructors run: {}",
        DROPPED.load(Ordering::SeqCst) >= 8
    );
}
