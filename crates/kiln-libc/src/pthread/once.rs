//! `pthread_once`: one thread runs the routine, the others wait until it
//! has returned.

use core::sync::atomic::{AtomicU32, Ordering};

use crate::CInt;
use crate::futex;

/// The states of a `pthread_once_t`, which starts as 0
/// (`PTHREAD_ONCE_INIT`).
const NOT_RUN: u32 = 0;
const RUNNING: u32 = 1;
const DONE: u32 = 2;

/// `pthread_once(3)`.
///
/// # Safety
/// `once` valid for a `pthread_once_t` used only through this function;
/// `routine` callable once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_once(once: *mut u32, routine: unsafe extern "C" fn()) -> CInt {
    // SAFETY: per the caller: an aligned word only accessed atomically.
    let state = unsafe { AtomicU32::from_ptr(once) };
    loop {
        match state.compare_exchange(NOT_RUN, RUNNING, Ordering::Acquire, Ordering::Acquire) {
            Ok(_) => {
                // SAFETY: per the caller.
                unsafe { routine() };
                state.store(DONE, Ordering::Release);
                futex::wake(state, usize::MAX);
                return 0;
            }
            Err(DONE) => return 0,
            // Another thread is running the routine; a wait that ends
            // early just looks at the state again.
            Err(_) => {
                let _ = futex::wait(state, RUNNING, futex::FOREVER);
            }
        }
    }
}
