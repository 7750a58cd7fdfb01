/* A hypervisor's own floor: a PVH image whose first instruction ends the
   VM. For QEMU (bench/pvh) a write of 0 to isa-debug-exit; built with
   -DI8042_RESET (bench/firecracker) a reset through the i8042, which
   Firecracker takes for a clean stop. */
    .section .note.Xen, "a", @note
    .balign 4
    .long 4, 4, 18          /* XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .balign 4
    .long start
    .text
    .code32
    .globl start
start:
#ifdef I8042_RESET
    mov $0xfe, %al
    out %al, $0x64
#else
    xor %eax, %eax
    out %al, $0xf4
#endif
1:  hlt
    jmp 1b
