//! Guest memory that grows: the `GrowMemory` call maps a new block above
//! what is mapped, up to the limit, as a new KVM memory slot.
//!
//! Each block at least doubles the memory (so a guest that grows to its
//! limit makes a handful of calls and uses a handful of slots) and holds
//! at least what the guest asked for plus its own page tables. The host
//! backs none of it until the guest touches it.

use std::ops::Range;

use kiln_abi::layout::{MEMORY_GRANULE, PAGE_SIZE, align_up};
use kvm_bindings::kvm_userspace_memory_region;
use kvm_ioctls::VmFd;

use crate::layout::Layout;
use crate::memory::{GuestAccessError, GuestMemory};
use crate::paging;

/// Why memory could not grow.
#[derive(Debug, thiserror::Error)]
pub enum GrowError {
    /// KVM refused the new memory slot.
    #[error("KVM refused a new memory slot: {0}")]
    Slot(kvm_ioctls::Error),
    /// The new block's tables could not be written.
    #[error("writing the new memory's page tables: {0}")]
    Tables(#[from] GuestAccessError),
}

/// The VM's memory slots beyond the first.
#[derive(Debug)]
pub struct Growth {
    next_slot: u32,
}

impl Default for Growth {
    /// Slot 0 holds the memory mapped at boot.
    fn default() -> Self {
        Self { next_slot: 1 }
    }
}

impl Growth {
    /// Maps a block that gives the guest at least `at_least` more usable
    /// bytes, and returns the usable range; `None` when the limit leaves no
    /// room for that much.
    pub fn grow(
        &mut self,
        vm: &VmFd,
        memory: &GuestMemory,
        layout: &Layout,
        at_least: u64,
    ) -> Result<Option<Range<u64>>, GrowError> {
        let Some(block) = next_block(memory.size(), memory.limit(), at_least, layout.fine_growth)
        else {
            return Ok(None);
        };
        let offset = usize::try_from(block.start).expect("guest memory is below 4 GiB");
        let region = kvm_userspace_memory_region {
            slot: self.next_slot,
            flags: 0,
            guest_phys_addr: block.start,
            memory_size: block.end - block.start,
            // The reservation covers the whole limit, so the block is inside it.
            userspace_addr: memory.host_base().wrapping_add(offset) as u64,
        };
        // SAFETY: the region is part of `memory`'s own reservation, which
        // lives as long as the VM, and overlaps no other slot: it starts
        // where the mapped memory ends.
        unsafe { vm.set_user_memory_region(region) }.map_err(GrowError::Slot)?;
        self.next_slot += 1;
        memory.grow_to(block.end);
        Ok(Some(paging::map_growth(
            memory,
            layout,
            block,
            layout.fine_growth,
        )?))
    }
}

/// The block to map above `size` bytes for `at_least` usable bytes: whole
/// granules, at least doubling the memory, within `limit`.
fn next_block(size: u64, limit: u64, at_least: u64, fine: bool) -> Option<Range<u64>> {
    // One 4 KiB table per granule, at the block's start, with 4 KiB pages.
    let table_share = if fine { PAGE_SIZE } else { 0 };
    let granules = at_least
        .checked_add(MEMORY_GRANULE - table_share - 1)?
        .checked_div(MEMORY_GRANULE - table_share)?;
    let needed = granules.checked_mul(MEMORY_GRANULE)?.max(MEMORY_GRANULE);
    let end = size.checked_add(needed)?;
    if end > limit {
        return None;
    }
    let doubled = align_up(size.saturating_mul(2), MEMORY_GRANULE).min(limit);
    Some(size..end.max(doubled))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn blocks_double_the_memory_within_the_limit() {
        assert_eq!(
            next_block(8 * MIB, 1024 * MIB, 1, true),
            Some(8 * MIB..16 * MIB)
        );
        assert_eq!(
            next_block(512 * MIB, 768 * MIB, 1, false),
            Some(512 * MIB..768 * MIB)
        );
        assert_eq!(next_block(768 * MIB, 768 * MIB, 1, false), None);
    }

    #[test]
    fn a_large_request_gets_its_bytes_and_its_tables() {
        // 20 MiB of 4 KiB pages need 11 granules: 10 leave no room for
        // their own ten tables.
        let block = next_block(8 * MIB, 1024 * MIB, 20 * MIB, true).expect("fits");
        assert_eq!(block, 8 * MIB..30 * MIB);
        let coarse = next_block(8 * MIB, 1024 * MIB, 20 * MIB, false).expect("fits");
        assert_eq!(coarse, 8 * MIB..28 * MIB);
        assert_eq!(next_block(8 * MIB, 24 * MIB, 20 * MIB, true), None);
        assert_eq!(next_block(8 * MIB, 1024 * MIB, u64::MAX, true), None);
    }
}
