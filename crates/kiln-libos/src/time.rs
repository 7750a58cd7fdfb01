//! Time for programs: the clocks ([`crate::clock`]) and sleeping, which
//! lets other threads run.

use core::time::Duration;

pub use crate::clock::{Instant, unix_time};
#[cfg(not(feature = "threads"))]
use crate::platform;

/// Idles for at least `duration` without using the CPU: the vCPU blocks in
/// the monitor until the deadline (which writes out buffered console
/// output first, as a program going idle would expect).
pub fn sleep(duration: Duration) {
    sleep_until(Instant::now() + duration);
}

/// Idles until `deadline` (other threads run meanwhile).
pub fn sleep_until(deadline: Instant) {
    #[cfg(feature = "threads")]
    crate::sched::sleep_until(deadline.as_nanos_since_boot());
    #[cfg(not(feature = "threads"))]
    while Instant::now() < deadline {
        platform::block_until(deadline.as_nanos_since_boot());
    }
}
