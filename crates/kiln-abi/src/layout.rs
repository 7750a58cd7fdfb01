//! Fixed facts about guest memory.
//!
//! Only what both sides must know at build time is fixed here. Everything
//! else (where the page tables, the boot info and the stack are) is chosen by
//! the monitor per boot and described to the guest in [`crate::boot::BootInfo`].

/// The guest's page size.
pub const PAGE_SIZE: u64 = 4096;

/// Guest memory is identity-mapped: virtual address = guest-physical address.
/// Images are linked to start here; below it the monitor places its tables,
/// the boot info and the main stack.
pub const IMAGE_BASE: u64 = 0x10_0000;

/// Guest memory comes in whole 2 MiB pages.
pub const MEMORY_GRANULE: u64 = 2 << 20;

/// The smallest guest memory the monitor accepts.
pub const MIN_MEMORY: u64 = 2 << 20;

/// The largest guest memory the monitor accepts. Hypercall argument blocks are
/// passed as 32-bit port values, so all of guest memory stays below 4 GiB.
pub const MAX_MEMORY: u64 = 4 << 30;

/// Whether a VM can have `size` bytes of guest memory: whole granules from
/// [`MIN_MEMORY`] to [`MAX_MEMORY`].
pub const fn is_valid_memory_size(size: u64) -> bool {
    size >= MIN_MEMORY && size <= MAX_MEMORY && size.is_multiple_of(MEMORY_GRANULE)
}

/// Rounds `value` up to a multiple of `align` (a power of two).
pub const fn align_up(value: u64, align: u64) -> u64 {
    (value + align - 1) & !(align - 1)
}
