//! `--timeout`: ending a guest that runs too long.
//!
//! A guest spinning at CPL3 never exits to the monitor, so the deadline is
//! enforced from outside: an `ITIMER_REAL` raises `SIGALRM`, whose
//! handler sets every vCPU's `immediate_exit` flag and interrupts the
//! `KVM_RUN` (or the wait) of the thread it lands on with `EINTR`. Setting
//! the flags as well closes the race where the signal lands just before
//! the next `KVM_RUN`. The process's signal goes to its main thread, the
//! boot vCPU's, which does not block it; the vCPU thread that sees the
//! timeout first stops the others ([`crate::vcpus`]).
//!
//! After the deadline the signal repeats every [`REPEAT`] until the
//! watchdog is dropped: one signal interrupts only the call it lands in,
//! and a hypercall can block more than once (each deferred write to a FIFO
//! on a volume that nothing reads), or begin to block just after the
//! signal. Each such call is cut short within [`REPEAT`].

use std::io;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::time::Duration;

use kiln_abi::boot::MAX_VCPUS;

/// How often `SIGALRM` repeats once the deadline has passed.
const REPEAT: Duration = Duration::from_millis(10);

static FIRED: AtomicBool = AtomicBool::new(false);
static IMMEDIATE_EXIT: [AtomicPtr<u8>; MAX_VCPUS] =
    [const { AtomicPtr::new(ptr::null_mut()) }; MAX_VCPUS];

extern "C" fn on_alarm(_signal: libc::c_int) {
    FIRED.store(true, Ordering::SeqCst);
    for flag in &IMMEDIATE_EXIT {
        let flag = flag.load(Ordering::SeqCst);
        if !flag.is_null() {
            // SAFETY: `flag` points into a vCPU's kvm_run page, which
            // `Watchdog` keeps registered only while that page is mapped (it
            // clears the pointers on drop, before the vCPUs go away).
            unsafe { flag.write_volatile(1) };
        }
    }
}

/// An armed timeout; disarmed on drop.
pub struct Watchdog(());

impl Watchdog {
    /// Arms the timer. `immediate_exit` holds each vCPU's
    /// `kvm_run.immediate_exit` byte (at most `MAX_VCPUS`), which must stay
    /// mapped until the watchdog is dropped.
    pub fn arm(timeout: Duration, immediate_exit: &[*mut u8]) -> io::Result<Self> {
        for (slot, &flag) in IMMEDIATE_EXIT.iter().zip(immediate_exit) {
            slot.store(flag, Ordering::SeqCst);
        }
        // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = on_alarm as extern "C" fn(libc::c_int) as usize;
        // No SA_RESTART: the interrupted KVM_RUN or sleep must return EINTR.
        // SAFETY: `action` is fully initialised and the handler only touches atomics
        // and the registered flag, which is async-signal-safe.
        if unsafe { libc::sigaction(libc::SIGALRM, &action, ptr::null_mut()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // The timer counts whole microseconds, and a zero value would
        // disarm it: a shorter timeout must still fire, not never.
        set_timer(timeout.max(Duration::from_micros(1)))?;
        Ok(Self(()))
    }

    /// Whether the timeout has passed.
    pub fn fired() -> bool {
        FIRED.load(Ordering::SeqCst)
    }
}

/// The time left before `--timeout` while gdb holds the guest stopped
/// ([`crate::gdb`]): the timer is disarmed until [`Paused::resume`].
#[derive(Debug)]
pub struct Paused(libc::itimerval);

/// Stops the timeout's clock (a guest stopped in gdb does not run out of
/// time); a disarmed timer stays disarmed when resumed.
pub fn pause() -> io::Result<Paused> {
    let zero = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    let off = libc::itimerval {
        it_interval: zero,
        it_value: zero,
    };
    let mut left = off;
    // SAFETY: valid itimervals; the old value is written into `left`.
    if unsafe { libc::setitimer(libc::ITIMER_REAL, &off, &mut left) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Paused(left))
}

impl Paused {
    /// Restarts the timeout's clock with the time that was left.
    pub fn resume(self) -> io::Result<()> {
        // SAFETY: a valid itimerval; the old value is not requested.
        if unsafe { libc::setitimer(libc::ITIMER_REAL, &self.0, ptr::null_mut()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        // A failure to disarm only risks a late SIGALRM that finds no flag to set.
        let _ = set_timer(Duration::ZERO);
        for slot in &IMMEDIATE_EXIT {
            slot.store(ptr::null_mut(), Ordering::SeqCst);
        }
    }
}

/// Arms the timer for `timeout`, then every [`REPEAT`]; `Duration::ZERO`
/// disarms it.
fn set_timer(timeout: Duration) -> io::Result<()> {
    let timeval = |d: Duration| libc::timeval {
        tv_sec: d.as_secs() as libc::time_t,
        tv_usec: libc::suseconds_t::from(d.subsec_micros()),
    };
    let repeat = if timeout.is_zero() {
        Duration::ZERO
    } else {
        REPEAT
    };
    let timer = libc::itimerval {
        it_interval: timeval(repeat),
        it_value: timeval(timeout),
    };
    // SAFETY: `timer` is a valid itimerval; the old value is not requested.
    if unsafe { libc::setitimer(libc::ITIMER_REAL, &timer, ptr::null_mut()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
