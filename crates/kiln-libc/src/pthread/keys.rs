//! Thread-specific data keys (`pthread_key_*`), which `std` uses for
//! thread-local destructors.

use core::ffi::c_void;
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::CInt;
use crate::errno::code;
use crate::thread::{self, KEYS, KeyValue};

/// Per key: 0 when free, else 1 + the destructor's address (or 1 for none).
static KEY_STATE: [AtomicUsize; KEYS] = [const { AtomicUsize::new(0) }; KEYS];

/// Per key slot: how many keys it has held. A thread's value tagged with an
/// older generation belongs to a deleted key and reads as NULL, as POSIX
/// requires of a new key in every thread.
static KEY_GENERATION: [AtomicUsize; KEYS] = [const { AtomicUsize::new(0) }; KEYS];

type Destructor = Option<unsafe extern "C" fn(*mut c_void)>;

/// `pthread_key_create(3)`.
///
/// # Safety
/// `key` must be valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_key_create(key: *mut u32, destructor: Destructor) -> CInt {
    traced!("pthread_key_create"(key) {
    let state = 1 + destructor.map_or(0, |d| d as usize);
    for (index, slot) in KEY_STATE.iter().enumerate() {
        if slot
            .compare_exchange(0, state, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            KEY_GENERATION[index].fetch_add(1, Ordering::AcqRel);
            // SAFETY: per the caller.
            unsafe { key.write(index as u32) };
            return 0;
        }
    }
    code::EAGAIN
    })
}

/// `pthread_key_delete(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn pthread_key_delete(key: u32) -> CInt {
    traced!("pthread_key_delete"(key) {
    match KEY_STATE.get(key as usize) {
        Some(slot) if slot.swap(0, Ordering::AcqRel) != 0 => 0,
        _ => code::EINVAL,
    }
    })
}

/// `pthread_setspecific(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn pthread_setspecific(key: u32, value: *const c_void) -> CInt {
    let slot = key as usize;
    if KEY_STATE
        .get(slot)
        .is_none_or(|state| state.load(Ordering::Acquire) == 0)
    {
        return code::EINVAL;
    }
    let generation = KEY_GENERATION[slot].load(Ordering::Acquire);
    let value = value.cast_mut();
    // SAFETY: the current thread's live TCB.
    unsafe { (*thread::current()).keys[slot] = KeyValue { generation, value } };
    0
}

/// `tcb`'s value for key slot `key`: NULL unless set under the live key.
///
/// # Safety
/// `tcb` must be a live TCB and `key` below [`KEYS`].
unsafe fn value_of(tcb: *mut thread::Tcb, key: usize) -> *mut c_void {
    // SAFETY: per the caller.
    let set = unsafe { (*tcb).keys[key] };
    if set.generation == KEY_GENERATION[key].load(Ordering::Acquire) {
        set.value
    } else {
        core::ptr::null_mut()
    }
}

/// `pthread_getspecific(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn pthread_getspecific(key: u32) -> *mut c_void {
    match key as usize {
        // SAFETY: the current thread's live TCB, and a key below KEYS.
        k if k < KEYS => unsafe { value_of(thread::current(), k) },
        _ => core::ptr::null_mut(),
    }
}

/// Destructor rounds for thread-specific data, as POSIX specifies.
const DESTRUCTOR_ITERATIONS: usize = 4;

/// Runs the key destructors of the calling thread (`std` keeps its
/// thread-local destructors behind a key).
pub(super) fn run_key_destructors() {
    let tcb = thread::current();
    for _ in 0..DESTRUCTOR_ITERATIONS {
        let mut ran = false;
        for (key, state) in KEY_STATE.iter().enumerate() {
            let state = state.load(Ordering::Acquire);
            if state <= 1 {
                continue;
            }
            // SAFETY: the current thread's live TCB, and a key below KEYS.
            let value = unsafe { value_of(tcb, key) };
            if value.is_null() {
                continue;
            }
            // SAFETY: as above; POSIX clears the value before the call.
            unsafe { (*tcb).keys[key].value = core::ptr::null_mut() };
            // SAFETY: `state - 1` is the destructor registered for the key.
            let destructor: unsafe extern "C" fn(*mut c_void) =
                unsafe { core::mem::transmute(state - 1) };
            // SAFETY: the registered destructor, with the thread's value.
            unsafe { destructor(value) };
            ran = true;
        }
        if !ran {
            break;
        }
    }
}
