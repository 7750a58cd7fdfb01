//! Futex-style waiting on a 32-bit word, with deadlines on the caller's
//! clock: what every blocking pthread primitive, the semaphores and the
//! `futex` syscall are built on.
//!
//! A wait sleeps only while the word still holds the expected value, and a
//! wake after the word changed reaches every thread that saw the old value:
//! the primitives rely on nothing else (not on one vCPU, not on the absence
//! of preemption), so they stay correct when threads truly run in parallel.

use core::sync::atomic::{AtomicU32, Ordering};
use core::time::Duration;

use kiln_libos::sched;
use kiln_libos::time::{Instant, unix_time};

use crate::CInt;
use crate::errno::code;
use crate::time::{CLOCK_MONOTONIC, CLOCK_REALTIME, Timespec};

/// A deadline in nanoseconds since boot, the scheduler's clock.
pub type Deadline = u64;

/// No deadline: wait until woken.
pub const FOREVER: Deadline = u64::MAX;

/// The wait ended because its deadline passed.
#[derive(Debug, PartialEq, Eq)]
pub struct TimedOut;

/// Sleeps while `word` holds `expected`, until a [`wake`] on it or
/// `deadline`. Returns at once when the word already differs.
pub fn wait(word: &AtomicU32, expected: u32, deadline: Deadline) -> Result<(), TimedOut> {
    // The check and the sleep are one step under the scheduler's lock,
    // which every wake takes: a wake cannot come between them, on this vCPU
    // or another (as Linux's futex keeps the two atomic under its bucket
    // lock).
    match sched::wait_if(key(word), deadline, &|| {
        word.load(Ordering::SeqCst) == expected
    }) {
        None | Some(sched::Wake::Woken) => Ok(()),
        Some(sched::Wake::TimedOut) => Err(TimedOut),
    }
}

/// Wakes up to `count` threads waiting on `word`; returns how many. The
/// word's storage may already be gone (a waiter that saw the change may have
/// returned and freed it): the address is only a key, never read.
pub fn wake(word: *const AtomicU32, count: usize) -> usize {
    sched::wake(word as usize, count)
}

fn key(word: &AtomicU32) -> usize {
    core::ptr::from_ref(word) as usize
}

/// Nanoseconds since boot of the wall-clock instant `unix_nanos`, which the
/// scheduler's deadlines need; instants before boot map to 0 (passed).
pub fn boot_nanos_of_wall(unix_nanos: u64) -> Deadline {
    let now = Instant::now().as_nanos_since_boot();
    let wall_now = u64::try_from(unix_time().as_nanos()).unwrap_or(u64::MAX);
    unix_nanos.saturating_sub(wall_now.saturating_sub(now))
}

/// Whether a timed wait may use `clock`: glibc accepts only these two.
pub fn supported_clock(clock: CInt) -> bool {
    clock == CLOCK_REALTIME || clock == CLOCK_MONOTONIC
}

/// Whether `abstime`'s nanoseconds are in range (glibc's
/// `valid_nanoseconds`; a negative second count is valid and has passed).
pub fn valid_nanoseconds(abstime: &Timespec) -> bool {
    (0..1_000_000_000).contains(&abstime.nsec)
}

/// The deadline of an absolute `abstime` on `clock`: `EINVAL` for an
/// unsupported clock or out-of-range nanoseconds, as glibc answers.
pub fn deadline(clock: CInt, abstime: &Timespec) -> Result<Deadline, CInt> {
    if !supported_clock(clock) || !valid_nanoseconds(abstime) {
        return Err(code::EINVAL);
    }
    let Ok(sec) = u64::try_from(abstime.sec) else {
        return Ok(0);
    };
    let nanos = Duration::new(sec, abstime.nsec as u32).as_nanos();
    let nanos = u64::try_from(nanos).unwrap_or(u64::MAX);
    Ok(if clock == CLOCK_REALTIME {
        boot_nanos_of_wall(nanos)
    } else {
        nanos
    })
}

/// A lock on a futex word, in three states (free, locked, locked with
/// waiters), as in Drepper's "Futexes Are Tricky": an unlock makes a wake
/// call only when a thread may be sleeping.
#[derive(Default)]
#[repr(transparent)]
pub struct Lock(AtomicU32);

const FREE: u32 = 0;
const LOCKED: u32 = 1;
const CONTENDED: u32 = 2;

impl Lock {
    /// A free lock (all zeros, as C's static initialisers leave it).
    pub const fn new() -> Self {
        Self(AtomicU32::new(FREE))
    }

    /// Takes the lock without waiting, if it is free.
    pub fn try_lock(&self) -> bool {
        self.0
            .compare_exchange(FREE, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Takes the lock, waiting for it until `deadline`.
    pub fn lock_until(&self, deadline: Deadline) -> Result<(), TimedOut> {
        if self.try_lock() {
            return Ok(());
        }
        while self.0.swap(CONTENDED, Ordering::Acquire) != FREE {
            wait(&self.0, CONTENDED, deadline)?;
        }
        Ok(())
    }

    /// Takes the lock, however long that takes.
    pub fn lock(&self) {
        // Without a deadline the wait cannot time out.
        let _ = self.lock_until(FOREVER);
    }

    /// Releases the lock, waking one waiter if there may be one.
    pub fn unlock(&self) {
        if self.0.swap(FREE, Ordering::Release) == CONTENDED {
            wake(&self.0, 1);
        }
    }

    /// Whether some thread holds the lock.
    pub fn is_locked(&self) -> bool {
        self.0.load(Ordering::Relaxed) != FREE
    }
}
