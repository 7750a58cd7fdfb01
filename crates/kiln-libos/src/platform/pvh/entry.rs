//! The PVH entry: from the 32-bit protected mode a PVH loader starts us in
//! to the program at CPL3, as on Kiln's monitor.
//!
//! `kiln_pvh_start` runs at CPL0, which on kvm_pvm hosts (and any host
//! without hardware virtualisation) is emulated instruction by instruction
//! and cannot execute SSE: so it is integer assembly, and only what CPL3
//! cannot do. It maps the image with 2 MiB pages, loads the GDT (the TSS
//! descriptor is patched in: its address is split across bit fields a
//! relocation cannot express), enables long mode, loads the IDT register
//! (the table itself is filled in later, at CPL3, by `boot`), points GS at
//! the vCPU record and `iretq`s to [`super::boot::start`] at CPL3 with
//! IOPL=3. Every page-table entry is user-accessible: the Rust code that
//! finishes the boot at CPL3 maps the rest of memory and fills in the IDT
//! and TSS itself, at native speed.

/// Kernel code, kernel data, user data, user code (the order `sysret`
/// expects, as on Kiln's monitor), then the TSS.
pub const KERNEL_CODE: u64 = 0x08;
/// The user data selector (RPL 3).
pub const USER_DATA: u64 = 0x1b;
/// The user code selector (RPL 3).
pub const USER_CODE: u64 = 0x23;
/// The TSS selector.
const TSS_SELECTOR: u64 = 0x28;

/// RFLAGS at CPL3: IOPL=3 (port I/O without exits to a kernel), interrupts off.
pub const USER_RFLAGS: u64 = 0x3002;

core::arch::global_asm!(
    // The PVH note: QEMU, Firecracker and Cloud Hypervisor enter here.
    ".pushsection .note.kiln,\"a\",@note",
    ".balign 4",
    ".long 4, 4, 18", // XEN_ELFNOTE_PHYS32_ENTRY
    ".asciz \"Xen\"",
    ".balign 4",
    ".long kiln_pvh_start",
    ".popsection",
    ".section .text.kiln_pvh,\"ax\",@progbits",
    ".code32",
    ".globl kiln_pvh_start",
    "kiln_pvh_start:",
    "mov [{start_info}], ebx",
    // PML4[0] -> PDPT, PDPT[0] -> the first page directory.
    "mov eax, offset {pdpt}",
    "or eax, 7",
    "mov [{pml4}], eax",
    "mov eax, offset {pd}",
    "or eax, 7",
    "mov [{pdpt}], eax",
    // 2 MiB pages (present, writable, user, large) up to the image's end.
    "mov ecx, offset {image_end}",
    "add ecx, 0x1fffff",
    "shr ecx, 21",
    "mov eax, 0x87",
    "mov edi, offset {pd}",
    "2:",
    "mov [edi], eax",
    "add eax, 0x200000",
    "add edi, 8",
    "dec ecx",
    "jnz 2b",
    // The TSS descriptor: its limit, and its base split over three fields.
    "mov eax, offset {tss}",
    "mov edx, eax",
    "shl eax, 16",
    "or eax, {tss_limit}",
    "mov [{gdt} + {tss_sel}], eax",
    "mov eax, edx",
    "shr eax, 16",
    "and edx, 0xff000000",
    "and eax, 0xff",
    "or eax, edx",
    "or eax, 0x8900",
    "mov [{gdt} + {tss_sel} + 4], eax",
    // CR4: PAE, OSFXSR, OSXMMEXCPT, and FSGSBASE where the CPU has it
    // (CPUID.7.0:EBX bit 0), for `wrfsbase` at CPL3.
    "mov eax, 7",
    "xor ecx, ecx",
    "cpuid",
    "and ebx, 1",
    "shl ebx, 16",
    "or ebx, 0x620",
    "mov cr4, ebx",
    "mov eax, offset {pml4}",
    "mov cr3, eax",
    "mov ecx, 0xc0000080",
    "rdmsr",
    "or eax, 0x100",
    "wrmsr",
    // PG, NE, ET, MP, PE (EM and TS clear: SSE at CPL3).
    "mov eax, 0x80000033",
    "mov cr0, eax",
    "lgdt [{gdtr}]",
    // ljmp KERNEL_CODE:3f (the assembler's far-jump syntax differs between
    // dialects; the encoding does not).
    ".byte 0xea",
    ".long 3f",
    ".word {kernel_code}",
    ".code64",
    "3:",
    "mov ax, {tss_sel}",
    "ltr ax",
    "lidt [{idtr}]",
    "mov ecx, 0xc0000101",
    "mov eax, offset {vcpu}",
    "xor edx, edx",
    "wrmsr",
    // Where the hypervisor is KVM with kvmclock (CPUID 0x40000000 says
    // "KVMK...", 0x40000001 has CLOCKSOURCE2), have it fill in `clock`'s
    // records, which tell the TSC's rate and the wall clock: measuring the
    // rate against the PIT instead takes 2-3 ms of port reads, an exit
    // each, and the RTC costs ~16 more exits.
    "mov eax, 0x40000000",
    "cpuid",
    "cmp ebx, 0x4b4d564b",
    "jne 4f",
    "mov eax, 0x40000001",
    "cpuid",
    "test al, 8",
    "jz 4f",
    "mov ecx, 0x4b564d01",
    "mov eax, offset {pvclock} + 1",
    "xor edx, edx",
    "wrmsr",
    // And the wall clock at kvmclock's zero (Firecracker has no RTC).
    "mov ecx, 0x4b564d00",
    "mov eax, offset {wall}",
    "wrmsr",
    "4:",
    // PVH leaves the stack pointer undefined (Firecracker starts with 0):
    // build the `iretq` frame at the top of the boot stack, which the CPL3
    // code then starts just below.
    "lea rsp, [rip + {boot_stack} + {boot_stack_size}]",
    "push {user_data}",
    // As after a `call`: the entry is an ordinary function.
    "lea rax, [rip + {boot_stack} + {boot_stack_size} - 8]",
    "push rax",
    "push {user_rflags}",
    "push {user_code}",
    "lea rax, [rip + {boot}]",
    "push rax",
    "iretq",
    // A CPU exception on this platform: the trap stubs came here with their
    // frame on the CPL0 trap stack (user-accessible here). Hand it, and the
    // fault address, to the CPL3 report on the boot stack (free once the
    // program runs).
    ".globl kiln_pvh_trap",
    "kiln_pvh_trap:",
    // Unless the guest is powering off: then its `ud2` came here to halt
    // at CPL0 (interrupts off) until the VMM stops it, instead of spinning
    // at CPL3 beside the VMM thread that has the stop to carry out.
    "cmp byte ptr [rip + {stopping}], 0",
    "jne 5f",
    "mov rdi, rsp",
    "mov rsi, cr2",
    "push {user_data}",
    "lea rax, [rip + {boot_stack} + {boot_stack_size} - 8]",
    "push rax",
    "push {user_rflags}",
    "push {user_code}",
    "lea rax, [rip + {report}]",
    "push rax",
    "iretq",
    "5:",
    "hlt",
    "jmp 5b",
    // The boot's last step: onto the main stack, into the common entry
    // with the boot info (`rsi`). Backtraces end here, as at `_start`.
    ".globl kiln_pvh_run",
    "kiln_pvh_run:",
    ".cfi_startproc",
    ".cfi_undefined rip",
    "mov rsp, rdi",
    "mov rdi, rsi",
    "xor ebp, ebp",
    "call {common}",
    "ud2",
    ".cfi_endproc",
    start_info = sym super::boot::START_INFO,
    pml4 = sym super::boot::PML4,
    pdpt = sym super::boot::PDPT,
    pd = sym super::boot::PAGE_DIRECTORIES,
    image_end = sym super::boot::__kiln_image_end,
    tss = sym super::boot::TSS,
    gdt = sym super::boot::GDT,
    gdtr = sym super::boot::GDTR,
    idtr = sym super::boot::IDTR,
    vcpu = sym super::boot::VCPU,
    pvclock = sym super::clock::PVCLOCK,
    wall = sym super::clock::WALL_CLOCK,
    tss_sel = const TSS_SELECTOR,
    tss_limit = const super::boot::TSS_LIMIT,
    kernel_code = const KERNEL_CODE,
    user_data = const USER_DATA,
    user_code = const USER_CODE,
    user_rflags = const USER_RFLAGS,
    boot_stack = sym super::boot::BOOT_STACK,
    boot_stack_size = const super::boot::BOOT_STACK_SIZE,
    boot = sym super::boot::start,
    report = sym super::crash::trap,
    stopping = sym super::STOPPING,
    common = sym crate::platform::kiln::kiln_entry,
);
