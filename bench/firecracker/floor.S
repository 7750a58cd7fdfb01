/* Firecracker's own floor: a PVH image whose first instruction stops the
   VM, by the reset through the i8042 that Firecracker takes for a clean
   stop. Built by bench/firecracker/run.sh. */
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
    mov $0xfe, %al
    out %al, $0x64
1:  hlt
    jmp 1b
