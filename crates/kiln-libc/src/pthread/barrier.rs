//! Barriers (`pthread_barrier_*`, `pthread_barrierattr_*`).
//!
//! Arrivals are counted under a lock word; the last thread of a round bumps
//! the round number, which the others sleep on, and is the one that gets
//! `PTHREAD_BARRIER_SERIAL_THREAD`. A count of the threads still inside
//! `pthread_barrier_wait` lets `pthread_barrier_destroy` wait until none
//! touches the barrier any more, as glibc's does.

use core::ffi::c_void;
use core::sync::atomic::{AtomicU32, Ordering};

use crate::CInt;
use crate::errno::code;
use crate::futex::{self, Lock};

/// Kiln's layout of the 32-byte `pthread_barrier_t`.
#[repr(C)]
struct Barrier {
    lock: Lock,
    /// Threads per round.
    count: AtomicU32,
    /// Threads arrived in the current round.
    arrived: AtomicU32,
    round: AtomicU32,
    /// Threads inside `pthread_barrier_wait`.
    inside: AtomicU32,
    shared: AtomicU32,
    unused: [u32; 2],
}

const _: () = assert!(size_of::<Barrier>() == 32);

/// What one thread of each round gets from `pthread_barrier_wait`.
const PTHREAD_BARRIER_SERIAL_THREAD: CInt = -1;
/// glibc's limit on a barrier's count.
const COUNT_LIMIT: u32 = u32::MAX / 2;
const PTHREAD_PROCESS_SHARED: CInt = 1;

impl Barrier {
    /// # Safety
    /// `barrier` must be valid for a `pthread_barrier_t` used only through
    /// these functions while the reference lives.
    unsafe fn from_c<'a>(barrier: *mut c_void) -> &'a Barrier {
        // SAFETY: per the caller; the layout is a pthread_barrier_t's.
        unsafe { &*barrier.cast::<Barrier>() }
    }

    fn wait(&self) -> CInt {
        self.lock.lock();
        self.inside.fetch_add(1, Ordering::Relaxed);
        let arrived = self.arrived.load(Ordering::Relaxed) + 1;
        let result = if arrived == self.count.load(Ordering::Relaxed) {
            self.arrived.store(0, Ordering::Relaxed);
            self.round.fetch_add(1, Ordering::Release);
            self.lock.unlock();
            futex::wake(&self.round, usize::MAX);
            PTHREAD_BARRIER_SERIAL_THREAD
        } else {
            self.arrived.store(arrived, Ordering::Relaxed);
            let round = self.round.load(Ordering::Relaxed);
            self.lock.unlock();
            while self.round.load(Ordering::Acquire) == round {
                // A wait that ends early just looks at the round again.
                let _ = futex::wait(&self.round, round, futex::FOREVER);
            }
            0
        };
        if self.inside.fetch_sub(1, Ordering::Release) == 1 {
            futex::wake(&self.inside, usize::MAX);
        }
        result
    }
}

/// `pthread_barrier_init(3)`: `EINVAL` for a count of 0 (or one glibc
/// finds too large).
///
/// # Safety
/// `barrier` valid for a `pthread_barrier_t`; `attr` null or from
/// `pthread_barrierattr_init`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_barrier_init(
    barrier: *mut c_void,
    attr: *const CInt,
    count: u32,
) -> CInt {
    if count == 0 || count >= COUNT_LIMIT {
        return code::EINVAL;
    }
    // SAFETY: per the caller.
    let shared = unsafe { attr.as_ref() }.copied().unwrap_or(0);
    // SAFETY: per the caller.
    unsafe {
        barrier.cast::<Barrier>().write(Barrier {
            lock: Lock::new(),
            count: AtomicU32::new(count),
            arrived: AtomicU32::new(0),
            round: AtomicU32::new(0),
            inside: AtomicU32::new(0),
            shared: AtomicU32::new(shared as u32),
            unused: [0; 2],
        })
    };
    0
}

/// `pthread_barrier_wait(3)`: `PTHREAD_BARRIER_SERIAL_THREAD` for the last
/// thread to arrive, 0 for the others.
///
/// # Safety
/// `barrier` an initialised `pthread_barrier_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_barrier_wait(barrier: *mut c_void) -> CInt {
    traced!("pthread_barrier_wait"(barrier) {
    // SAFETY: per the caller.
    unsafe { Barrier::from_c(barrier) }.wait()
    })
}

/// `pthread_barrier_destroy(3)`: waits until the last round's threads have
/// all left.
///
/// # Safety
/// `barrier` an initialised `pthread_barrier_t` no thread waits on.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_barrier_destroy(barrier: *mut c_void) -> CInt {
    // SAFETY: per the caller.
    let barrier = unsafe { Barrier::from_c(barrier) };
    loop {
        let inside = barrier.inside.load(Ordering::Acquire);
        if inside == 0 {
            return 0;
        }
        let _ = futex::wait(&barrier.inside, inside, futex::FOREVER);
    }
}

/// `pthread_barrierattr_init(3)`.
///
/// # Safety
/// `attr` valid for a `pthread_barrierattr_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_barrierattr_init(attr: *mut CInt) -> CInt {
    // SAFETY: per the caller.
    unsafe { attr.write(0) };
    0
}

/// `pthread_barrierattr_destroy(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn pthread_barrierattr_destroy(_attr: *mut CInt) -> CInt {
    0
}

/// `pthread_barrierattr_setpshared(3)`.
///
/// # Safety
/// `attr` from `pthread_barrierattr_init`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_barrierattr_setpshared(attr: *mut CInt, pshared: CInt) -> CInt {
    if !(0..=PTHREAD_PROCESS_SHARED).contains(&pshared) {
        return code::EINVAL;
    }
    // SAFETY: per the caller.
    unsafe { attr.write(pshared) };
    0
}

/// `pthread_barrierattr_getpshared(3)`.
///
/// # Safety
/// `attr` from `pthread_barrierattr_init`; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_barrierattr_getpshared(attr: *const CInt, out: *mut CInt) -> CInt {
    // SAFETY: per the caller.
    unsafe { out.write(*attr) };
    0
}
