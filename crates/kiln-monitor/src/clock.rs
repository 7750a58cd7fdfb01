//! Time as the guest and the host see it.
//!
//! The guest reads time from its TSC; the monitor samples the guest TSC once
//! before entry together with the host's clocks, which ties guest monotonic
//! time (nanoseconds since that sample) to host `CLOCK_MONOTONIC` and to the
//! wall clock. Block deadlines and the boot timeline go through this mapping.

use std::time::Duration;

/// Nanoseconds on a host clock.
pub fn host_now_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; clock_gettime only writes it.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    (ts.tv_sec as u64).saturating_mul(1_000_000_000) + ts.tv_nsec as u64
}

/// The mapping between guest TSC and host clocks for one boot.
#[derive(Clone, Copy, Debug)]
pub struct GuestClock {
    /// Guest TSC ticks per second.
    pub tsc_hz: u64,
    /// Guest TSC at guest monotonic zero.
    pub tsc_base: u64,
    /// Host `CLOCK_MONOTONIC` at guest monotonic zero.
    pub host_base_ns: u64,
    /// Unix time at guest monotonic zero.
    pub wall_base_ns: u64,
    /// Host `CLOCK_MONOTONIC` when the monitor process started its work.
    pub process_start_ns: u64,
}

impl GuestClock {
    /// Host monotonic nanoseconds at a guest TSC value.
    pub fn host_ns_at_tsc(&self, tsc: u64) -> u64 {
        let ticks = u128::from(tsc.saturating_sub(self.tsc_base));
        let ns = ticks * 1_000_000_000 / u128::from(self.tsc_hz.max(1));
        self.host_base_ns
            .saturating_add(u64::try_from(ns).unwrap_or(u64::MAX))
    }

    /// Host monotonic nanoseconds at a guest monotonic time.
    pub fn host_ns_at_guest_ns(&self, guest_ns: u64) -> u64 {
        self.host_base_ns.saturating_add(guest_ns)
    }

    /// Monitor time from process start to the clock sample (just before entry).
    pub fn setup_ns(&self) -> u64 {
        self.host_base_ns.saturating_sub(self.process_start_ns)
    }
}

/// Formats nanoseconds for humans.
pub fn format_ns(ns: u64) -> String {
    let d = Duration::from_nanos(ns);
    if ns < 1_000_000 {
        format!("{:.1} µs", d.as_secs_f64() * 1e6)
    } else {
        format!("{:.3} ms", d.as_secs_f64() * 1e3)
    }
}
