//! Round-trip latency of two threads waking each other through a
//! `Mutex<bool>` + `Condvar` pair (futex-backed in std).
//!
//!   ping-pong [M]   (default 100000)
//!
//! Prints `ping-pong: MEAN ns per round trip (M round trips)`.

use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Instant;

const DEFAULT_M: u32 = 100_000;
const WARMUP: u32 = 1_000;

/// `turn == false`: the main thread's move; `true`: the partner's.
struct Court {
    turn: Mutex<bool>,
    cv: Condvar,
}

impl Court {
    /// Waits until it is `mine`'s turn, then hands the turn over.
    fn hit(&self, mine: bool) {
        let mut turn = self.turn.lock().expect("not poisoned");
        while *turn != mine {
            turn = self.cv.wait(turn).expect("not poisoned");
        }
        *turn = !mine;
        self.cv.notify_one();
    }
}

fn main() {
    let m: u32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_M);
    let court = Arc::new(Court {
        turn: Mutex::new(false),
        cv: Condvar::new(),
    });
    let total = WARMUP + m;
    let partner = {
        let court = Arc::clone(&court);
        thread::spawn(move || {
            for _ in 0..total {
                court.hit(true);
            }
        })
    };
    for _ in 0..WARMUP {
        court.hit(false);
    }
    let start = Instant::now();
    for _ in 0..m {
        court.hit(false);
    }
    // The last round trip ends when the partner has handed the turn back.
    {
        let mut turn = court.turn.lock().expect("not poisoned");
        while *turn {
            turn = court.cv.wait(turn).expect("not poisoned");
        }
    }
    let elapsed = start.elapsed();
    partner.join().expect("partner ran");
    let mean = elapsed.as_nanos() as f64 / f64::from(m);
    println!("ping-pong: {mean:.0} ns per round trip ({m} round trips)");
}
