//! The thread control block and thread-local storage.
//!
//! x86_64 uses TLS "variant II": `%fs` points at the thread control block
//! (TCB), the thread's TLS block lies just below it, and code finds a
//! thread-local at a fixed negative offset from `%fs` that the linker
//! computed from the image's `PT_TLS` segment. The ABI also requires the
//! TCB's first word to hold its own address (`mov rax, fs:0`).

use core::alloc::{GlobalAlloc, Layout};
use core::ptr;
use core::sync::atomic::{AtomicI32, AtomicU8, AtomicUsize, Ordering};

use kiln_abi::boot::TlsTemplate;
use kiln_libos::heap::HEAP;

use crate::CInt;

/// GCC's stack protector reads the canary at this offset from `%fs`.
const _: () = assert!(core::mem::offset_of!(Tcb, stack_guard) == 0x28);

/// The stack-protector canary every thread's TCB carries; chosen when the
/// first TCB is made.
static STACK_GUARD: AtomicUsize = AtomicUsize::new(0);

fn stack_guard() -> usize {
    let guard = STACK_GUARD.load(Ordering::Relaxed);
    if guard != 0 {
        return guard;
    }
    // A zero low byte; the rest random and never all zero. Two threads
    // made at once may both draw one: the first stored is every thread's.
    let fresh = (kiln_libos::random::next() as usize & !0xff) | 0x100;
    match STACK_GUARD.compare_exchange(0, fresh, Ordering::Relaxed, Ordering::Relaxed) {
        Ok(_) => fresh,
        Err(stored) => stored,
    }
}

/// Number of `pthread_key_t` slots per thread.
pub const KEYS: usize = 128;

/// Bytes of a thread name with its NUL: Linux's `TASK_COMM_LEN`.
pub const NAME_BYTES: usize = 16;

/// The thread control block `%fs` points at.
#[repr(C)]
pub struct Tcb {
    /// The TCB's own address, as the ABI requires at `%fs:0`.
    self_ptr: *mut Tcb,
    /// glibc's DTV slot; unused (static images have one TLS module).
    dtv: usize,
    /// glibc's `header.self` at `%fs:0x10`, which some code reads for the
    /// thread pointer.
    self_again: *mut Tcb,
    /// glibc's `multiple_threads`, `gscope_flag` and `sysinfo`: unused, but
    /// they put the guards below at glibc's offsets.
    glibc_reserved: [usize; 2],
    /// The canary that code compiled with `-fstack-protector` reads at
    /// `%fs:0x28` (GCC hard-codes the offset): one random value for every
    /// thread, its low byte zero as in glibc, so a string overflow cannot
    /// reproduce it.
    stack_guard: usize,
    /// glibc's pointer guard at `%fs:0x30`; Kiln's code does not mangle
    /// pointers, so it stays zero.
    pointer_guard: usize,
    /// This thread's `errno`.
    pub errno: CInt,
    /// This thread's id (`gettid`); the main thread is 1.
    pub id: CInt,
    /// This thread's values for `pthread_key_t`s.
    pub keys: [KeyValue; KEYS],
    /// The scheduler's record of this thread.
    pub thread: *mut kiln_libos::sched::Thread,
    /// The size of this thread's latest allocation if the heap could not
    /// give it, else 0: `abort` right after such a failure is the runtime
    /// giving up for want of memory (Rust's `handle_alloc_error`).
    pub failed_allocation: usize,
    /// The thread's name (`pthread_setname_np`), NUL-terminated, at most 15
    /// bytes as Linux keeps. Other threads may rename it, hence atomics.
    pub name: [AtomicU8; NAME_BYTES],
    /// The blocked signals (`pthread_sigmask`), bit `n - 1` for signal `n`.
    pub signal_mask: u64,
    /// `PTHREAD_CANCEL_ENABLE` or `_DISABLE`.
    pub cancel_state: CInt,
    /// `PTHREAD_CANCEL_DEFERRED` or `_ASYNCHRONOUS`.
    pub cancel_type: CInt,
    /// The allocation holding the TLS block and this TCB.
    block: *mut u8,
    layout: Layout,
}

/// A thread's value for one key slot, tagged with the generation of the key
/// it was set under (zero, never a key's, in a fresh TCB).
#[derive(Clone, Copy)]
pub struct KeyValue {
    pub generation: usize,
    pub value: *mut core::ffi::c_void,
}

/// The next thread id to hand out.
static NEXT_ID: AtomicI32 = AtomicI32::new(1);

/// The current thread's TCB.
pub fn current() -> *mut Tcb {
    let tcb: *mut Tcb;
    // SAFETY: %fs:0 holds the TCB's self pointer from `create` on; reading it
    // has no side effects.
    unsafe {
        core::arch::asm!("mov {}, fs:0", out(reg) tcb, options(nostack, preserves_flags, readonly));
    }
    tcb
}

/// The current thread's `errno` slot.
pub fn current_errno() -> *mut CInt {
    // SAFETY: `current` is the live TCB of this thread.
    unsafe { &raw mut (*current()).errno }
}

/// Allocates a thread's TLS block and TCB from `template` and returns the
/// thread pointer, or null when memory is exhausted.
pub fn create(template: &TlsTemplate) -> *mut Tcb {
    let align = (template.align.max(1) as usize).max(align_of::<Tcb>());
    // The linker placed thread-locals relative to the TCB assuming the block
    // is rounded up to the segment's own alignment: match it exactly.
    let block = (template.mem_size as usize).next_multiple_of(template.align.max(1) as usize);
    // The TCB itself needs its own alignment too: pad in front of the block.
    let tcb_offset = block.next_multiple_of(align);
    let Ok(layout) = Layout::from_size_align(tcb_offset + size_of::<Tcb>(), align) else {
        return ptr::null_mut();
    };
    // SAFETY: a non-zero-sized layout.
    let base = unsafe { HEAP.alloc_zeroed(layout) };
    if base.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: the template lies in the loaded image (validated by the
    // monitor) and the block, which ends at the TCB, has room for its
    // initialised part.
    unsafe {
        ptr::copy_nonoverlapping(
            template.start as *const u8,
            base.add(tcb_offset - block),
            template.file_size as usize,
        );
    }
    // SAFETY: `tcb_offset` bytes into an allocation of `tcb_offset +
    // size_of::<Tcb>()`, aligned for a Tcb since `tcb_offset` is a multiple
    // of an alignment at least the Tcb's.
    let tcb = unsafe { base.add(tcb_offset) }.cast::<Tcb>();
    // SAFETY: the TCB part of the fresh allocation, zeroed; the fields that
    // are not zero to start with are set here.
    unsafe {
        (&raw mut (*tcb).self_ptr).write(tcb);
        (&raw mut (*tcb).self_again).write(tcb);
        (&raw mut (*tcb).stack_guard).write(stack_guard());
        (&raw mut (*tcb).id).write(NEXT_ID.fetch_add(1, Ordering::Relaxed));
        (&raw mut (*tcb).block).write(base);
        (&raw mut (*tcb).layout).write(layout);
    }
    tcb
}

/// Frees a finished thread's TLS block and TCB (the scheduler's reaper).
pub fn destroy(tp: u64) {
    let tcb = tp as *mut Tcb;
    if tcb.is_null() {
        return;
    }
    // SAFETY: `tp` is a TCB from `create` whose thread has finished.
    unsafe { HEAP.dealloc((*tcb).block, (*tcb).layout) };
}

/// Names the thread of `tcb`: at most `NAME_BYTES - 1` bytes of `name` are
/// kept, as Linux truncates a task's name.
pub fn set_name(tcb: &Tcb, name: &[u8]) {
    let kept = &name[..name.len().min(NAME_BYTES - 1)];
    for (i, slot) in tcb.name.iter().enumerate() {
        slot.store(kept.get(i).copied().unwrap_or(0), Ordering::Relaxed);
    }
}

/// The name of the thread of `tcb`, NUL-terminated.
pub fn name(tcb: &Tcb) -> [u8; NAME_BYTES] {
    let mut name = [0; NAME_BYTES];
    for (to, from) in name.iter_mut().zip(&tcb.name) {
        *to = from.load(Ordering::Relaxed);
    }
    name[NAME_BYTES - 1] = 0;
    name
}

/// Points `%fs` at `tcb` (the monitor enables `wrfsbase` for TLS images).
///
/// # Safety
/// `tcb` must come from [`create`] and outlive the thread.
pub unsafe fn install(tcb: *mut Tcb) {
    // SAFETY: per the caller; wrfsbase only changes this thread's %fs base.
    unsafe { core::arch::asm!("wrfsbase {}", in(reg) tcb, options(nostack, preserves_flags)) };
}
