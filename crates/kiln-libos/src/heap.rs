//! The heap: talc over the free memory the boot info describes, then over
//! the memory the monitor maps when the heap runs out.
//!
//! The free memory is handed to talc on the first allocation, not at boot:
//! claiming writes allocator metadata at both ends of the heap, and every
//! guest page touched for the first time costs a shadow-paging fault
//! (~10 µs on kvm_pvm), which a program that never allocates should not pay.
//! When talc finds no room, the heap asks the monitor to map more
//! ([`platform::grow_memory`], at least doubling the memory each time) until
//! the memory limit (`kiln run -m`, the boot info's `memory_size`): guest
//! memory is a limit, not a reservation.
//!
//! Native programs get this heap as their global allocator (feature
//! `alloc`); the C-library layer builds `malloc` on [`HEAP`].

use core::alloc::{GlobalAlloc, Layout};

use kiln_abi::boot::RegionKind;
use talc::TalcLock;
use talc::base::Talc;
use talc::base::binning::Binning;
use talc::source::Source;

use crate::platform;

/// The heap, behind a library-OS lock: a thread is never preempted inside
/// the allocator, so one vCPU never contends for it.
#[cfg_attr(feature = "alloc", global_allocator)]
pub static HEAP: Heap = Heap(TalcLock::new(FreeRegions { mapped_end: 0 }));

/// The guest's heap allocator.
pub struct Heap(TalcLock<crate::preempt::RawLock, FreeRegions>);

// SAFETY: delegates to talc's `GlobalAlloc`, which upholds the contract.
unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { self.0.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { self.0.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { self.0.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { self.0.realloc(ptr, layout, new_size) }
    }
}

/// Bytes that can still be allocated while leaving a quarter of the
/// memory limit (at least 256 KiB) free: buffers a program asks for
/// implicitly, such as a new connection's, stay within this, so the
/// program's own allocations do not fail because of them. Unbounded before
/// the first allocation.
pub fn spare() -> usize {
    let talc = HEAP.0.lock();
    if talc.source.mapped_end == 0 {
        return usize::MAX;
    }
    let reserve = (platform::boot_info().memory_size / 4).max(256 << 10);
    let room = talc.counters().available_bytes as u64 + talc.source.unmapped();
    usize::try_from(room.saturating_sub(reserve)).unwrap_or(usize::MAX)
}

/// Bytes of memory not allocated now: what talc has free plus what the
/// monitor may still map; the free regions' size plus that before the
/// first allocation.
pub fn free() -> u64 {
    let talc = HEAP.0.lock();
    if talc.source.mapped_end == 0 {
        return boot_free_regions().map(|(_, len)| len).sum::<u64>() + talc.source.unmapped();
    }
    talc.counters().available_bytes as u64 + talc.source.unmapped()
}

/// The boot info's free regions: start and length.
fn boot_free_regions() -> impl Iterator<Item = (u64, u64)> {
    let free = RegionKind::Free as u32;
    platform::boot_info()
        .regions()
        .iter()
        .filter(move |region| region.kind == free && region.len > 0)
        .map(|region| (region.start, region.len))
}

/// A talc source that claims the boot info's free regions when talc first
/// runs out of memory, and asks the monitor for more each time after.
#[derive(Debug)]
struct FreeRegions {
    /// The end of the last memory claimed (0 until the first claim).
    mapped_end: u64,
}

impl FreeRegions {
    /// Bytes the monitor may still map, up to the memory limit.
    fn unmapped(&self) -> u64 {
        let info = platform::boot_info();
        let mapped = if self.mapped_end == 0 {
            boot_free_regions()
                .map(|(start, len)| start + len)
                .max()
                .unwrap_or(0)
        } else {
            self.mapped_end
        };
        info.memory_size.saturating_sub(mapped)
    }
}

/// Room talc needs around an allocation beyond its size and alignment (its
/// chunk tags and the end of a freshly claimed heap).
const CLAIM_OVERHEAD: usize = 256;

// SAFETY: `acquire` only reads the boot info, asks the monitor for memory
// and calls `claim` on the talc it is given; it never allocates.
unsafe impl Source for FreeRegions {
    fn acquire<B: Binning>(talc: &mut Talc<Self, B>, layout: Layout) -> Result<(), ()> {
        if talc.source.mapped_end == 0 {
            for (start, len) in boot_free_regions() {
                // SAFETY: the monitor reserves free regions for the guest's
                // heap: mapped, writable and used by nothing else.
                unsafe { talc.claim(start as *mut u8, len as usize) };
                talc.source.mapped_end = talc.source.mapped_end.max(start + len);
            }
            // Claimed even when none is free, so the next shortage grows.
            talc.source.mapped_end = talc.source.mapped_end.max(1);
            return Ok(());
        }
        let at_least = layout
            .size()
            .checked_add(layout.align())
            .and_then(|n| n.checked_add(CLAIM_OVERHEAD))
            .ok_or(())?;
        let (start, len) = platform::grow_memory(at_least).ok_or(())?;
        // SAFETY: the monitor just mapped this block for the guest: writable
        // and used by nothing else.
        unsafe { talc.claim(start as *mut u8, len) };
        talc.source.mapped_end = (start + len) as u64;
        Ok(())
    }
}
