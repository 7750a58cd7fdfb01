//! Preemption on the Kiln monitor: the shared words and the upcall entry.
//!
//! While another thread could run, the monitor ticks every time slice. A
//! tick that finds the vCPU at CPL3 with `disabled` zero becomes an
//! *upcall*: the monitor adds one to `disabled`, writes the interrupted
//! RFLAGS and RIP just below the red zone of the interrupted stack and
//! resumes the vCPU at [`kiln_upcall`]. A tick inside a critical section
//! sets `pending` instead, and [`enable`] reports it when the section ends.
//! There is no interrupt controller and no CPL0 code on this path: the
//! monitor redirects the vCPU between two of its exits.
//!
//! The words live in the boot info (`kiln_abi::boot::Preemption`), where
//! the monitor finds them. Only the running vCPU touches its own words, and
//! an upcall leaves `disabled` as it found it, so plain volatile accesses
//! are enough: a tick between a load and a store changes nothing.

use core::sync::atomic::{AtomicUsize, Ordering};

use kiln_abi::boot::Preemption;

use super::BOOT_INFO;

/// The function the upcall runs: the scheduler's "time slice ended" path.
static HANDLER: AtomicUsize = AtomicUsize::new(0);

fn words() -> *mut Preemption {
    let info = BOOT_INFO.load(Ordering::Relaxed);
    // SAFETY: only computes the field's address in the monitor's boot-info
    // block (see `BOOT_INFO`).
    unsafe { &raw mut (*info).preemption }
}

/// Enters a critical section that a tick must not interrupt (they nest).
#[inline]
pub fn disable() {
    let words = words();
    // SAFETY: the guest's own word in the boot info (see the module comment
    // on why a plain read-modify-write is enough).
    unsafe {
        let disabled = &raw mut (*words).disabled;
        disabled.write_volatile(disabled.read_volatile() + 1);
    }
}

/// Leaves a critical section. Returns true when this was the outermost one
/// and a tick came during it: the caller should yield the CPU now.
#[inline]
pub fn enable() -> bool {
    let words = words();
    // SAFETY: as in `disable`; `pending` is written by the monitor only
    // between the guest's instructions.
    unsafe {
        let disabled = &raw mut (*words).disabled;
        let left = disabled.read_volatile() - 1;
        disabled.write_volatile(left);
        let pending = &raw mut (*words).pending;
        if left == 0 && pending.read_volatile() != 0 {
            pending.write_volatile(0);
            return true;
        }
    }
    false
}

/// The running thread's critical-section depth, which a thread switch saves.
pub fn depth() -> u32 {
    // SAFETY: the guest's own word in the boot info.
    unsafe { (&raw const (*words()).disabled).read_volatile() }
}

/// Restores a resumed thread's critical-section depth. A tick that came
/// before the switch is forgotten: the resumed thread starts a fresh slice.
pub fn resume(depth: u32) {
    let words = words();
    // SAFETY: the guest's own words in the boot info.
    unsafe {
        (&raw mut (*words).disabled).write_volatile(depth);
        (&raw mut (*words).pending).write_volatile(0);
    }
}

/// Says whether another thread could run, so whether the monitor should
/// tick. When ticks are wanted and the monitor's timer is off, this makes
/// one exit so that the monitor sees the change and arms it.
pub fn set_wanted(wanted: bool) {
    let words = words();
    // SAFETY: the guest's own word; `armed` is the monitor's, only read.
    let armed = unsafe {
        (&raw mut (*words).wanted).write_volatile(u32::from(wanted));
        (&raw const (*words).armed).read_volatile() != 0
    };
    if wanted && !armed {
        // A `Block` whose deadline has passed: an exit and nothing else.
        super::block_until(0);
    }
}

/// Sets the function an upcall runs (with preemption disabled).
pub fn set_handler(handler: fn()) {
    HANDLER.store(handler as usize, Ordering::Relaxed);
}

/// Called by `kiln_upcall` with every register saved.
#[cfg(feature = "threads")]
extern "C" fn upcall() {
    let handler = HANDLER.load(Ordering::Relaxed);
    if handler != 0 {
        // SAFETY: only `set_handler` stores here, and it stores a `fn()`.
        let handler: fn() = unsafe { core::mem::transmute::<usize, fn()>(handler) };
        handler();
    }
    // The monitor disabled preemption when it delivered this upcall; a
    // tick after this point nests a new upcall below this one's frame,
    // which is as correct as any other interrupted instruction.
    let left = depth() - 1;
    resume(left);
}

// The upcall entry, in images with threads (the monitor preempts only
// those). On entry RSP points at the monitor's frame: the
// interrupted RFLAGS, then RIP, then the untouched 128-byte red zone, then
// the interrupted stack. Every register the handler may change is saved:
// the caller-saved ones by push, the FPU/SSE state (MXCSR and the x87
// control word included) by `fxsave` (the monitor does not enable AVX:
// CR4.OSXSAVE is off, so `fxsave` holds all of it). The callee-saved ones
// the handler preserves, as every C function does. `popfq` then
// `ret {red_zone}` restore RFLAGS, RIP and RSP exactly.
#[cfg(feature = "threads")]
core::arch::global_asm!(
    ".pushsection .text.kiln_upcall,\"ax\",@progbits",
    ".globl kiln_upcall",
    "kiln_upcall:",
    "push rax",
    "push rcx",
    "push rdx",
    "push rsi",
    "push rdi",
    "push r8",
    "push r9",
    "push r10",
    "push r11",
    "push rbp",
    "mov rbp, rsp",
    "and rsp, -16",
    "sub rsp, 512",
    "fxsave64 [rsp]",
    "cld",
    "call {upcall}",
    "fxrstor64 [rsp]",
    "mov rsp, rbp",
    "pop rbp",
    "pop r11",
    "pop r10",
    "pop r9",
    "pop r8",
    "pop rdi",
    "pop rsi",
    "pop rdx",
    "pop rcx",
    "pop rax",
    "popfq",
    "ret {red_zone}",
    // The note that tells the monitor where upcalls enter.
    ".pushsection .note.kiln,\"a\",@note",
    ".balign 4",
    ".long 5, 8, {upcall_note}",
    ".asciz \"Kiln\"",
    ".balign 4",
    ".quad kiln_upcall",
    ".popsection",
    ".popsection",
    upcall = sym upcall,
    upcall_note = const kiln_abi::note::UPCALL,
    red_zone = const kiln_abi::boot::UPCALL_RED_ZONE,
);
