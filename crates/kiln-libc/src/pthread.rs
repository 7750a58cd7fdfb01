//! Thread-specific data keys (`pthread_key_*`), which `std` uses for
//! thread-local destructors.

use core::ffi::c_void;
use core::sync::atomic::{AtomicUsize, Ordering};

use kiln_libos::preempt::NoPreempt;
use kiln_libos::sched;

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

/// The guard page below every stack: the monitor's for the main thread, the
/// scheduler's for the others.
const GUARD_SIZE: usize = 4096;

/// A new thread's stack size when the program does not choose one (glibc's
/// default is 8 MiB; `std` always chooses, 2 MiB unless told otherwise).
const DEFAULT_STACK: usize = 2 << 20;

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
    let Some(stack) = spawned.or_else(main_stack) else {
        return code::EINVAL;
    };
    // SAFETY: per the caller; Attributes fits in a pthread_attr_t.
    unsafe {
        attr.cast::<Attributes>().write(Attributes {
            stack: stack.0,
            stack_size: stack.1,
            guard_size: GUARD_SIZE,
        })
    };
    0
    })
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

/// `pthread_attr_destroy(3)`: nothing to free, the attributes live inside
/// the caller's `pthread_attr_t`.
#[unsafe(no_mangle)]
pub extern "C" fn pthread_attr_destroy(_attr: *mut c_void) -> CInt {
    0
}

/// `pthread_attr_init(3)`.
///
/// # Safety
/// `attr` must be valid for a `pthread_attr_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_attr_init(attr: *mut c_void) -> CInt {
    // SAFETY: per the caller; Attributes fits in a pthread_attr_t.
    unsafe {
        attr.cast::<Attributes>().write(Attributes {
            stack: 0,
            stack_size: DEFAULT_STACK,
            guard_size: GUARD_SIZE,
        })
    };
    0
}

/// `pthread_attr_setstacksize(3)`.
///
/// # Safety
/// `attr` from `pthread_attr_init`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_attr_setstacksize(attr: *mut c_void, size: usize) -> CInt {
    const PTHREAD_STACK_MIN: usize = 16 * 1024;
    if size < PTHREAD_STACK_MIN {
        return code::EINVAL;
    }
    // SAFETY: per the caller.
    unsafe { (*attr.cast::<Attributes>()).stack_size = size };
    0
}

/// `pthread_attr_getstacksize(3)`.
///
/// # Safety
/// `attr` from `pthread_attr_init`; `size` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_attr_getstacksize(attr: *const c_void, size: *mut usize) -> CInt {
    // SAFETY: per the caller.
    unsafe { size.write((*attr.cast::<Attributes>()).stack_size) };
    0
}

/// What a new thread runs: handed from `pthread_create` to `thread_main`.
struct Start {
    routine: unsafe extern "C" fn(*mut c_void) -> *mut c_void,
    arg: *mut c_void,
}

/// `pthread_create(3)`.
///
/// # Safety
/// `out` valid for a write; `attr` null or from `pthread_attr_init`;
/// `routine` callable with `arg` on another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_create(
    out: *mut usize,
    attr: *const c_void,
    routine: unsafe extern "C" fn(*mut c_void) -> *mut c_void,
    arg: *mut c_void,
) -> CInt {
    traced!("pthread_create"(out, attr) {
    let stack_size = if attr.is_null() {
        DEFAULT_STACK
    } else {
        // SAFETY: per the caller.
        unsafe { (*attr.cast::<Attributes>()).stack_size }
    };
    let tcb = thread::create(&kiln_libos::platform::boot_info().tls);
    if tcb.is_null() {
        return code::EAGAIN;
    }
    let start = crate::malloc::malloc(size_of::<Start>()).cast::<Start>();
    if start.is_null() {
        thread::destroy(tcb as u64);
        return code::EAGAIN;
    }
    // SAFETY: a fresh allocation for one Start.
    unsafe { start.write(Start { routine, arg }) };
    // The new thread may run as soon as it exists: it must find its own
    // record in its TCB (`pthread_detach(pthread_self())`).
    let _section = NoPreempt::new();
    let spawned = sched::spawn(thread_main, start as usize, stack_size, tcb as u64);
    if spawned.is_null() {
        // SAFETY: allocated above and not handed to any thread.
        unsafe { crate::malloc::free(start.cast()) };
        thread::destroy(tcb as u64);
        return code::EAGAIN;
    }
    // SAFETY: the new, live TCB; `out` per the caller.
    unsafe {
        (*tcb).thread = spawned;
        out.write(tcb as usize);
    }
    0
    })
}

/// A new thread's first Rust code: runs the routine, then exits with its result.
extern "C" fn thread_main(start: usize) -> ! {
    let start = start as *mut Start;
    // SAFETY: `pthread_create` handed over this Start, used once.
    let Start { routine, arg } = unsafe { start.read() };
    // SAFETY: as above; the block is no longer needed.
    unsafe { crate::malloc::free(start.cast()) };
    // SAFETY: per `pthread_create`'s caller.
    let result = unsafe { routine(arg) };
    pthread_exit(result)
}

/// Destructor rounds for thread-specific data, as POSIX specifies.
const DESTRUCTOR_ITERATIONS: usize = 4;

/// Runs the key destructors of the calling thread (`std` keeps its
/// thread-local destructors behind a key).
fn run_key_destructors() {
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

/// `pthread_exit(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn pthread_exit(result: *mut c_void) -> ! {
    run_key_destructors();
    sched::exit(result as usize)
}

/// `pthread_join(3)`.
///
/// # Safety
/// `thread` from `pthread_create`, joinable, joined once; `out` null or
/// valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_join(thread: usize, out: *mut *mut c_void) -> CInt {
    traced!("pthread_join"(thread, out) {
    let tcb = thread as *mut thread::Tcb;
    // SAFETY: per the caller; the TCB lives until the join releases it.
    let record = unsafe { (*tcb).thread };
    if record.is_null() {
        return code::EINVAL;
    }
    // SAFETY: per the caller: a joinable thread, joined once.
    let result = unsafe { sched::join(record) };
    if !out.is_null() {
        // SAFETY: per the caller.
        unsafe { out.write(result as *mut c_void) };
    }
    0
    })
}

/// `pthread_detach(3)`.
///
/// # Safety
/// `thread` from `pthread_create` and not joined afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_detach(thread: usize) -> CInt {
    traced!("pthread_detach"(thread) {
    let tcb = thread as *mut thread::Tcb;
    // SAFETY: per the caller.
    let record = unsafe { (*tcb).thread };
    if record.is_null() {
        return code::EINVAL;
    }
    // SAFETY: per the caller.
    unsafe { sched::detach(record) };
    0
    })
}

/// `pthread_setname_np(3)`: accepted without effect; nothing in Kiln shows
/// thread names (crash reports name threads by id).
#[unsafe(no_mangle)]
pub extern "C" fn pthread_setname_np(_thread: usize, _name: *const c_void) -> CInt {
    0
}
