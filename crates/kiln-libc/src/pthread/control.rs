//! Per-thread settings real code adjusts: the name, the cancellation state
//! and type (there is no `pthread_cancel`, so they only read back), and
//! `pthread_atfork` (there is no `fork`).

use core::ffi::{CStr, c_char};

use crate::CInt;
use crate::errno::code;
use crate::thread::{self, NAME_BYTES, Tcb};

const PTHREAD_CANCEL_ENABLE: CInt = 0;
const PTHREAD_CANCEL_DISABLE: CInt = 1;
const PTHREAD_CANCEL_DEFERRED: CInt = 0;
const PTHREAD_CANCEL_ASYNCHRONOUS: CInt = 1;

/// `pthread_setname_np(3)`: `ERANGE` for a name of 16 bytes or more.
///
/// # Safety
/// `thread` a live `pthread_t`; `name` a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_setname_np(thread: usize, name: *const c_char) -> CInt {
    traced!("pthread_setname_np"(thread, name) {
    // SAFETY: per the caller.
    let name = unsafe { CStr::from_ptr(name) }.to_bytes();
    if name.len() >= NAME_BYTES {
        return code::ERANGE;
    }
    // SAFETY: per the caller; the name's bytes are atomics.
    thread::set_name(unsafe { &*(thread as *const Tcb) }, name);
    0
    })
}

/// `pthread_getname_np(3)`: `ERANGE` for a buffer under 16 bytes.
///
/// # Safety
/// `thread` a live `pthread_t`; `buffer` valid for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_getname_np(
    thread: usize,
    buffer: *mut c_char,
    len: usize,
) -> CInt {
    traced!("pthread_getname_np"(thread, buffer, len) {
    if len < NAME_BYTES {
        return code::ERANGE;
    }
    // SAFETY: per the caller; the name's bytes are atomics.
    let name = thread::name(unsafe { &*(thread as *const Tcb) });
    // SAFETY: per the caller, `len >= NAME_BYTES`.
    unsafe { buffer.cast::<u8>().copy_from_nonoverlapping(name.as_ptr(), NAME_BYTES) };
    0
    })
}

/// `pthread_setcancelstate(3)`.
///
/// # Safety
/// `old` null or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_setcancelstate(state: CInt, old: *mut CInt) -> CInt {
    if !matches!(state, PTHREAD_CANCEL_ENABLE | PTHREAD_CANCEL_DISABLE) {
        return code::EINVAL;
    }
    // SAFETY: the current thread's live TCB, which only it changes here.
    let slot = unsafe { &mut (*thread::current()).cancel_state };
    let previous = core::mem::replace(slot, state);
    if !old.is_null() {
        // SAFETY: per the caller.
        unsafe { old.write(previous) };
    }
    0
}

/// `pthread_setcanceltype(3)`.
///
/// # Safety
/// `old` null or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_setcanceltype(kind: CInt, old: *mut CInt) -> CInt {
    if !matches!(kind, PTHREAD_CANCEL_DEFERRED | PTHREAD_CANCEL_ASYNCHRONOUS) {
        return code::EINVAL;
    }
    // SAFETY: the current thread's live TCB, which only it changes here.
    let slot = unsafe { &mut (*thread::current()).cancel_type };
    let previous = core::mem::replace(slot, kind);
    if !old.is_null() {
        // SAFETY: per the caller.
        unsafe { old.write(previous) };
    }
    0
}

/// `pthread_testcancel(3)`: nothing can have been cancelled.
#[unsafe(no_mangle)]
pub extern "C" fn pthread_testcancel() {}

/// `pthread_atfork(3)`: accepted; the handlers can never run, since a
/// unikernel has no `fork`.
#[unsafe(no_mangle)]
pub extern "C" fn pthread_atfork(_prepare: usize, _parent: usize, _child: usize) -> CInt {
    0
}

/// `__register_atfork`: glibc's own name behind `pthread_atfork`, which
/// code built against glibc's headers calls (with its DSO handle).
#[unsafe(no_mangle)]
pub extern "C" fn __register_atfork(
    prepare: usize,
    parent: usize,
    child: usize,
    _dso: *const core::ffi::c_void,
) -> CInt {
    pthread_atfork(prepare, parent, child)
}
