//! Spin locks (`pthread_spin_*`) on a 4-byte word. A spinning thread yields
//! the CPU between attempts, so the holder gets to run and release the lock
//! even when threads share one vCPU.

use core::hint::spin_loop;
use core::sync::atomic::{AtomicU32, Ordering};

use kiln_libos::sched;

use crate::CInt;
use crate::errno::code;

/// Attempts between yields.
const SPINS: u32 = 100;

/// The word behind a `pthread_spinlock_t`.
///
/// # Safety
/// `lock` valid for a `pthread_spinlock_t` only accessed through these
/// functions while the reference lives.
unsafe fn word<'a>(lock: *mut u32) -> &'a AtomicU32 {
    // SAFETY: per the caller: an aligned word only accessed atomically.
    unsafe { AtomicU32::from_ptr(lock) }
}

fn try_take(lock: &AtomicU32) -> bool {
    lock.compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
        .is_ok()
}

/// `pthread_spin_init(3)`: the sharing argument is ignored, as in glibc.
///
/// # Safety
/// `lock` valid for a `pthread_spinlock_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_spin_init(lock: *mut u32, _pshared: CInt) -> CInt {
    // SAFETY: per the caller.
    unsafe { lock.write(0) };
    0
}

/// `pthread_spin_destroy(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn pthread_spin_destroy(_lock: *mut u32) -> CInt {
    0
}

/// `pthread_spin_lock(3)`.
///
/// # Safety
/// `lock` an initialised `pthread_spinlock_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_spin_lock(lock: *mut u32) -> CInt {
    // SAFETY: per the caller.
    let lock = unsafe { word(lock) };
    while !try_take(lock) {
        let mut spins = 0;
        while lock.load(Ordering::Relaxed) != 0 {
            spins += 1;
            if spins == SPINS {
                sched::yield_now();
                spins = 0;
            } else {
                spin_loop();
            }
        }
    }
    0
}

/// `pthread_spin_trylock(3)`: `EBUSY` when held.
///
/// # Safety
/// `lock` an initialised `pthread_spinlock_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_spin_trylock(lock: *mut u32) -> CInt {
    // SAFETY: per the caller.
    if try_take(unsafe { word(lock) }) {
        0
    } else {
        code::EBUSY
    }
}

/// `pthread_spin_unlock(3)`.
///
/// # Safety
/// `lock` a `pthread_spinlock_t` the caller holds.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_spin_unlock(lock: *mut u32) -> CInt {
    // SAFETY: per the caller.
    unsafe { word(lock) }.store(0, Ordering::Release);
    0
}
