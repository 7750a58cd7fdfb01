//! Mutex attributes (`pthread_mutexattr_*`), in glibc's encoding of the
//! 4-byte `pthread_mutexattr_t`: the type in the low bits, the protocol in
//! bits 28-29, the robust flag at bit 30 and the process-shared flag at 31.
//!
//! Kiln runs one process with one priority, so process sharing and the
//! priority protocols change nothing and are accepted; robustness is stored
//! here and refused by `pthread_mutex_init` (see there).

use super::mutex::{
    PTHREAD_MUTEX_ADAPTIVE, PTHREAD_MUTEX_ERRORCHECK, PTHREAD_MUTEX_NORMAL, PTHREAD_MUTEX_RECURSIVE,
};
use crate::CInt;
use crate::errno::code;

const PROTOCOL_SHIFT: u32 = 28;
const PROTOCOL_MASK: u32 = 0x3000_0000;
const PRIORITY_CEILING_MASK: u32 = 0x00ff_f000;
const FLAG_ROBUST: u32 = 0x4000_0000;
const FLAG_PSHARED: u32 = 0x8000_0000;
/// Everything but the type.
const FLAG_BITS: u32 = FLAG_PSHARED | FLAG_ROBUST | PROTOCOL_MASK | PRIORITY_CEILING_MASK;

const PTHREAD_PROCESS_PRIVATE: CInt = 0;
const PTHREAD_PROCESS_SHARED: CInt = 1;
const PTHREAD_PRIO_NONE: CInt = 0;
const PTHREAD_PRIO_PROTECT: CInt = 2;
const PTHREAD_MUTEX_STALLED: CInt = 0;
const PTHREAD_MUTEX_ROBUST: CInt = 1;

/// The mutex type an attribute value selects.
pub(super) fn kind(attr: u32) -> CInt {
    (attr & !FLAG_BITS) as CInt
}

/// Whether an attribute value asks for a robust mutex.
pub(super) fn robust(attr: u32) -> bool {
    attr & FLAG_ROBUST != 0
}

/// Whether an attribute value asks for a process-shared mutex.
pub(super) fn shared(attr: u32) -> bool {
    attr & FLAG_PSHARED != 0
}

/// Sets or clears `flag` in `*attr`.
///
/// # Safety
/// `attr` from `pthread_mutexattr_init`.
unsafe fn set_flag(attr: *mut u32, flag: u32, on: bool) {
    // SAFETY: per the caller.
    unsafe {
        if on {
            *attr |= flag;
        } else {
            *attr &= !flag;
        }
    }
}

/// `pthread_mutexattr_init(3)`: a normal, private mutex.
///
/// # Safety
/// `attr` valid for a `pthread_mutexattr_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_mutexattr_init(attr: *mut u32) -> CInt {
    // SAFETY: per the caller.
    unsafe { attr.write(PTHREAD_MUTEX_NORMAL as u32) };
    0
}

/// `pthread_mutexattr_destroy(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn pthread_mutexattr_destroy(_attr: *mut u32) -> CInt {
    0
}

/// `pthread_mutexattr_settype(3)`.
///
/// # Safety
/// `attr` from `pthread_mutexattr_init`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_mutexattr_settype(attr: *mut u32, kind: CInt) -> CInt {
    if !matches!(
        kind,
        PTHREAD_MUTEX_NORMAL
            | PTHREAD_MUTEX_RECURSIVE
            | PTHREAD_MUTEX_ERRORCHECK
            | PTHREAD_MUTEX_ADAPTIVE
    ) {
        return code::EINVAL;
    }
    // SAFETY: per the caller.
    unsafe { *attr = (*attr & FLAG_BITS) | kind as u32 };
    0
}

/// `pthread_mutexattr_gettype(3)`.
///
/// # Safety
/// `attr` from `pthread_mutexattr_init`; `kind` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_mutexattr_gettype(attr: *const u32, out: *mut CInt) -> CInt {
    // SAFETY: per the caller.
    unsafe { out.write(kind(*attr)) };
    0
}

/// `pthread_mutexattr_setpshared(3)`.
///
/// # Safety
/// `attr` from `pthread_mutexattr_init`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_mutexattr_setpshared(attr: *mut u32, pshared: CInt) -> CInt {
    if !matches!(pshared, PTHREAD_PROCESS_PRIVATE | PTHREAD_PROCESS_SHARED) {
        return code::EINVAL;
    }
    // SAFETY: per the caller.
    unsafe { set_flag(attr, FLAG_PSHARED, pshared == PTHREAD_PROCESS_SHARED) };
    0
}

/// `pthread_mutexattr_getpshared(3)`.
///
/// # Safety
/// `attr` from `pthread_mutexattr_init`; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_mutexattr_getpshared(attr: *const u32, out: *mut CInt) -> CInt {
    // SAFETY: per the caller.
    unsafe { out.write(CInt::from(shared(*attr))) };
    0
}

/// `pthread_mutexattr_setprotocol(3)`: none, inherit or protect.
///
/// # Safety
/// `attr` from `pthread_mutexattr_init`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_mutexattr_setprotocol(attr: *mut u32, protocol: CInt) -> CInt {
    if !(PTHREAD_PRIO_NONE..=PTHREAD_PRIO_PROTECT).contains(&protocol) {
        return code::EINVAL;
    }
    // SAFETY: per the caller.
    unsafe { *attr = (*attr & !PROTOCOL_MASK) | ((protocol as u32) << PROTOCOL_SHIFT) };
    0
}

/// `pthread_mutexattr_getprotocol(3)`.
///
/// # Safety
/// `attr` from `pthread_mutexattr_init`; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_mutexattr_getprotocol(attr: *const u32, out: *mut CInt) -> CInt {
    // SAFETY: per the caller.
    unsafe { out.write(((*attr & PROTOCOL_MASK) >> PROTOCOL_SHIFT) as CInt) };
    0
}

/// `pthread_mutexattr_setrobust(3)`.
///
/// # Safety
/// `attr` from `pthread_mutexattr_init`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_mutexattr_setrobust(attr: *mut u32, robustness: CInt) -> CInt {
    if !matches!(robustness, PTHREAD_MUTEX_STALLED | PTHREAD_MUTEX_ROBUST) {
        return code::EINVAL;
    }
    // SAFETY: per the caller.
    unsafe { set_flag(attr, FLAG_ROBUST, robustness == PTHREAD_MUTEX_ROBUST) };
    0
}

/// `pthread_mutexattr_getrobust(3)`.
///
/// # Safety
/// `attr` from `pthread_mutexattr_init`; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_mutexattr_getrobust(attr: *const u32, out: *mut CInt) -> CInt {
    // SAFETY: per the caller.
    unsafe { out.write(CInt::from(robust(*attr))) };
    0
}
