//! `<time.h>`: clocks and sleeping, on the library OS's TSC clock (reading
//! the time is never a VM exit, sleeping idles the vCPU in the monitor);
//! time zones ([`zone`]), broken-down time ([`calendar`]) and its text
//! ([`strftime`], [`strptime`], [`text`]).

pub mod calendar;
mod names;
pub mod strftime;
pub mod strptime;
pub mod text;
pub mod zone;

use core::time::Duration;

use core::ffi::c_char;

use kiln_libos::fs::{self, flags::AT_FDCWD};
use kiln_libos::time::{Instant, sleep, sleep_until, unix_time};

use crate::CInt;
use crate::errno::{self, code};

pub(crate) const CLOCK_REALTIME: CInt = 0;
pub(crate) const CLOCK_MONOTONIC: CInt = 1;
const CLOCK_PROCESS_CPUTIME_ID: CInt = 2;
const CLOCK_THREAD_CPUTIME_ID: CInt = 3;
const CLOCK_MONOTONIC_RAW: CInt = 4;
const CLOCK_REALTIME_COARSE: CInt = 5;
const CLOCK_MONOTONIC_COARSE: CInt = 6;
const CLOCK_BOOTTIME: CInt = 7;
const TIMER_ABSTIME: CInt = 1;

/// The reading of `clock`, or `None` for clocks Kiln does not have.
fn now(clock: CInt) -> Option<Duration> {
    match clock {
        CLOCK_REALTIME | CLOCK_REALTIME_COARSE => Some(unix_time()),
        CLOCK_MONOTONIC | CLOCK_MONOTONIC_RAW | CLOCK_MONOTONIC_COARSE | CLOCK_BOOTTIME => {
            Some(Duration::from_nanos(Instant::now().as_nanos_since_boot()))
        }
        // The scheduler keeps no per-thread CPU time: a thread's clock is
        // the process's, which like Linux's stands still while it sleeps
        // (the same answer as `getrusage`).
        CLOCK_PROCESS_CPUTIME_ID | CLOCK_THREAD_CPUTIME_ID => Some(kiln_libos::sched::cpu_time()),
        _ => None,
    }
}

/// `struct timespec`.
#[repr(C)]
pub struct Timespec {
    pub(crate) sec: i64,
    pub(crate) nsec: i64,
}

impl Timespec {
    fn from_duration(d: Duration) -> Self {
        Self {
            sec: d.as_secs() as i64,
            nsec: i64::from(d.subsec_nanos()),
        }
    }

    /// The duration, or `None` if the fields are out of range.
    pub(crate) fn to_duration(&self) -> Option<Duration> {
        (self.sec >= 0 && (0..1_000_000_000).contains(&self.nsec))
            .then(|| Duration::new(self.sec as u64, self.nsec as u32))
    }
}

/// `clock_gettime(2)`.
///
/// # Safety
/// `out` must be valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn clock_gettime(clock: CInt, out: *mut Timespec) -> CInt {
    match now(clock) {
        // SAFETY: per the caller.
        Some(t) => unsafe { out.write(Timespec::from_duration(t)) },
        None => return errno::fail(code::EINVAL),
    }
    0
}

/// `time(2)`.
///
/// # Safety
/// `out` must be null or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn time(out: *mut i64) -> i64 {
    let now = unix_time().as_secs() as i64;
    if !out.is_null() {
        // SAFETY: per the caller.
        unsafe { out.write(now) };
    }
    now
}

/// `struct timeval`.
#[repr(C)]
pub struct Timeval {
    sec: i64,
    usec: i64,
}

/// `gettimeofday(2)`.
///
/// # Safety
/// `out` must be null or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gettimeofday(out: *mut Timeval, _zone: *mut u8) -> CInt {
    if !out.is_null() {
        let t = unix_time();
        // SAFETY: per the caller.
        unsafe {
            out.write(Timeval {
                sec: t.as_secs() as i64,
                usec: i64::from(t.subsec_micros()),
            })
        };
    }
    0
}

/// `nanosleep(2)`: never interrupted (there are no signals).
///
/// # Safety
/// `request` must be valid for a read.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanosleep(request: *const Timespec, _remain: *mut Timespec) -> CInt {
    traced!("nanosleep"(request) {
    // SAFETY: per the caller.
    match unsafe { &*request }.to_duration() {
        Some(d) => {
            sleep(d);
            0
        }
        None => errno::fail(code::EINVAL),
    }
    })
}

/// `clock_nanosleep(2)`: returns the error instead of setting `errno`.
///
/// # Safety
/// `request` must be valid for a read.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn clock_nanosleep(
    clock: CInt,
    flags: CInt,
    request: *const Timespec,
    _remain: *mut Timespec,
) -> CInt {
    traced!("clock_nanosleep"(clock, flags, request) {
    // SAFETY: per the caller.
    let Some(d) = unsafe { &*request }.to_duration() else {
        return code::EINVAL;
    };
    let Some(current) = now(clock) else {
        return code::EINVAL;
    };
    if flags & TIMER_ABSTIME == 0 {
        sleep(d);
    } else if d > current {
        sleep_until(Instant::now() + (d - current));
    }
    0
    })
}

/// `[access, modification]` as `utimensat` takes them, from `utimes`'s
/// two `struct timeval` (null: both now).
///
/// # Safety
/// `times` must be null or point at two `struct timeval`.
unsafe fn timespecs(times: *const Timeval) -> Result<Option<[[i64; 2]; 2]>, CInt> {
    if times.is_null() {
        return Ok(None);
    }
    // SAFETY: per the caller.
    let pair = unsafe { [&*times, &*times.add(1)] };
    let mut out = [[0; 2]; 2];
    for (out, time) in out.iter_mut().zip(pair) {
        if !(0..1_000_000).contains(&time.usec) {
            return Err(code::EINVAL);
        }
        *out = [time.sec, time.usec * 1000];
    }
    Ok(Some(out))
}

/// `utimes(2)` and `lutimes(3)` (`follow` false).
///
/// # Safety
/// `path` must be null or a NUL-terminated string; `times` null or two
/// `struct timeval`.
unsafe fn set_path_times(path: *const c_char, times: *const Timeval, follow: bool) -> CInt {
    // SAFETY: per the caller.
    let times = match unsafe { timespecs(times) } {
        Ok(times) => times,
        Err(e) => return errno::fail(e),
    };
    // SAFETY: per the caller.
    let result = unsafe { crate::c_path(path) }
        .and_then(|path| fs::set_times(AT_FDCWD, Some(path), times, follow));
    errno::check(result.map(|()| 0)) as CInt
}

/// `utimes(2)`.
///
/// # Safety
/// As `set_path_times`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn utimes(path: *const c_char, times: *const Timeval) -> CInt {
    traced!("utimes"(path, times) {
    // SAFETY: per the caller.
    unsafe { set_path_times(path, times, true) }
    })
}

/// `lutimes(3)`: of a symbolic link itself.
///
/// # Safety
/// As `set_path_times`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lutimes(path: *const c_char, times: *const Timeval) -> CInt {
    traced!("lutimes"(path, times) {
    // SAFETY: per the caller.
    unsafe { set_path_times(path, times, false) }
    })
}

/// `futimes(3)`.
///
/// # Safety
/// `times` must be null or point at two `struct timeval`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn futimes(fd: CInt, times: *const Timeval) -> CInt {
    traced!("futimes"(fd, times) {
    // SAFETY: per the caller.
    let result = match unsafe { timespecs(times) } {
        Ok(times) => fs::set_times(fd, None, times, true),
        Err(e) => Err(fs::Errno(e)),
    };
    errno::check(result.map(|()| 0)) as CInt
    })
}
