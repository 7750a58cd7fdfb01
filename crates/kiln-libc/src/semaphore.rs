//! Semaphores (`sem_*`): unnamed ones on a futex word; named ones fail as
//! glibc does on a system without a `/dev/shm` (there is no shared memory
//! between processes in a unikernel).
//!
//! A `sem_t` keeps glibc's 32-byte layout: the value at offset 0 and the
//! count of sleeping waiters at 4 (a poster wakes only when someone may be
//! asleep).

use core::ffi::{CStr, c_char, c_void};
use core::sync::atomic::{AtomicU32, Ordering};

use crate::CInt;
use crate::errno::{self, code};
use crate::futex;
use crate::time::{CLOCK_REALTIME, Timespec};

/// Kiln's layout of a `sem_t`.
#[repr(C)]
struct Semaphore {
    value: AtomicU32,
    waiters: AtomicU32,
    shared: AtomicU32,
    unused: [u32; 5],
}

const _: () = assert!(size_of::<Semaphore>() == 32);

/// The largest value (`SEM_VALUE_MAX`).
const SEM_VALUE_MAX: u32 = i32::MAX as u32;

/// Longest name glibc builds a path from (`NAME_MAX`).
const NAME_MAX: usize = 255;

impl Semaphore {
    /// # Safety
    /// `sem` must be valid for a `sem_t` used only through these functions
    /// while the reference lives.
    unsafe fn from_c<'a>(sem: *mut c_void) -> &'a Semaphore {
        // SAFETY: per the caller; the layout is a sem_t's.
        unsafe { &*sem.cast::<Semaphore>() }
    }

    /// Takes one unit if there is one.
    fn try_take(&self) -> bool {
        let mut value = self.value.load(Ordering::Relaxed);
        while value > 0 {
            match self.value.compare_exchange_weak(
                value,
                value - 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => value = now,
            }
        }
        false
    }

    /// Takes one unit, sleeping while there is none, until `deadline`.
    fn take(&self, deadline: futex::Deadline) -> Result<(), futex::TimedOut> {
        while !self.try_take() {
            self.waiters.fetch_add(1, Ordering::SeqCst);
            let slept = futex::wait(&self.value, 0, deadline);
            self.waiters.fetch_sub(1, Ordering::SeqCst);
            if slept.is_err() {
                // A post that raced with the deadline still counts.
                return if self.try_take() { Ok(()) } else { slept };
            }
        }
        Ok(())
    }
}

/// `sem_init(3)`: `EINVAL` for a value above `SEM_VALUE_MAX`.
///
/// # Safety
/// `sem` valid for a `sem_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sem_init(sem: *mut c_void, pshared: CInt, value: u32) -> CInt {
    if value > SEM_VALUE_MAX {
        return errno::fail(code::EINVAL);
    }
    // SAFETY: per the caller.
    unsafe {
        sem.cast::<Semaphore>().write(Semaphore {
            value: AtomicU32::new(value),
            waiters: AtomicU32::new(0),
            shared: AtomicU32::new(u32::from(pshared != 0)),
            unused: [0; 5],
        })
    };
    0
}

/// `sem_destroy(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn sem_destroy(_sem: *mut c_void) -> CInt {
    0
}

/// `sem_post(3)`: `EOVERFLOW` at `SEM_VALUE_MAX`.
///
/// # Safety
/// `sem` an initialised `sem_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sem_post(sem: *mut c_void) -> CInt {
    // SAFETY: per the caller.
    let sem = unsafe { Semaphore::from_c(sem) };
    let raised = sem
        .value
        .fetch_update(Ordering::SeqCst, Ordering::Relaxed, |v| {
            (v < SEM_VALUE_MAX).then_some(v + 1)
        });
    if raised.is_err() {
        return errno::fail(code::EOVERFLOW);
    }
    if sem.waiters.load(Ordering::SeqCst) > 0 {
        futex::wake(&sem.value, 1);
    }
    0
}

/// `sem_wait(3)`.
///
/// # Safety
/// `sem` an initialised `sem_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sem_wait(sem: *mut c_void) -> CInt {
    traced!("sem_wait"(sem) {
    // SAFETY: per the caller.
    let _ = unsafe { Semaphore::from_c(sem) }.take(futex::FOREVER);
    0
    })
}

/// `sem_trywait(3)`: `EAGAIN` at 0.
///
/// # Safety
/// `sem` an initialised `sem_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sem_trywait(sem: *mut c_void) -> CInt {
    // SAFETY: per the caller.
    if unsafe { Semaphore::from_c(sem) }.try_take() {
        0
    } else {
        errno::fail(code::EAGAIN)
    }
}

/// `sem_timedwait(3)`: until `abstime` on `CLOCK_REALTIME`.
///
/// # Safety
/// `sem` an initialised `sem_t`; `abstime` a valid timespec.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sem_timedwait(sem: *mut c_void, abstime: *const Timespec) -> CInt {
    // SAFETY: per the caller.
    unsafe { sem_clockwait(sem, CLOCK_REALTIME, abstime) }
}

/// `sem_clockwait(3)`: `EINVAL` for a clock other than `CLOCK_REALTIME` or
/// `CLOCK_MONOTONIC`, or nanoseconds out of range, checked first as in
/// glibc; `ETIMEDOUT` once `abstime` passes.
///
/// # Safety
/// As for [`sem_timedwait`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sem_clockwait(
    sem: *mut c_void,
    clock: CInt,
    abstime: *const Timespec,
) -> CInt {
    traced!("sem_clockwait"(sem, clock, abstime) {
    // SAFETY: per the caller.
    let (sem, abstime) = unsafe { (Semaphore::from_c(sem), &*abstime) };
    let deadline = match futex::deadline(clock, abstime) {
        Ok(deadline) => deadline,
        Err(error) => return errno::fail(error),
    };
    match sem.take(deadline) {
        Ok(()) => 0,
        Err(futex::TimedOut) => errno::fail(code::ETIMEDOUT),
    }
    })
}

/// `sem_getvalue(3)`.
///
/// # Safety
/// `sem` an initialised `sem_t`; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sem_getvalue(sem: *mut c_void, out: *mut CInt) -> CInt {
    // SAFETY: per the caller.
    let value = unsafe { Semaphore::from_c(sem) }
        .value
        .load(Ordering::Relaxed);
    // SAFETY: per the caller.
    unsafe { out.write(value as CInt) };
    0
}

/// Whether glibc would build a `/dev/shm` path from `name`: one leading run
/// of slashes, then a non-empty name without slashes that fits `NAME_MAX`
/// with glibc's `sem.` prefix.
fn valid_name(name: &[u8]) -> bool {
    let start = name.iter().position(|&b| b != b'/').unwrap_or(name.len());
    let name = &name[start..];
    !name.is_empty() && !name.contains(&b'/') && name.len() + "sem.".len() <= NAME_MAX
}

/// `sem_open(3)`: `EINVAL` for a name glibc rejects, else `ENOENT`, glibc's
/// answer when `/dev/shm`, where named semaphores live, does not exist.
///
/// # Safety
/// `name` a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sem_open(name: *const c_char, _flags: CInt) -> *mut c_void {
    traced!("sem_open"(name) {
    // SAFETY: per the caller.
    let name = unsafe { CStr::from_ptr(name) }.to_bytes();
    errno::fail_null(if valid_name(name) { code::ENOENT } else { code::EINVAL })
    })
}

/// `sem_unlink(3)`: there is no named semaphore to remove (`ENOENT`, as
/// glibc answers for every name on a system without `/dev/shm`).
#[unsafe(no_mangle)]
pub extern "C" fn sem_unlink(_name: *const c_char) -> CInt {
    errno::fail(code::ENOENT)
}

/// `sem_close(3)`: no semaphore came from `sem_open`, so none can be closed.
#[unsafe(no_mangle)]
pub extern "C" fn sem_close(_sem: *mut c_void) -> CInt {
    errno::fail(code::EINVAL)
}
