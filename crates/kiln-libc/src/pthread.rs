//! Thread-specific data keys (`pthread_key_*`), which `std` uses for
//! thread-local destructors.

use core::ffi::c_void;
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::CInt;
use crate::errno::code;
use crate::thread::{self, KEYS};

/// Per key: 0 when free, else 1 + the destructor's address (or 1 for none).
static KEY_STATE: [AtomicUsize; KEYS] = [const { AtomicUsize::new(0) }; KEYS];

type Destructor = Option<unsafe extern "C" fn(*mut c_void)>;

/// `pthread_key_create(3)`.
///
/// # Safety
/// `key` must be valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_key_create(key: *mut u32, destructor: Destructor) -> CInt {
    let state = 1 + destructor.map_or(0, |d| d as usize);
    for (index, slot) in KEY_STATE.iter().enumerate() {
        if slot
            .compare_exchange(0, state, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            // SAFETY: per the caller.
            unsafe { key.write(index as u32) };
            return 0;
        }
    }
    code::EAGAIN
}

/// `pthread_key_delete(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn pthread_key_delete(key: u32) -> CInt {
    match KEY_STATE.get(key as usize) {
        Some(slot) if slot.swap(0, Ordering::AcqRel) != 0 => 0,
        _ => code::EINVAL,
    }
}

/// `pthread_setspecific(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn pthread_setspecific(key: u32, value: *const c_void) -> CInt {
    let slot = key as usize;
    if slot >= KEYS {
        return code::EINVAL;
    }
    // SAFETY: the current thread's live TCB.
    unsafe { (*thread::current()).keys[slot] = value.cast_mut() };
    0
}

/// `pthread_getspecific(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn pthread_getspecific(key: u32) -> *mut c_void {
    match key as usize {
        // SAFETY: the current thread's live TCB.
        k if k < KEYS => unsafe { (*thread::current()).keys[k] },
        _ => core::ptr::null_mut(),
    }
}

/// `pthread_self(3)`: a thread is named by its TCB's address.
#[unsafe(no_mangle)]
pub extern "C" fn pthread_self() -> usize {
    thread::current() as usize
}

/// Kiln's use of the opaque 56-byte `pthread_attr_t`: the stack's lowest
/// address, its size and the guard size.
#[repr(C)]
struct Attributes {
    stack: usize,
    stack_size: usize,
    guard_size: usize,
}

/// `pthread_getattr_np(3)`: the main thread's stack, from the boot info.
///
/// # Safety
/// `attr` must be valid for a `pthread_attr_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_getattr_np(_thread: usize, attr: *mut c_void) -> CInt {
    let stack = kiln_libos::platform::boot_info()
        .regions()
        .iter()
        .find(|r| r.kind == kiln_abi::boot::RegionKind::Stack as u32)
        .map_or((0, 0), |r| (r.start as usize, r.len as usize));
    // SAFETY: per the caller; Attributes fits in a pthread_attr_t.
    unsafe {
        attr.cast::<Attributes>().write(Attributes {
            stack: stack.0,
            stack_size: stack.1,
            guard_size: 4096,
        })
    };
    0
}

/// `pthread_attr_getstack(3)`.
///
/// # Safety
/// `attr` from `pthread_getattr_np`; the out-pointers valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_attr_getstack(
    attr: *const c_void,
    stack: *mut usize,
    size: *mut usize,
) -> CInt {
    // SAFETY: per the caller.
    unsafe {
        let attr = &*attr.cast::<Attributes>();
        stack.write(attr.stack);
        size.write(attr.stack_size);
    }
    0
}

/// `pthread_attr_getguardsize(3)`.
///
/// # Safety
/// As for [`pthread_attr_getstack`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_attr_getguardsize(attr: *const c_void, size: *mut usize) -> CInt {
    // SAFETY: per the caller.
    unsafe { size.write((*attr.cast::<Attributes>()).guard_size) };
    0
}

/// `pthread_attr_destroy(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn pthread_attr_destroy(_attr: *mut c_void) -> CInt {
    0
}
