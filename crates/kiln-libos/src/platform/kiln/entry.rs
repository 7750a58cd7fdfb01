//! The image's entry point and its Kiln notes.
//!
//! `_start` is the first guest instruction: the monitor has set up paging,
//! the stack (16-byte aligned) and `rdi` = boot info. It clears `rbp` and
//! marks its return address undefined so backtraces end here, then calls
//! into Rust with the stack aligned as the ABI expects after a `call`.

use core::sync::atomic::Ordering;

use kiln_abi::boot::{BOOT_MAGIC, BootInfo};

use super::{BOOT_COPY, BOOT_INFO};

core::arch::global_asm!(
    ".section .text._start,\"ax\",@progbits",
    ".globl _start",
    ".type _start,@function",
    "_start:",
    ".cfi_startproc",
    ".cfi_undefined rip",
    "xor ebp, ebp",
    "call {entry}",
    "ud2",
    ".cfi_endproc",
    ".size _start, . - _start",
    // The note that makes this file a Kiln image, and the services it holds.
    ".pushsection .note.kiln,\"a\",@note",
    ".balign 4",
    ".long 5, 4, {abi_note}",
    ".asciz \"Kiln\"",
    ".balign 4",
    ".long {abi_version}",
    ".balign 4",
    ".long 5, 8, {trap_note}",
    ".asciz \"Kiln\"",
    ".balign 4",
    ".quad kiln_trap_table",
    ".popsection",
    entry = sym kiln_entry,
    abi_note = const kiln_abi::note::ABI_VERSION,
    abi_version = const kiln_abi::ABI_VERSION,
    trap_note = const kiln_abi::note::TRAP_TABLE,
);

/// Emits a Kiln service note naming a compiled-in service.
macro_rules! service_note {
    ($name:literal) => {
        core::arch::global_asm!(
            ".pushsection .note.kiln,\"a\",@note",
            ".balign 4",
            ".long 5, 2f - 1f, {kind}",
            ".asciz \"Kiln\"",
            ".balign 4",
            concat!("1: .asciz \"", $name, "\""),
            "2: .balign 4",
            ".popsection",
            kind = const kiln_abi::note::SERVICE,
        );
    };
}

service_note!("console");
#[cfg(feature = "heap")]
service_note!("alloc");
#[cfg(not(feature = "native"))]
service_note!("libc");
#[cfg(feature = "threads")]
service_note!("threads");
#[cfg(feature = "fs")]
service_note!("fs");
#[cfg(feature = "time")]
service_note!("time");
#[cfg(feature = "net")]
service_note!("net");

/// The common entry: from `_start` on Kiln's monitor, from the PVH boot
/// (`platform::pvh`) on other hypervisors.
pub(crate) extern "C" fn kiln_entry(info: *mut BootInfo) -> ! {
    // Read at once, so the stamp marks entry; stored only once the block is
    // known to be a boot info of this ABI, whose layout says where it goes.
    let entry_tsc = crate::platform::rdtsc();
    // SAFETY: the monitor passes the address of a BootInfo it filled in; the
    // two fields that say which ABI it follows come first in every version.
    let (magic, version) = unsafe { ((*info).magic, (*info).abi_version) };
    if magic != BOOT_MAGIC || version != kiln_abi::ABI_VERSION {
        super::console_write(
            kiln_abi::hypercall::stream::STDERR,
            b"kiln: boot info from an incompatible monitor\n",
        );
        super::exit(127);
    }
    // SAFETY: a BootInfo of this ABI (checked above), writable by the guest;
    // the copy is made before any other code can read it.
    unsafe {
        (*BOOT_COPY.0.get()).write(info.read());
        (&raw mut (*info).guest.entry_tsc).write_volatile(entry_tsc);
    }
    BOOT_INFO.store(info, Ordering::Relaxed);
    crate::rt::start()
}
