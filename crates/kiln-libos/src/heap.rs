//! The heap: talc over the free memory the boot info describes.

use kiln_abi::boot::{BootInfo, RegionKind};
use talc::TalcLock;
use talc::source::Manual;

/// One vCPU without preemption never contends for the lock; a spinlock is
/// the cheapest `lock_api` mutex that is still correct if that changes.
#[global_allocator]
static ALLOCATOR: TalcLock<spinning_top::RawSpinlock, Manual> = TalcLock::new(Manual);

/// Hands every free region to the allocator.
pub(crate) fn init(boot: &BootInfo) {
    for region in boot.regions() {
        if region.kind == RegionKind::Free as u32 && region.len > 0 {
            // SAFETY: the monitor reserves free regions for the guest's heap:
            // mapped, writable and used by nothing else.
            unsafe {
                ALLOCATOR
                    .lock()
                    .claim(region.start as *mut u8, region.len as usize);
            }
        }
    }
}
