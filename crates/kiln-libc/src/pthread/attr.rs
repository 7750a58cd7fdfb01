//! Thread attributes (`pthread_attr_*`) and `pthread_getattr_np`.
//!
//! A `pthread_attr_t` holds glibc's own layout, so the values read back are
//! the ones stored. Kiln has one scheduling class and one priority, so the
//! scheduling attributes are checked and stored as glibc does and otherwise
//! have no effect.

use core::ffi::c_void;

use crate::CInt;
use crate::errno::code;
use crate::thread;

/// glibc's `struct pthread_attr`, which fills the 56-byte `pthread_attr_t`.
#[repr(C)]
pub(super) struct Attributes {
    priority: CInt,
    policy: CInt,
    flags: CInt,
    guard_size: usize,
    /// The stack's end (highest address), as glibc keeps it.
    stack_top: usize,
    /// 0 until chosen: the default.
    stack_size: usize,
    extension: usize,
    unused: usize,
}

const _: () = assert!(size_of::<Attributes>() == 56);

const FLAG_DETACHED: CInt = 1;
const FLAG_EXPLICIT_SCHED: CInt = 2;
const FLAG_STACK: CInt = 8;

const PTHREAD_CREATE_JOINABLE: CInt = 0;
const PTHREAD_CREATE_DETACHED: CInt = 1;
const PTHREAD_INHERIT_SCHED: CInt = 0;
const PTHREAD_EXPLICIT_SCHED: CInt = 1;
const PTHREAD_SCOPE_SYSTEM: CInt = 0;
const PTHREAD_SCOPE_PROCESS: CInt = 1;
const SCHED_OTHER: CInt = 0;
const SCHED_FIFO: CInt = 1;
const SCHED_RR: CInt = 2;

/// The smallest stack glibc accepts (its `PTHREAD_STACK_MIN` on x86_64),
/// the scheduler's own floor.
const PTHREAD_STACK_MIN: usize = kiln_libos::sched::MIN_STACK;

/// The guard page below every stack: the monitor's for the main thread, the
/// scheduler's for the others.
const GUARD_SIZE: usize = 4096;

/// A new thread's stack size when the program does not choose one (glibc's
/// default is 8 MiB; `std` always chooses, 2 MiB unless told otherwise).
pub(super) const DEFAULT_STACK: usize = 2 << 20;

impl Attributes {
    /// The stack size a thread created with these attributes gets.
    pub(super) fn stack_size(&self) -> usize {
        if self.stack_size == 0 {
            DEFAULT_STACK
        } else {
            self.stack_size
        }
    }

    /// Whether a thread created with these attributes starts detached.
    pub(super) fn detached(&self) -> bool {
        self.flags & FLAG_DETACHED != 0
    }
}

/// The attributes behind a caller's `pthread_attr_t`.
///
/// # Safety
/// `attr` must be valid for a `pthread_attr_t` and not otherwise accessed
/// while the reference lives.
unsafe fn attributes<'a>(attr: *mut c_void) -> &'a mut Attributes {
    // SAFETY: per the caller; Attributes is exactly a pthread_attr_t.
    unsafe { &mut *attr.cast::<Attributes>() }
}

/// `pthread_attr_init(3)`.
///
/// # Safety
/// `attr` must be valid for a `pthread_attr_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_attr_init(attr: *mut c_void) -> CInt {
    // SAFETY: per the caller.
    unsafe {
        attr.cast::<Attributes>().write(Attributes {
            priority: 0,
            policy: SCHED_OTHER,
            flags: 0,
            guard_size: GUARD_SIZE,
            stack_top: 0,
            stack_size: 0,
            extension: 0,
            unused: 0,
        })
    };
    0
}

/// `pthread_attr_destroy(3)`: nothing to free, the attributes live inside
/// the caller's `pthread_attr_t`.
#[unsafe(no_mangle)]
pub extern "C" fn pthread_attr_destroy(_attr: *mut c_void) -> CInt {
    0
}

/// `pthread_attr_setdetachstate(3)`.
///
/// # Safety
/// `attr` from `pthread_attr_init`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_attr_setdetachstate(attr: *mut c_void, state: CInt) -> CInt {
    // SAFETY: per the caller.
    let attr = unsafe { attributes(attr) };
    match state {
        PTHREAD_CREATE_JOINABLE => attr.flags &= !FLAG_DETACHED,
        PTHREAD_CREATE_DETACHED => attr.flags |= FLAG_DETACHED,
        _ => return code::EINVAL,
    }
    0
}

/// `pthread_attr_getdetachstate(3)`.
///
/// # Safety
/// `attr` from `pthread_attr_init`; `state` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_attr_getdetachstate(attr: *mut c_void, state: *mut CInt) -> CInt {
    // SAFETY: per the caller.
    let detached = unsafe { attributes(attr) }.detached();
    // SAFETY: per the caller.
    unsafe { state.write(CInt::from(detached)) };
    0
}

/// `pthread_attr_setguardsize(3)`: any size is accepted, as glibc does;
/// Kiln's stacks always have one guard page.
///
/// # Safety
/// `attr` from `pthread_attr_init`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_attr_setguardsize(attr: *mut c_void, size: usize) -> CInt {
    // SAFETY: per the caller.
    unsafe { attributes(attr) }.guard_size = size;
    0
}

/// `pthread_attr_getguardsize(3)`.
///
/// # Safety
/// `attr` from `pthread_attr_init` or `pthread_getattr_np`; `size` valid
/// for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_attr_getguardsize(attr: *mut c_void, size: *mut usize) -> CInt {
    // SAFETY: per the caller.
    unsafe { size.write(attributes(attr).guard_size) };
    0
}

/// `pthread_attr_setstacksize(3)`.
///
/// # Safety
/// `attr` from `pthread_attr_init`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_attr_setstacksize(attr: *mut c_void, size: usize) -> CInt {
    if size < PTHREAD_STACK_MIN {
        return code::EINVAL;
    }
    // SAFETY: per the caller.
    unsafe { attributes(attr) }.stack_size = size;
    0
}

/// `pthread_attr_getstacksize(3)`: the default size until one is chosen.
///
/// # Safety
/// `attr` from `pthread_attr_init` or `pthread_getattr_np`; `size` valid
/// for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_attr_getstacksize(attr: *mut c_void, size: *mut usize) -> CInt {
    // SAFETY: per the caller.
    unsafe { size.write(attributes(attr).stack_size()) };
    0
}

/// `pthread_attr_setstack(3)`. A thread created with it gets a stack of
/// that size from the scheduler, which needs its own guard page below it,
/// rather than running in the caller's memory.
///
/// # Safety
/// `attr` from `pthread_attr_init`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_attr_setstack(
    attr: *mut c_void,
    stack: *mut c_void,
    size: usize,
) -> CInt {
    if size < PTHREAD_STACK_MIN {
        return code::EINVAL;
    }
    // SAFETY: per the caller.
    let attr = unsafe { attributes(attr) };
    attr.stack_top = (stack as usize).wrapping_add(size);
    attr.stack_size = size;
    attr.flags |= FLAG_STACK;
    0
}

/// `pthread_attr_getstack(3)`: the stack `pthread_attr_setstack` or
/// `pthread_getattr_np` stored; before either, the stack size chosen so far
/// below address 0, as glibc computes it.
///
/// # Safety
/// `attr` from `pthread_attr_init` or `pthread_getattr_np`; the
/// out-pointers valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_attr_getstack(
    attr: *mut c_void,
    stack: *mut usize,
    size: *mut usize,
) -> CInt {
    // SAFETY: per the caller.
    unsafe {
        let attr = attributes(attr);
        stack.write(attr.stack_top.wrapping_sub(attr.stack_size));
        size.write(attr.stack_size);
    }
    0
}

/// `pthread_attr_setschedpolicy(3)`.
///
/// # Safety
/// `attr` from `pthread_attr_init`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_attr_setschedpolicy(attr: *mut c_void, policy: CInt) -> CInt {
    if !matches!(policy, SCHED_OTHER | SCHED_FIFO | SCHED_RR) {
        return code::EINVAL;
    }
    // SAFETY: per the caller.
    unsafe { attributes(attr) }.policy = policy;
    0
}

/// `pthread_attr_getschedpolicy(3)`.
///
/// # Safety
/// `attr` from `pthread_attr_init`; `policy` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_attr_getschedpolicy(attr: *mut c_void, policy: *mut CInt) -> CInt {
    // SAFETY: per the caller.
    unsafe { policy.write(attributes(attr).policy) };
    0
}

/// `pthread_attr_setschedparam(3)`: the priority must be in the policy's
/// range, as Linux's `sched_get_priority_min`/`max` give it.
///
/// # Safety
/// `attr` from `pthread_attr_init`; `param` a valid `struct sched_param`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_attr_setschedparam(attr: *mut c_void, param: *const CInt) -> CInt {
    // SAFETY: per the caller.
    let attr = unsafe { attributes(attr) };
    // SAFETY: per the caller; sched_priority is the struct's only field.
    let priority = unsafe { param.read() };
    let range = match attr.policy {
        SCHED_FIFO | SCHED_RR => 1..=99,
        _ => 0..=0,
    };
    if !range.contains(&priority) {
        return code::EINVAL;
    }
    attr.priority = priority;
    0
}

/// `pthread_attr_getschedparam(3)`.
///
/// # Safety
/// `attr` from `pthread_attr_init`; `param` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_attr_getschedparam(attr: *mut c_void, param: *mut CInt) -> CInt {
    // SAFETY: per the caller.
    unsafe { param.write(attributes(attr).priority) };
    0
}

/// `pthread_attr_setinheritsched(3)`.
///
/// # Safety
/// `attr` from `pthread_attr_init`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_attr_setinheritsched(attr: *mut c_void, inherit: CInt) -> CInt {
    // SAFETY: per the caller.
    let attr = unsafe { attributes(attr) };
    match inherit {
        PTHREAD_INHERIT_SCHED => attr.flags &= !FLAG_EXPLICIT_SCHED,
        PTHREAD_EXPLICIT_SCHED => attr.flags |= FLAG_EXPLICIT_SCHED,
        _ => return code::EINVAL,
    }
    0
}

/// `pthread_attr_getinheritsched(3)`.
///
/// # Safety
/// `attr` from `pthread_attr_init`; `inherit` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_attr_getinheritsched(
    attr: *mut c_void,
    inherit: *mut CInt,
) -> CInt {
    // SAFETY: per the caller.
    let explicit = unsafe { attributes(attr) }.flags & FLAG_EXPLICIT_SCHED != 0;
    // SAFETY: per the caller.
    unsafe { inherit.write(CInt::from(explicit)) };
    0
}

/// `pthread_attr_setscope(3)`: Linux threads all compete system-wide.
///
/// # Safety
/// `attr` from `pthread_attr_init`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_attr_setscope(_attr: *mut c_void, scope: CInt) -> CInt {
    match scope {
        PTHREAD_SCOPE_SYSTEM => 0,
        PTHREAD_SCOPE_PROCESS => code::ENOTSUP,
        _ => code::EINVAL,
    }
}

/// `pthread_attr_getscope(3)`.
///
/// # Safety
/// `scope` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_attr_getscope(_attr: *mut c_void, scope: *mut CInt) -> CInt {
    // SAFETY: per the caller.
    unsafe { scope.write(PTHREAD_SCOPE_SYSTEM) };
    0
}

/// `pthread_getattr_np(3)`: a thread's stack (the main thread's from the
/// boot info).
///
/// # Safety
/// `thread` must be a live `pthread_t`; `attr` valid for a `pthread_attr_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_getattr_np(thread: usize, attr: *mut c_void) -> CInt {
    traced!("pthread_getattr_np"(thread, attr) {
    let tcb = thread as *mut thread::Tcb;
    // SAFETY: per the caller; a thread not from pthread_create has no record.
    let spawned = unsafe { (*tcb).thread.as_ref() }.and_then(|t| t.stack());
    let main_stack = || {
        kiln_libos::platform::boot_info()
            .regions()
            .iter()
            .find(|r| r.kind == kiln_abi::boot::RegionKind::Stack as u32)
            .map(|r| (r.start as usize, r.len as usize))
    };
    let Some((stack, stack_size)) = spawned.or_else(main_stack) else {
        return code::EINVAL;
    };
    // SAFETY: per the caller.
    unsafe {
        attr.cast::<Attributes>().write(Attributes {
            priority: 0,
            policy: SCHED_OTHER,
            flags: FLAG_STACK,
            guard_size: GUARD_SIZE,
            stack_top: stack + stack_size,
            stack_size,
            extension: 0,
            unused: 0,
        })
    };
    0
    })
}

/// `__pthread_get_minstack`: glibc's private answer to "how small can a
/// thread's stack be", which `std` looks up with `dlsym`: the minimum
/// plus the static TLS block every thread carries.
#[unsafe(no_mangle)]
pub extern "C" fn __pthread_get_minstack(_attr: *const c_void) -> usize {
    let tls = kiln_libos::platform::boot_info().tls.mem_size as usize;
    PTHREAD_STACK_MIN + tls
}
