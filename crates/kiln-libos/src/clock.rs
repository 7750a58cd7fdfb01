//! The clocks: monotonic time and the wall clock, from the TSC.
//!
//! Reading the time is an `rdtsc` at native speed, never an exit. The
//! monitor's boot info gives the TSC frequency and the TSC value at guest
//! time zero, with the wall-clock time at that instant. Everything above
//! the platform may read the clocks; sleeping is the `time` module's,
//! above the scheduler.

use core::ops::{Add, Sub};
use core::time::Duration;

use crate::platform;

/// Guest monotonic time in nanoseconds since boot.
fn monotonic_ns() -> u64 {
    let boot = platform::boot_info();
    let ticks = platform::rdtsc().saturating_sub(boot.tsc_base);
    let ns = u128::from(ticks) * 1_000_000_000 / u128::from(boot.tsc_hz.max(1));
    ns as u64
}

/// A point on the monotonic clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(u64);

impl Instant {
    /// Now.
    pub fn now() -> Self {
        Self(monotonic_ns())
    }

    /// Time since `earlier` (zero if `earlier` is later).
    pub fn duration_since(&self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// Time since this instant.
    pub fn elapsed(&self) -> Duration {
        Self::now().duration_since(*self)
    }

    /// Nanoseconds since boot.
    pub fn as_nanos_since_boot(&self) -> u64 {
        self.0
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, rhs: Duration) -> Instant {
        let ns = u64::try_from(rhs.as_nanos()).unwrap_or(u64::MAX);
        Instant(self.0.saturating_add(ns))
    }
}

impl Sub for Instant {
    type Output = Duration;
    fn sub(self, rhs: Instant) -> Duration {
        self.duration_since(rhs)
    }
}

/// Wall-clock time since the Unix epoch.
pub fn unix_time() -> Duration {
    let boot = platform::boot_info();
    Duration::from_nanos(boot.wall_clock_base_ns.saturating_add(monotonic_ns()))
}
