//! The heap: talc over the free memory the boot info describes.
//!
//! The free memory is handed to talc on the first allocation, not at boot:
//! claiming writes allocator metadata at both ends of the heap, and every
//! guest page touched for the first time costs a shadow-paging fault
//! (~10 µs on kvm_pvm), which a program that never allocates should not pay.

use core::alloc::Layout;

use kiln_abi::boot::RegionKind;
use talc::TalcLock;
use talc::base::Talc;
use talc::base::binning::Binning;
use talc::source::Source;

use crate::platform;

/// One vCPU without preemption never contends for the lock; a spinlock is
/// the cheapest `lock_api` mutex that is still correct if that changes.
#[global_allocator]
static ALLOCATOR: TalcLock<spinning_top::RawSpinlock, FreeRegions> =
    TalcLock::new(FreeRegions { claimed: false });

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
