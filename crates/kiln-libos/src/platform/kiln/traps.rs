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
    ".if \\vector == 6",
    "jmp kiln_invalid_opcode",
    ".else",
    ".if (\\vector == 8) || ((\\vector >= 10) && (\\vector <= 14)) || (\\vector == 17) || (\\vector == 21) || (\\vector == 29) || (\\vector == 30)",
    ".else",
    "push 0",
    ".endif",
    "push \\vector",
    "jmp kiln_trap_common",
    ".endif",
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
    // Booted through PVH there is no monitor to report to: the PVH
    // platform reports from CPL3 (`platform::pvh::crash`).
    "cmp byte ptr [rip + {pvh}], 0",
    "jne kiln_pvh_trap",
    // The trap stack lies below 4 GiB, so esp is the frame's full address.
    "mov eax, esp",
    "mov dx, {port}",
    "out dx, eax",
    "3: jmp 3b",
    port = const kiln_abi::hypercall::Hypercall::Trap.port(),
    pvh = sym crate::platform::pvh::ACTIVE,
);

// The kernel call: guest CPL3 code's one privileged change, marking the
// 4 KiB page at `rdi` present (`rsi` = 1) or not (`rsi` = 0), for thread
// guard pages. It is entered by the `ud2` at `kiln_kernel_call_site`: CPU
// exceptions from CPL3 reach the IDT on every host, while software
// interrupts do not on kvm_pvm. The #UD stub sends that one address here,
// and every other invalid opcode to the crash report. The call walks the
// page tables from CR3, flips the entry's present bit, invalidates its TLB
// entry and resumes after the `ud2` with `rax` = 0, or 1 if the page is not
// mapped with a 4 KiB entry.
core::arch::global_asm!(
    ".section .text.kiln_traps,\"ax\",@progbits",
    "kiln_invalid_opcode:",
    "push rax",
    "lea rax, [rip + kiln_kernel_call_site]",
    "cmp rax, [rsp + 8]",
    "pop rax",
    "je 1f",
    "push 0",
    "push 6",
    "jmp kiln_trap_common",
    "1:",
    "add qword ptr [rsp], 2",
    "push rcx",
    "push rdx",
    "and esi, 1",
    "mov rdx, 0x000ffffffffff000",
    "mov rax, cr3",
    "and rax, rdx",
    // Levels 4, 3 and 2: each entry must be present and not a large page.
    ".irp shift, 39, 30, 21",
    "mov rcx, rdi",
    "shr rcx, \\shift",
    "and ecx, 0x1ff",
    "mov rax, [rax + rcx * 8]",
    "test al, 1",
    "jz 2f",
    "test al, 0x80",
    "jnz 2f",
    "and rax, rdx",
    ".endr",
    // Level 1: flip the present bit of the page's entry.
    "mov rcx, rdi",
    "shr rcx, 12",
    "and ecx, 0x1ff",
    "lea rax, [rax + rcx * 8]",
    "mov rcx, [rax]",
    "and rcx, -2",
    "or rcx, rsi",
    "mov [rax], rcx",
    "invlpg [rdi]",
    "xor eax, eax",
    "jmp 3f",
    "2:",
    "mov eax, 1",
    "3:",
    "pop rdx",
    "pop rcx",
    "iretq",
    // The call site: an ordinary function, so `rdi`/`rsi`/`rax` follow the
    // C calling convention.
    ".section .text.kiln_kernel_call,\"ax\",@progbits",
    ".globl kiln_kernel_call_site",
    ".type kiln_kernel_call_site,@function",
    "kiln_kernel_call_site:",
    "ud2",
    "ret",
);
