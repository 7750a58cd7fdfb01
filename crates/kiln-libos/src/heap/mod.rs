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
use core::ptr;

use kiln_abi::boot::RegionKind;
use talc::TalcLock;
use talc::base::Talc;
use talc::base::binning::Binning;
use talc::source::Source;

use crate::platform;
use crate::preempt::NoPreempt;

mod vcpu_cache;

/// The heap, behind a library-OS lock: a thread is never preempted inside
/// the allocator, so one vCPU never contends for it. Small blocks go
/// through per-vCPU caches first ([`vcpu_cache`]), so vCPUs seldom contend
/// for it either.
#[cfg_attr(feature = "alloc", global_allocator)]
pub static HEAP: Heap = Heap(TalcLock::new(FreeRegions { mapped_end: 0 }));

/// The guest's heap allocator.
pub struct Heap(TalcLock<crate::preempt::RawLock, FreeRegions>);

impl Heap {
    /// Allocates from talc; when it has no room, gives it this vCPU's
    /// cached blocks and tries once more.
    ///
    /// # Safety
    /// As [`GlobalAlloc::alloc`].
    unsafe fn alloc_from_talc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let block = unsafe { self.0.alloc(layout) };
        if !block.is_null() {
            return block;
        }
        let mut section = NoPreempt::new();
        let mut talc = self.0.lock();
        vcpu_cache::drain(&mut section, |block, layout| {
            // SAFETY: a cached block is a talc allocation of that layout.
            unsafe { talc.deallocate(block, layout) }
        });
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { talc.allocate(layout) }.map_or(ptr::null_mut(), |block| block.as_ptr())
    }
}

// SAFETY: talc's `GlobalAlloc` upholds the contract; a cached block is a
// talc allocation of its class's full size that nothing uses, handed to one
// request at a time.
unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(class) = vcpu_cache::class_of(layout) else {
            // SAFETY: forwarded with the caller's guarantees.
            return unsafe { self.alloc_from_talc(layout) };
        };
        if let Some(block) = vcpu_cache::take(&mut NoPreempt::new(), class) {
            return block;
        }
        // SAFETY: a class's layout has a non-zero size.
        unsafe { self.alloc_from_talc(vcpu_cache::class_layout(class)) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some(class) = vcpu_cache::class_of(layout) else {
            // SAFETY: forwarded with the caller's guarantees.
            return unsafe { self.0.dealloc(ptr, layout) };
        };
        // SAFETY: per the caller, `ptr` is a block `alloc` gave for a
        // layout of this class, which nothing uses any more.
        if !unsafe { vcpu_cache::keep(&mut NoPreempt::new(), ptr, class) } {
            // SAFETY: as above; talc allocated it with the class's layout.
            unsafe { self.0.dealloc(ptr, vcpu_cache::class_layout(class)) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: per the caller, `new_size` rounded to the alignment fits
        // in `isize`.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let (old_class, new_class) = (
            vcpu_cache::class_of(layout),
            vcpu_cache::class_of(new_layout),
        );
        if old_class.is_none() && new_class.is_none() {
            // Talc grows and shrinks large blocks in place where it can.
            // SAFETY: forwarded with the caller's guarantees.
            return unsafe { self.0.realloc(ptr, layout, new_size) };
        }
        if old_class == new_class {
            // The block already has its class's full size.
            return ptr;
        }
        // SAFETY: `new_layout` has a non-zero size; both blocks are valid
        // for the bytes copied and distinct; `ptr` is freed once.
        unsafe {
            let block = self.alloc(new_layout);
            if !block.is_null() {
                ptr::copy_nonoverlapping(ptr, block, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            block
        }
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
    usize::try_from(unallocated(&talc).saturating_sub(reserve)).unwrap_or(usize::MAX)
}

/// Bytes of memory not allocated now: what talc has free plus what the
/// monitor may still map; the free regions' size plus that before the
/// first allocation.
pub fn free() -> u64 {
    let talc = HEAP.0.lock();
    if talc.source.mapped_end == 0 {
        return boot_free_regions().map(|(_, len)| len).sum::<u64>() + talc.source.unmapped();
    }
    unallocated(&talc)
}

/// Bytes not allocated once the heap holds memory: talc's free bytes, the
/// blocks the vCPUs' caches keep, and what the monitor may still map.
fn unallocated(talc: &Talc<FreeRegions, impl Binning>) -> u64 {
    talc.counters().available_bytes as u64 + vcpu_cache::held() as u64 + talc.source.unmapped()
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
