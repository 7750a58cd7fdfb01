//! Creating, ending, joining and naming threads by `pthread_t`, which is
//! the thread's TCB address.

use core::ffi::c_void;

use kiln_libos::sched;

use super::attr::{Attributes, DEFAULT_STACK};
use super::keys::run_key_destructors;
use crate::CInt;
use crate::errno::code;
use crate::thread;

/// `pthread_self(3)`: a thread is named by its TCB's address.
#[unsafe(no_mangle)]
pub extern "C" fn pthread_self() -> usize {
    thread::current() as usize
}

/// `pthread_equal(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn pthread_equal(a: usize, b: usize) -> CInt {
    CInt::from(a == b)
}

/// What a new thread runs: handed from `pthread_create` to `thread_main`.
struct Start {
    routine: unsafe extern "C" fn(*mut c_void) -> *mut c_void,
    arg: *mut c_void,
}

/// `pthread_create(3)`. The new thread inherits its creator's name and
/// signal mask, as on Linux.
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
    // SAFETY: per the caller.
    let attr = unsafe { attr.cast::<Attributes>().as_ref() };
    let stack_size = attr.map_or(DEFAULT_STACK, Attributes::stack_size);
    let tcb = thread::create(&kiln_libos::platform::boot_info().tls);
    if tcb.is_null() {
        return code::EAGAIN;
    }
    inherit(tcb);
    let start = crate::malloc::malloc(size_of::<Start>()).cast::<Start>();
    if start.is_null() {
        thread::destroy(tcb as u64);
        return code::EAGAIN;
    }
    // SAFETY: a fresh allocation for one Start.
    unsafe { start.write(Start { routine, arg }) };
    // The new thread runs only once started, below: by then its TCB holds
    // its record (for `pthread_detach(pthread_self())`) and its name.
    let spawned = sched::spawn(thread_main, start as usize, stack_size, tcb as u64);
    if spawned.is_null() {
        // SAFETY: allocated above and not handed to any thread.
        unsafe { crate::malloc::free(start.cast()) };
        thread::destroy(tcb as u64);
        return code::EAGAIN;
    }
    // SAFETY: the new, live TCB, which lives as long as the thread; `out`
    // per the caller.
    unsafe {
        (*tcb).thread = spawned;
        sched::set_name_location(spawned, (*tcb).name.as_ptr().cast());
        out.write(tcb as usize);
    }
    if attr.is_some_and(Attributes::detached) {
        // SAFETY: just spawned; a detached thread is never joined.
        unsafe { sched::detach(spawned) };
    }
    // SAFETY: spawned above, started once.
    unsafe { sched::start(spawned) };
    0
    })
}

/// Copies the calling thread's name and signal mask into the new `tcb`.
fn inherit(tcb: *mut thread::Tcb) {
    let me = thread::current();
    // SAFETY: the current thread's live TCB and a fresh one no other thread
    // knows yet.
    unsafe {
        for (to, from) in (*tcb).name.iter().zip(&(*me).name) {
            to.store(
                from.load(core::sync::atomic::Ordering::Relaxed),
                core::sync::atomic::Ordering::Relaxed,
            );
        }
        (*tcb).signal_mask = (*me).signal_mask;
    }
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

/// `pthread_exit(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn pthread_exit(result: *mut c_void) -> ! {
    run_key_destructors();
    sched::exit(result as usize)
}

/// `pthread_join(3)`: `EDEADLK` for the calling thread itself.
///
/// # Safety
/// `thread` from `pthread_create`, joinable, joined once; `out` null or
/// valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_join(thread: usize, out: *mut *mut c_void) -> CInt {
    traced!("pthread_join"(thread, out) {
    if thread == pthread_self() {
        return code::EDEADLK;
    }
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
