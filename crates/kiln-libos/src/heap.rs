//! The heap: talc over the free memory the boot info describes.
//!
//! The free memory is handed to talc on the first allocation, not at boot:
//! claiming writes allocator metadata at both ends of the heap, and every
//! guest page touched for the first time costs a shadow-paging fault
//! (~10 µs on kvm_pvm), which a program that never allocates should not pay.
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
pub static HEAP: Heap = Heap(TalcLock::new(FreeRegions { claimed: false }));

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

/// Bytes that can still be allocated while leaving a quarter of the heap
/// (at least 256 KiB) free: buffers a program asks for implicitly, such as
/// a new connection's, stay within this, so the program's own allocations
/// do not fail because of them. Unbounded before the first allocation.
pub fn spare() -> usize {
    let talc = HEAP.0.lock();
    let counters = talc.counters();
    if counters.claimed_bytes == 0 {
        return usize::MAX;
    }
    let reserve = (counters.claimed_bytes / 4).max(256 << 10);
    counters.available_bytes.saturating_sub(reserve)
}

/// Bytes of the heap not allocated now: what talc has free once it has
/// claimed the free regions, the regions' whole size before that.
pub fn free() -> u64 {
    let talc = HEAP.0.lock();
    let counters = talc.counters();
    if counters.claimed_bytes == 0 {
        let free = RegionKind::Free as u32;
        return platform::boot_info()
            .regions()
            .iter()
            .filter(|region| region.kind == free)
            .map(|region| region.len)
            .sum();
    }
    counters.available_bytes as u64
}

/// A talc source that claims the boot info's free regions once, when talc
/// first runs out of memory.
#[derive(Debug)]
struct FreeRegions {
    claimed: bool,
}

// SAFETY: `acquire` only reads the boot info and calls `claim` on the talc
// it is given; it never allocates.
unsafe impl Source for FreeRegions {
    fn acquire<B: Binning>(talc: &mut Talc<Self, B>, _layout: Layout) -> Result<(), ()> {
        if talc.source.claimed {
            return Err(());
        }
        talc.source.claimed = true;
        let free = RegionKind::Free as u32;
        for region in platform::boot_info().regions() {
            if region.kind == free && region.len > 0 {
                // SAFETY: the monitor reserves free regions for the guest's
                // heap: mapped, writable and used by nothing else.
                unsafe { talc.claim(region.start as *mut u8, region.len as usize) };
            }
        }
        Ok(())
    }
}
