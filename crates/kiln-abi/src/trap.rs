//! CPU exceptions.
//!
//! The guest's image holds one CPL0 entry stub per exception vector, laid out
//! as a table of [`STUB_STRIDE`]-byte slots, and names the table in a
//! [`crate::note::TRAP_TABLE`] note. The monitor points the IDT at the slots
//! and gives every vector the same interrupt stack (IST1), so an exception
//! never runs on the faulting stack (a stack overflow included).
//!
//! A stub pushes a [`TrapFrame`] and makes the [`crate::hypercall::Hypercall::Trap`]
//! call with its address. Stubs run in the CPU's privileged mode, which on
//! software-virtualised hosts is emulated instruction by instruction and
//! cannot execute SSE: they are a few integer instructions and nothing else.

/// Number of exception vectors with a stub.
pub const VECTORS: usize = 32;

/// Bytes between two stubs in the table.
pub const STUB_STRIDE: u64 = 16;

/// Vectors for which the CPU pushes an error code.
pub const fn has_error_code(vector: u64) -> bool {
    matches!(vector, 8 | 10..=14 | 17 | 21 | 29 | 30)
}

/// Divide error.
pub const DIVIDE_ERROR: u64 = 0;
/// Debug.
pub const DEBUG: u64 = 1;
/// Breakpoint (`int3`).
pub const BREAKPOINT: u64 = 3;
/// Invalid opcode (`ud2`).
pub const INVALID_OPCODE: u64 = 6;
/// Double fault.
pub const DOUBLE_FAULT: u64 = 8;
/// General protection fault.
pub const GENERAL_PROTECTION: u64 = 13;
/// Page fault.
pub const PAGE_FAULT: u64 = 14;

/// A short name for an exception vector.
pub const fn vector_name(vector: u64) -> &'static str {
    match vector {
        0 => "divide error",
        1 => "debug exception",
        2 => "non-maskable interrupt",
        3 => "breakpoint",
        4 => "overflow",
        5 => "bound range exceeded",
        6 => "invalid opcode",
        7 => "device not available",
        8 => "double fault",
        10 => "invalid TSS",
        11 => "segment not present",
        12 => "stack-segment fault",
        13 => "general protection fault",
        14 => "page fault",
        16 => "x87 floating-point exception",
        17 => "alignment check",
        18 => "machine check",
        19 => "SIMD floating-point exception",
        20 => "virtualization exception",
        21 => "control protection exception",
        _ => "reserved exception",
    }
}

/// The frame a trap stub reports: the general registers it pushed (last
/// pushed first), the vector, the error code (0 when the CPU pushes none),
/// and the interrupt frame the CPU pushed.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)] // register names
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    /// The exception vector.
    pub vector: u64,
    /// The CPU's error code, or 0.
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

const _: () = {
    assert!(core::mem::size_of::<TrapFrame>() == 22 * 8);
    assert!(core::mem::offset_of!(TrapFrame, vector) == 15 * 8);
    assert!(core::mem::offset_of!(TrapFrame, rip) == 17 * 8);
};
