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
//! The words live in the vCPU's own record (`kiln_abi::boot::VcpuArea`),
//! which the monitor points the vCPU's GS base at. Only the running vCPU
//! touches its own words, and an upcall leaves `disabled` as it found it.
//! A thread may be preempted and resumed on another vCPU between any two of
//! its instructions, so each change of `disabled` is one `gs:`-relative
//! instruction, which an upcall cannot split (as Linux's per-CPU
//! operations are): a pointer to the words taken first could name the
//! vCPU the thread has since left.

use core::sync::atomic::{AtomicUsize, Ordering};

use kiln_abi::boot::{Preemption, VcpuArea};

/// The function the upcall runs: the scheduler's "time slice ended" path.
static HANDLER: AtomicUsize = AtomicUsize::new(0);

/// `gs:`-relative offsets of this vCPU's words.
const DISABLED: usize =
    core::mem::offset_of!(VcpuArea, preemption) + core::mem::offset_of!(Preemption, disabled);
const PENDING: usize =
    core::mem::offset_of!(VcpuArea, preemption) + core::mem::offset_of!(Preemption, pending);

/// This vCPU's words, for code that runs with preemption disabled (so
/// stays on this vCPU while it uses the pointer).
fn words() -> *mut Preemption {
    let area = super::vcpu_area();
    // SAFETY: only computes the field's address in this vCPU's record.
    unsafe { &raw mut (*area).preemption }
}

/// Enters a critical section that a tick must not interrupt (they nest).
#[inline]
pub fn disable() {
    // SAFETY: one instruction on this vCPU's own word (see the module
    // comment); GS points at its record on every vCPU.
    unsafe {
        core::arch::asm!("add dword ptr gs:[{d}], 1", d = const DISABLED, options(nostack));
    }
}

/// Leaves a critical section. Returns true when this was the outermost one
/// and a tick came during it: the caller should yield the CPU now.
#[inline]
pub fn enable() -> bool {
    let left: u32;
    // SAFETY: as in `disable`. A tick after the decrement may move the
    // thread to another vCPU before `pending` is read: it then reads that
    // vCPU's, which the switch that brought it there cleared.
    unsafe {
        core::arch::asm!(
            "sub dword ptr gs:[{d}], 1",
            "mov {left:e}, gs:[{d}]",
            d = const DISABLED,
            left = out(reg) left,
            options(nostack),
        );
    }
    if left != 0 {
        return false;
    }
    let pending: u32;
    // SAFETY: reads this vCPU's own word. With `disabled` zero the monitor
    // delivers ticks as upcalls and never sets `pending`, so the read and
    // the clear below need not be one instruction.
    unsafe {
        core::arch::asm!("mov {p:e}, gs:[{pending}]", pending = const PENDING, p = out(reg) pending, options(nostack, readonly));
    }
    if pending == 0 {
        return false;
    }
    // SAFETY: clears this vCPU's own word (see above).
    unsafe {
        core::arch::asm!("mov dword ptr gs:[{pending}], 0", pending = const PENDING, options(nostack));
    }
    true
}

/// The running thread's critical-section depth, which a thread switch saves.
pub fn depth() -> u32 {
    let depth: u32;
    // SAFETY: reads this vCPU's own word.
    unsafe {
        core::arch::asm!("mov {v:e}, gs:[{d}]", d = const DISABLED, v = out(reg) depth, options(nostack, readonly));
    }
    depth
}

/// Restores a resumed thread's critical-section depth. A tick that came
/// before the switch is forgotten: the resumed thread starts a fresh slice.
pub fn resume(depth: u32) {
    let words = words();
    // SAFETY: this vCPU's own words; preemption is disabled (the scheduler
    // calls this inside its section).
    unsafe {
        (&raw mut (*words).disabled).write_volatile(depth);
        (&raw mut (*words).pending).write_volatile(0);
    }
}

/// Says whether another thread could run, so whether the monitor should
/// tick this vCPU. When ticks are wanted and the monitor's timer is off,
/// this makes one exit so that the monitor sees the change and arms it.
/// Called with preemption disabled.
pub fn set_wanted(wanted: bool) {
    let words = words();
    // SAFETY: this vCPU's own word; `armed` is the monitor's, only read.
    let armed = unsafe {
        (&raw mut (*words).wanted).write_volatile(u32::from(wanted));
        (&raw const (*words).armed).read_volatile() != 0
    };
    if wanted && !armed {
        // A `Block` whose deadline has passed: an exit and nothing else.
        super::block_until(0);
    }
}

/// Sets this vCPU's `wanted` word without the exit [`set_wanted`] may
/// make; returns whether that exit is due (ticks wanted, timer off), for
/// a caller that holds a lock to make it after releasing it.
pub fn set_wanted_quietly(wanted: bool) -> bool {
    let words = words();
    // SAFETY: this vCPU's own word; `armed` is the monitor's, only read.
    unsafe {
        (&raw mut (*words).wanted).write_volatile(u32::from(wanted));
        wanted && (&raw const (*words).armed).read_volatile() == 0
    }
}

/// Sets the function an upcall runs (with preemption disabled).
pub fn set_handler(handler: fn()) {
    HANDLER.store(handler as usize, Ordering::Relaxed);
}

/// Runs the upcall's handler now, for a tick that came during a critical
/// section (nothing before the scheduler sets one: no tick comes before).
pub fn run_handler() {
    let handler = HANDLER.load(Ordering::Relaxed);
    if handler != 0 {
        // SAFETY: only `set_handler` stores here, and it stores a `fn()`.
        let handler: fn() = unsafe { core::mem::transmute::<usize, fn()>(handler) };
        handler();
    }
}

/// Called by `kiln_upcall` with every register saved.
#[cfg(feature = "threads")]
extern "C" fn upcall() {
    run_handler();
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
