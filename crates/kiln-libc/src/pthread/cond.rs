//! Condition variables (`pthread_cond_*`, `pthread_condattr_*`).
//!
//! Each waiter queues a node on its own stack and sleeps on the node's
//! word; `signal` hands the oldest waiter its wake-up, `broadcast` all of
//! them. A signal therefore always goes to a thread that was waiting when it
//! was sent, never to one that arrived later, with no reliance on how
//! threads are scheduled. The queue is guarded by a lock word inside the
//! 48-byte `pthread_cond_t`; all zeros (`PTHREAD_COND_INITIALIZER`) is an
//! empty condition variable on `CLOCK_REALTIME`.

use core::ffi::c_void;
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU32, Ordering};

use super::mutex::{Mutex, Timeout};
use crate::CInt;
use crate::errno::code;
use crate::futex::{self, Lock};
use crate::time::{CLOCK_MONOTONIC, CLOCK_REALTIME, Timespec};

/// Kiln's layout of a `pthread_cond_t`.
#[repr(C)]
struct Cond {
    /// Guards the queue.
    lock: Lock,
    /// [`FLAG_MONOTONIC`] when timed waits use `CLOCK_MONOTONIC`.
    flags: AtomicU32,
    /// Oldest waiter first.
    head: AtomicPtr<Waiter>,
    tail: AtomicPtr<Waiter>,
    unused: [u64; 3],
}

const _: () = assert!(size_of::<Cond>() == 48);

const FLAG_MONOTONIC: u32 = 1;

/// A waiting thread's place in the queue, on its stack. The links are only
/// touched under the condition variable's lock; `signalled` turns 1 (the
/// last write a waker makes to the node) when the thread may go.
struct Waiter {
    signalled: AtomicU32,
    next: AtomicPtr<Waiter>,
    prev: AtomicPtr<Waiter>,
}

/// The value a `pthread_condattr_t` starts with: private, `CLOCK_REALTIME`.
const ATTR_DEFAULT: u32 = 0;
/// glibc's encoding: bit 0 process-shared, the clock id above it.
const ATTR_PSHARED: u32 = 1;
const ATTR_CLOCK_SHIFT: u32 = 1;

impl Cond {
    /// # Safety
    /// `cond` must be valid for a `pthread_cond_t` used only through these
    /// functions while the reference lives.
    unsafe fn from_c<'a>(cond: *mut c_void) -> &'a Cond {
        // SAFETY: per the caller; the layout fits a pthread_cond_t.
        unsafe { &*cond.cast::<Cond>() }
    }

    fn clock(&self) -> CInt {
        if self.flags.load(Ordering::Relaxed) & FLAG_MONOTONIC != 0 {
            CLOCK_MONOTONIC
        } else {
            CLOCK_REALTIME
        }
    }

    /// Appends `waiter`. Called with the lock held.
    fn push(&self, waiter: &Waiter) {
        let node = ptr::from_ref(waiter).cast_mut();
        let tail = self.tail.load(Ordering::Relaxed);
        waiter.prev.store(tail, Ordering::Relaxed);
        waiter.next.store(ptr::null_mut(), Ordering::Relaxed);
        if tail.is_null() {
            self.head.store(node, Ordering::Relaxed);
        } else {
            // SAFETY: queued nodes stay alive until taken off under the lock.
            unsafe { (*tail).next.store(node, Ordering::Relaxed) };
        }
        self.tail.store(node, Ordering::Relaxed);
    }

    /// Takes `waiter` out of the queue. Called with the lock held, for a
    /// waiter still queued.
    fn remove(&self, waiter: &Waiter) {
        let prev = waiter.prev.load(Ordering::Relaxed);
        let next = waiter.next.load(Ordering::Relaxed);
        // SAFETY: queued neighbours stay alive while the lock is held.
        unsafe {
            match prev.as_ref() {
                Some(prev) => prev.next.store(next, Ordering::Relaxed),
                None => self.head.store(next, Ordering::Relaxed),
            }
            match next.as_ref() {
                Some(next) => next.prev.store(prev, Ordering::Relaxed),
                None => self.tail.store(prev, Ordering::Relaxed),
            }
        }
    }

    /// Wakes the oldest waiter, or every waiter when `all`.
    fn wake(&self, all: bool) {
        self.lock.lock();
        loop {
            let node = self.head.load(Ordering::Relaxed);
            if node.is_null() {
                break;
            }
            // SAFETY: a queued node, alive until its `signalled` turns 1.
            unsafe {
                let next = (*node).next.load(Ordering::Relaxed);
                self.head.store(next, Ordering::Relaxed);
                match next.as_ref() {
                    Some(next) => next.prev.store(ptr::null_mut(), Ordering::Relaxed),
                    None => self.tail.store(ptr::null_mut(), Ordering::Relaxed),
                }
                let word = &raw const (*node).signalled;
                (*word).store(1, Ordering::Release);
                futex::wake(word, 1);
            }
            if !all {
                break;
            }
        }
        self.lock.unlock();
    }

    /// Releases `mutex`, waits for a wake-up or `deadline`, and takes
    /// `mutex` again.
    fn wait(&self, mutex: &Mutex, deadline: futex::Deadline) -> CInt {
        let waiter = Waiter {
            signalled: AtomicU32::new(0),
            next: AtomicPtr::new(ptr::null_mut()),
            prev: AtomicPtr::new(ptr::null_mut()),
        };
        self.lock.lock();
        self.push(&waiter);
        self.lock.unlock();
        let unlocked = mutex.unlock();
        if unlocked != 0 {
            // Not the caller's mutex: leave without waiting, passing on a
            // wake-up that reached this waiter meanwhile.
            self.lock.lock();
            let signalled = waiter.signalled.load(Ordering::Acquire) != 0;
            if !signalled {
                self.remove(&waiter);
            }
            self.lock.unlock();
            if signalled {
                self.wake(false);
            }
            return unlocked;
        }
        let mut result = 0;
        while waiter.signalled.load(Ordering::Acquire) == 0 {
            if futex::wait(&waiter.signalled, 0, deadline).is_err() {
                self.lock.lock();
                if waiter.signalled.load(Ordering::Acquire) == 0 {
                    self.remove(&waiter);
                    result = code::ETIMEDOUT;
                }
                self.lock.unlock();
                break;
            }
        }
        mutex.lock(Timeout::Forever);
        result
    }
}

/// `pthread_cond_init(3)`.
///
/// # Safety
/// `cond` valid for a `pthread_cond_t`; `attr` null or from
/// `pthread_condattr_init`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_cond_init(cond: *mut c_void, attr: *const u32) -> CInt {
    // SAFETY: per the caller.
    let attr = unsafe { attr.as_ref() }.copied().unwrap_or(ATTR_DEFAULT);
    let monotonic = (attr >> ATTR_CLOCK_SHIFT) as CInt == CLOCK_MONOTONIC;
    // SAFETY: per the caller.
    unsafe {
        cond.cast::<Cond>().write(Cond {
            lock: Lock::new(),
            flags: AtomicU32::new(if monotonic { FLAG_MONOTONIC } else { 0 }),
            head: AtomicPtr::new(ptr::null_mut()),
            tail: AtomicPtr::new(ptr::null_mut()),
            unused: [0; 3],
        })
    };
    0
}

/// `pthread_cond_destroy(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn pthread_cond_destroy(_cond: *mut c_void) -> CInt {
    0
}

/// `pthread_cond_signal(3)`.
///
/// # Safety
/// `cond` an initialised `pthread_cond_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_cond_signal(cond: *mut c_void) -> CInt {
    // SAFETY: per the caller.
    unsafe { Cond::from_c(cond) }.wake(false);
    0
}

/// `pthread_cond_broadcast(3)`.
///
/// # Safety
/// `cond` an initialised `pthread_cond_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_cond_broadcast(cond: *mut c_void) -> CInt {
    // SAFETY: per the caller.
    unsafe { Cond::from_c(cond) }.wake(true);
    0
}

/// `pthread_cond_wait(3)`: `EPERM` (without waiting) when an
/// error-checking or recursive mutex is not the caller's.
///
/// # Safety
/// `cond` an initialised `pthread_cond_t`; `mutex` a `pthread_mutex_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_cond_wait(cond: *mut c_void, mutex: *mut c_void) -> CInt {
    traced!("pthread_cond_wait"(cond, mutex) {
    // SAFETY: per the caller.
    let (cond, mutex) = unsafe { (Cond::from_c(cond), Mutex::from_c(mutex)) };
    cond.wait(mutex, futex::FOREVER)
    })
}

/// `pthread_cond_timedwait(3)`: until `abstime` on the condition
/// variable's clock; `EINVAL` for nanoseconds out of range.
///
/// # Safety
/// As for [`pthread_cond_wait`]; `abstime` a valid timespec.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_cond_timedwait(
    cond: *mut c_void,
    mutex: *mut c_void,
    abstime: *const Timespec,
) -> CInt {
    // SAFETY: per the caller.
    let clock = unsafe { Cond::from_c(cond) }.clock();
    // SAFETY: per the caller.
    unsafe { pthread_cond_clockwait(cond, mutex, clock, abstime) }
}

/// `pthread_cond_clockwait(3)`: until `abstime` on `clock`, which must be
/// `CLOCK_REALTIME` or `CLOCK_MONOTONIC`.
///
/// # Safety
/// As for [`pthread_cond_timedwait`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_cond_clockwait(
    cond: *mut c_void,
    mutex: *mut c_void,
    clock: CInt,
    abstime: *const Timespec,
) -> CInt {
    traced!("pthread_cond_clockwait"(cond, mutex, clock, abstime) {
    // SAFETY: per the caller.
    let (cond, mutex, abstime) =
        unsafe { (Cond::from_c(cond), Mutex::from_c(mutex), &*abstime) };
    match futex::deadline(clock, abstime) {
        Ok(deadline) => cond.wait(mutex, deadline),
        Err(error) => error,
    }
    })
}

/// `pthread_condattr_init(3)`.
///
/// # Safety
/// `attr` valid for a `pthread_condattr_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_condattr_init(attr: *mut u32) -> CInt {
    // SAFETY: per the caller.
    unsafe { attr.write(ATTR_DEFAULT) };
    0
}

/// `pthread_condattr_destroy(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn pthread_condattr_destroy(_attr: *mut u32) -> CInt {
    0
}

/// `pthread_condattr_setclock(3)`: `CLOCK_REALTIME` or `CLOCK_MONOTONIC`.
///
/// # Safety
/// `attr` from `pthread_condattr_init`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_condattr_setclock(attr: *mut u32, clock: CInt) -> CInt {
    if !futex::supported_clock(clock) {
        return code::EINVAL;
    }
    // SAFETY: per the caller.
    unsafe { *attr = (*attr & ATTR_PSHARED) | ((clock as u32) << ATTR_CLOCK_SHIFT) };
    0
}

/// `pthread_condattr_getclock(3)`.
///
/// # Safety
/// `attr` from `pthread_condattr_init`; `clock` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_condattr_getclock(attr: *const u32, clock: *mut CInt) -> CInt {
    // SAFETY: per the caller.
    unsafe { clock.write((*attr >> ATTR_CLOCK_SHIFT) as CInt) };
    0
}

/// `pthread_condattr_setpshared(3)`: one process, so sharing changes
/// nothing, but the value reads back.
///
/// # Safety
/// `attr` from `pthread_condattr_init`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_condattr_setpshared(attr: *mut u32, pshared: CInt) -> CInt {
    let Ok(bit @ 0..=1) = u32::try_from(pshared) else {
        return code::EINVAL;
    };
    // SAFETY: per the caller.
    unsafe { *attr = (*attr & !ATTR_PSHARED) | bit };
    0
}

/// `pthread_condattr_getpshared(3)`.
///
/// # Safety
/// `attr` from `pthread_condattr_init`; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_condattr_getpshared(attr: *const u32, out: *mut CInt) -> CInt {
    // SAFETY: per the caller.
    unsafe { out.write((*attr & ATTR_PSHARED) as CInt) };
    0
}
