//! Several threads hammering each object; the final counts show that no
//! update was lost and no exclusion was broken.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::thread;

use libc::{pthread_barrier_t, pthread_spinlock_t, sem_t};

use crate::{Shared, in_ms, zeroed};

const THREADS: u64 = 4;

pub fn run() {
    mutexes();
    producer_consumer();
    readers_writers();
    barrier_rounds();
    semaphores();
    spin_locks();
    std_mutex();
}

/// Runs `work(index)` on [`THREADS`] threads and waits for them.
fn on_threads(work: impl Fn(u64) + Sync) {
    thread::scope(|s| {
        for index in 0..THREADS {
            let work = &work;
            s.spawn(move || work(index));
        }
    });
}

fn mutexes() {
    const ROUNDS: u64 = 20_000;
    let normal = Shared::new(libc::PTHREAD_MUTEX_INITIALIZER);
    let recursive = Shared::new(libc::PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP);
    let timed = Shared::new(libc::PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP);
    let counts = Shared::new([0u64; 3]);
    let failures = AtomicU64::new(0);
    on_threads(|_| {
        for _ in 0..ROUNDS {
            // SAFETY: the counts are only touched under their mutex.
            unsafe {
                libc::pthread_mutex_lock(normal.get());
                (*counts.get())[0] += 1;
                libc::pthread_mutex_unlock(normal.get());
                libc::pthread_mutex_lock(recursive.get());
                libc::pthread_mutex_lock(recursive.get());
                (*counts.get())[1] += 1;
                libc::pthread_mutex_unlock(recursive.get());
                libc::pthread_mutex_unlock(recursive.get());
                let deadline = in_ms(libc::CLOCK_MONOTONIC, 60_000);
                if crate::ffi::pthread_mutex_clocklock(
                    timed.get(),
                    libc::CLOCK_MONOTONIC,
                    &deadline,
                ) != 0
                {
                    failures.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                (*counts.get())[2] += 1;
                libc::pthread_mutex_unlock(timed.get());
            }
        }
    });
    // SAFETY: every thread has finished.
    let counts = unsafe { *counts.get() };
    println!(
        "stress mutexes: normal {}, recursive {}, clocklock {}, failures {}",
        counts[0],
        counts[1],
        counts[2],
        failures.load(Ordering::Relaxed)
    );
}

/// A bounded buffer guarded by a mutex and two condition variables.
struct Buffer {
    mutex: Shared<libc::pthread_mutex_t>,
    not_empty: Shared<libc::pthread_cond_t>,
    not_full: Shared<libc::pthread_cond_t>,
    items: Shared<Vec<u64>>,
    taken: Shared<u64>,
}

const CAPACITY: usize = 8;
const PER_PRODUCER: u64 = 10_000;
const PRODUCERS: u64 = 2;

impl Buffer {
    /// # Safety
    /// The buffer's objects are initialised and outlive the call.
    unsafe fn put(&self, item: u64) {
        // SAFETY: per the caller; the fields are guarded by `mutex`.
        unsafe {
            libc::pthread_mutex_lock(self.mutex.get());
            while (*self.items.get()).len() == CAPACITY {
                libc::pthread_cond_wait(self.not_full.get(), self.mutex.get());
            }
            (*self.items.get()).push(item);
            libc::pthread_cond_signal(self.not_empty.get());
            libc::pthread_mutex_unlock(self.mutex.get());
        }
    }

    /// Takes items until all have been taken; returns their count and sum.
    ///
    /// # Safety
    /// As for [`Buffer::put`].
    unsafe fn drain(&self) -> (u64, u64) {
        let (mut count, mut sum) = (0, 0);
        // SAFETY: per the caller; the fields are guarded by `mutex`.
        unsafe {
            libc::pthread_mutex_lock(self.mutex.get());
            loop {
                while (*self.items.get()).is_empty() && *self.taken.get() < PRODUCERS * PER_PRODUCER
                {
                    libc::pthread_cond_wait(self.not_empty.get(), self.mutex.get());
                }
                let Some(item) = (*self.items.get()).pop() else {
                    break;
                };
                *self.taken.get() += 1;
                count += 1;
                sum += item;
                libc::pthread_cond_signal(self.not_full.get());
                if *self.taken.get() == PRODUCERS * PER_PRODUCER {
                    libc::pthread_cond_broadcast(self.not_empty.get());
                }
            }
            libc::pthread_mutex_unlock(self.mutex.get());
        }
        (count, sum)
    }
}

fn producer_consumer() {
    let buffer = Buffer {
        mutex: Shared::new(libc::PTHREAD_MUTEX_INITIALIZER),
        not_empty: Shared::new(libc::PTHREAD_COND_INITIALIZER),
        not_full: Shared::new(libc::PTHREAD_COND_INITIALIZER),
        items: Shared::new(Vec::new()),
        taken: Shared::new(0),
    };
    let consumed: Vec<(u64, u64)> = thread::scope(|s| {
        let consumers: Vec<_> = (0..2)
            // SAFETY: the buffer outlives the scope.
            .map(|_| s.spawn(|| unsafe { buffer.drain() }))
            .collect();
        for _ in 0..PRODUCERS {
            s.spawn(|| {
                for item in 1..=PER_PRODUCER {
                    // SAFETY: as above.
                    unsafe { buffer.put(item) };
                }
            });
        }
        consumers.into_iter().map(|c| c.join().unwrap()).collect()
    });
    let count: u64 = consumed.iter().map(|c| c.0).sum();
    let sum: u64 = consumed.iter().map(|c| c.1).sum();
    println!("stress producer/consumer: {count} items, sum {sum}");
}

fn readers_writers() {
    const ROUNDS: u64 = 5_000;
    let lock = Shared::new(libc::PTHREAD_RWLOCK_INITIALIZER);
    let pair = Shared::new((0u64, 0u64));
    let torn = AtomicU64::new(0);
    let reads = AtomicU64::new(0);
    on_threads(|index| {
        for _ in 0..ROUNDS {
            // SAFETY: the pair is written under the write lock and read
            // under a read lock.
            unsafe {
                if index < 2 {
                    libc::pthread_rwlock_wrlock(lock.get());
                    (*pair.get()).0 += 1;
                    thread::yield_now();
                    (*pair.get()).1 += 1;
                } else {
                    libc::pthread_rwlock_rdlock(lock.get());
                    let (a, b) = *pair.get();
                    if a != b {
                        torn.fetch_add(1, Ordering::Relaxed);
                    }
                    reads.fetch_add(1, Ordering::Relaxed);
                }
                libc::pthread_rwlock_unlock(lock.get());
            }
        }
    });
    // SAFETY: every thread has finished.
    let pair = unsafe { *pair.get() };
    println!(
        "stress rwlock: writes {pair:?}, reads {}, torn reads {}",
        reads.load(Ordering::Relaxed),
        torn.load(Ordering::Relaxed)
    );
}

fn barrier_rounds() {
    const ROUNDS: u64 = 500;
    let barrier = Shared::new(zeroed::<pthread_barrier_t>());
    // SAFETY: initialised before the threads start.
    unsafe { libc::pthread_barrier_init(barrier.get(), std::ptr::null(), THREADS as u32) };
    let arrivals = AtomicU64::new(0);
    let serial = AtomicU64::new(0);
    let early = AtomicU64::new(0);
    on_threads(|_| {
        for round in 0..ROUNDS {
            arrivals.fetch_add(1, Ordering::SeqCst);
            // SAFETY: an initialised barrier.
            if unsafe { libc::pthread_barrier_wait(barrier.get()) }
                == libc::PTHREAD_BARRIER_SERIAL_THREAD
            {
                serial.fetch_add(1, Ordering::Relaxed);
            }
            if arrivals.load(Ordering::SeqCst) < THREADS * (round + 1) {
                early.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    // SAFETY: every thread has left the barrier.
    unsafe { libc::pthread_barrier_destroy(barrier.get()) };
    println!(
        "stress barrier: {ROUNDS} rounds, {} serial, {} left early",
        serial.load(Ordering::Relaxed),
        early.load(Ordering::Relaxed)
    );
}

fn semaphores() {
    const ROUNDS: u64 = 5_000;
    let ping = Shared::new(zeroed::<sem_t>());
    let pong = Shared::new(zeroed::<sem_t>());
    let lock = Shared::new(zeroed::<sem_t>());
    let count = Shared::new(0u64);
    let exchanges = AtomicU32::new(0);
    // SAFETY: initialised before the threads start.
    unsafe {
        libc::sem_init(ping.get(), 0, 0);
        libc::sem_init(pong.get(), 0, 0);
        libc::sem_init(lock.get(), 0, 1);
    }
    on_threads(|index| {
        for _ in 0..ROUNDS {
            // SAFETY: initialised semaphores; `count` is only touched while
            // holding the semaphore used as a lock.
            unsafe {
                match index {
                    0 => {
                        libc::sem_post(ping.get());
                        libc::sem_wait(pong.get());
                        exchanges.fetch_add(1, Ordering::Relaxed);
                    }
                    1 => {
                        libc::sem_wait(ping.get());
                        libc::sem_post(pong.get());
                    }
                    _ => {}
                }
                libc::sem_wait(lock.get());
                *count.get() += 1;
                libc::sem_post(lock.get());
            }
        }
    });
    let mut left = -1;
    // SAFETY: every thread has finished.
    unsafe { libc::sem_getvalue(ping.get(), &mut left) };
    // SAFETY: as above.
    let count = unsafe { *count.get() };
    println!(
        "stress semaphores: {} exchanges, {count} counted, {left} left over",
        exchanges.load(Ordering::Relaxed)
    );
}

fn spin_locks() {
    const ROUNDS: u64 = 5_000;
    let lock = Shared::new(zeroed::<pthread_spinlock_t>());
    let count = Shared::new(0u64);
    // SAFETY: initialised before the threads start.
    unsafe { libc::pthread_spin_init(lock.get(), 0) };
    on_threads(|_| {
        for _ in 0..ROUNDS {
            // SAFETY: `count` is only touched under the spin lock.
            unsafe {
                libc::pthread_spin_lock(lock.get());
                *count.get() += 1;
                libc::pthread_spin_unlock(lock.get());
            }
        }
    });
    // SAFETY: every thread has finished.
    println!("stress spin lock: {}", unsafe { *count.get() });
}

/// `std`'s own mutex, which uses futexes rather than pthread mutexes.
fn std_mutex() {
    const ROUNDS: u64 = 5_000;
    let count = std::sync::Mutex::new(0u64);
    on_threads(|_| {
        for _ in 0..ROUNDS {
            *count.lock().unwrap() += 1;
        }
    });
    println!("stress std mutex: {}", count.into_inner().unwrap());
}
