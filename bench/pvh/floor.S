/* QEMU's own floor: a PVH image whose first instruction ends the VM
   through isa-debug-exit (status 0). Built by bench/pvh/run. */
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
    xor %eax, %eax
    out %al, $0xf4
1:  hlt
    jmp 1b
