//! Threads hammer shared state with a seeded random mix of operations:
//! a `Mutex` counter, an `RwLock` pair whose halves must always agree, a
//! bounded queue on a `Mutex` + two `Condvar`s, `mpsc` channels, atomics,
//! a `Barrier` between rounds, and bytes passed through pipes that a
//! reader waits for with `epoll`. Each operation's count is fixed by the
//! seed, not by timing, so the totals printed are the same on every run
//! and on every system; any lost wake-up hangs (caught by the caller's
//! timeout) and any lost update changes a total.
//!
//! Arguments: seed (default 1), rounds (default 40).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Condvar, Mutex, RwLock};
use std::thread;

const WORKERS: usize = 6;
const OPS_PER_ROUND: usize = 400;
const QUEUE_CAPACITY: usize = 4;

struct Shared {
    counter: Mutex<u64>,
    pair: RwLock<(u64, u64)>,
    queue: Mutex<VecDeque<u64>>,
    not_empty: Condvar,
    not_full: Condvar,
    atomic: AtomicU64,
    torn_reads: AtomicU64,
    barrier: Barrier,
}

/// xorshift64*: a small, seedable generator, the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// What one worker did, summed by main.
#[derive(Default)]
struct Tally {
    increments: u64,
    pair_writes: u64,
    produced: u64,
    consumed_sum: u64,
    sent: u64,
    piped: u64,
}

fn worker(
    id: usize,
    seed: u64,
    rounds: usize,
    s: &Shared,
    tx: mpsc::Sender<u64>,
    pipe: i32,
) -> Tally {
    let mut rng = Rng(seed ^ (id as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut tally = Tally::default();
    // Even workers produce into the bounded queue, odd ones consume: each
    // round, a producer puts as many items as its consumer takes.
    let producer = id.is_multiple_of(2);
    for round in 0..rounds {
        for op in 0..OPS_PER_ROUND {
            match rng.next() % 6 {
                0 => {
                    *s.counter.lock().unwrap() += 1;
                    tally.increments += 1;
                }
                1 => {
                    let mut pair = s.pair.write().unwrap();
                    pair.0 += 1;
                    // A reader must never see the halves differ, however
                    // long this writer is held up between them.
                    std::hint::black_box(&mut *pair);
                    pair.1 += 1;
                    tally.pair_writes += 1;
                }
                2 => {
                    let pair = s.pair.read().unwrap();
                    if pair.0 != pair.1 {
                        s.torn_reads.fetch_add(1, Ordering::Relaxed);
                    }
                }
                3 => {
                    s.atomic.fetch_add(op as u64, Ordering::AcqRel);
                }
                4 => {
                    tx.send(round as u64).unwrap();
                    tally.sent += 1;
                }
                _ => {
                    let byte = [id as u8];
                    // SAFETY: writes one byte from a live buffer.
                    let n = unsafe { libc::write(pipe, byte.as_ptr().cast(), 1) };
                    assert_eq!(n, 1, "pipe write");
                    tally.piped += 1;
                }
            }
            if op.is_multiple_of(50) {
                if producer {
                    let item = rng.next() % 1000;
                    let mut queue = s.queue.lock().unwrap();
                    while queue.len() == QUEUE_CAPACITY {
                        queue = s.not_full.wait(queue).unwrap();
                    }
                    queue.push_back(item);
                    tally.produced += item;
                    s.not_empty.notify_one();
                } else {
                    let mut queue = s.queue.lock().unwrap();
                    let item = loop {
                        match queue.pop_front() {
                            Some(item) => break item,
                            None => queue = s.not_empty.wait(queue).unwrap(),
                        }
                    };
                    tally.consumed_sum += item;
                    s.not_full.notify_one();
                }
            }
        }
        s.barrier.wait();
    }
    tally
}

/// Waits on every pipe's read end with epoll until `expected` bytes came.
fn epoll_reader(reads: Vec<i32>, expected: u64) -> u64 {
    // SAFETY: plain system calls on descriptors this program owns, with
    // live buffers of the sizes given.
    unsafe {
        let epoll = libc::epoll_create1(libc::EPOLL_CLOEXEC);
        assert!(epoll >= 0, "epoll_create1");
        for &fd in &reads {
            let mut event = libc::epoll_event {
                events: libc::EPOLLIN as u32,
                u64: fd as u64,
            };
            assert_eq!(
                libc::epoll_ctl(epoll, libc::EPOLL_CTL_ADD, fd, &mut event),
                0
            );
        }
        let mut got = 0u64;
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 8];
        let mut buf = [0u8; 256];
        while got < expected {
            let n = libc::epoll_wait(epoll, events.as_mut_ptr(), 8, 10_000);
            assert!(n > 0, "epoll_wait timed out with {got} of {expected} bytes");
            for event in &events[..n as usize] {
                let read = libc::read(event.u64 as i32, buf.as_mut_ptr().cast(), buf.len());
                assert!(read > 0, "read after readiness");
                got += read as u64;
            }
        }
        libc::close(epoll);
        got
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let seed: u64 = args.next().map_or(1, |a| a.parse().expect("seed"));
    let rounds: usize = args.next().map_or(40, |a| a.parse().expect("rounds"));
    let shared = Arc::new(Shared {
        counter: Mutex::new(0),
        pair: RwLock::new((0, 0)),
        queue: Mutex::new(VecDeque::new()),
        not_empty: Condvar::new(),
        not_full: Condvar::new(),
        atomic: AtomicU64::new(0),
        torn_reads: AtomicU64::new(0),
        barrier: Barrier::new(WORKERS),
    });
    let (tx, rx) = mpsc::channel::<u64>();
    let receiver = thread::spawn(move || rx.iter().fold((0u64, 0u64), |(n, s), v| (n + 1, s + v)));
    let mut pipes = Vec::new();
    for _ in 0..WORKERS {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        pipes.push(fds);
    }
    // What the seed makes each worker pipe, computed the way they draw.
    let piped_expected: u64 = (0..WORKERS)
        .map(|id| {
            let mut rng = Rng(seed ^ (id as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let mut piped = 0;
            for _ in 0..rounds {
                for op in 0..OPS_PER_ROUND {
                    if rng.next() % 6 == 5 {
                        piped += 1;
                    }
                    if op.is_multiple_of(50) && id.is_multiple_of(2) {
                        rng.next();
                    }
                }
            }
            piped
        })
        .sum();
    let reads: Vec<i32> = pipes.iter().map(|p| p[0]).collect();
    let reader = thread::spawn(move || epoll_reader(reads, piped_expected));
    let workers: Vec<_> = (0..WORKERS)
        .map(|id| {
            let shared = Arc::clone(&shared);
            let tx = tx.clone();
            let pipe = pipes[id][1];
            thread::spawn(move || worker(id, seed, rounds, &shared, tx, pipe))
        })
        .collect();
    drop(tx);
    let tallies: Vec<Tally> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    let piped = reader.join().unwrap();
    let (messages, message_sum) = receiver.join().unwrap();
    let sum = |f: fn(&Tally) -> u64| tallies.iter().map(f).sum::<u64>();
    let counter = *shared.counter.lock().unwrap();
    let pair = *shared.pair.read().unwrap();
    println!("seed {seed}, {WORKERS} workers, {rounds} rounds");
    println!("mutex counter {counter} of {}", sum(|t| t.increments));
    println!(
        "rwlock pair {pair:?} of {}, torn reads {}",
        sum(|t| t.pair_writes),
        shared.torn_reads.load(Ordering::Relaxed)
    );
    println!(
        "queue produced {} consumed {}",
        sum(|t| t.produced),
        sum(|t| t.consumed_sum)
    );
    println!(
        "channel messages {messages} of {} (sum {message_sum})",
        sum(|t| t.sent)
    );
    println!("epoll bytes {piped} of {}", sum(|t| t.piped));
    println!("atomic {}", shared.atomic.load(Ordering::Relaxed));
}
