//! CPU exception stubs: the only guest code that runs at CPL0.
//!
//! One 16-byte stub per vector (see `kiln_abi::trap`) pushes a zero error
//! code where the CPU pushes none, then the vector, and jumps to the common
//! tail, which pushes the general registers and reports the resulting
//! `TrapFrame` with the `Trap` hypercall. The monitor never resumes a
//! trapped guest.
//!
//! On kvm_pvm hosts CPL0 code is emulated instruction by instruction and SSE
//! there stops the VM, so this is a handful of integer instructions, written
//! in assembly so no compiler-generated code (which may use SSE) runs here.
//! The stubs run on the TSS's interrupt stack, never on the faulting one.
//! The note naming the table sits next to `_start` (in `entry`), whose
//! reference to `kiln_trap_table` also keeps this code in the link.

core::arch::global_asm!(
    ".section .text.kiln_traps,\"ax\",@progbits",
    ".balign 16",
    ".globl kiln_trap_table",
    "kiln_trap_table:",
    ".irp vector, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
    ".balign 16",
    ".if (\\vector == 8) || ((\\vector >= 10) && (\\vector <= 14)) || (\\vector == 17) || (\\vector == 21) || (\\vector == 29) || (\\vector == 30)",
    ".else",
    "push 0",
    ".endif",
    "push \\vector",
    "jmp kiln_trap_common",
    ".endr",
    "kiln_trap_common:",
    "push rax",
    "push rbx",
    "push rcx",
    "push rdx",
    "push rsi",
    "push rdi",
    "push rbp",
    "push r8",
    "push r9",
    "push r10",
    "push r11",
    "push r12",
    "push r13",
    "push r14",
    "push r15",
    // The trap stack lies below 4 GiB, so esp is the frame's full address.
    "mov eax, esp",
    "mov dx, {port}",
    "out dx, eax",
    "3: jmp 3b",
    port = const kiln_abi::hypercall::Hypercall::Trap.port(),
);
