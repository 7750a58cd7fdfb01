//! What the virtio driver needs of the platform: memory the device can
//! reach. Guest memory is identity-mapped (a pointer *is* the
//! guest-physical address the monitor checks) and there is no IOMMU, so
//! sharing a buffer is handing over its address, and DMA memory is heap
//! memory.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;

use virtio_drivers::{BufferDirection, Hal, PAGE_SIZE, PhysAddr};

use crate::heap::HEAP;
use crate::platform;

/// The identity-mapped platform.
pub struct Identity;

fn pages_layout(pages: usize) -> Layout {
    pages
        .checked_mul(PAGE_SIZE)
        .and_then(|size| Layout::from_size_align(size, PAGE_SIZE).ok())
        .unwrap_or_else(|| platform::report_panic(b"kiln: a DMA allocation too large"))
}

// SAFETY: `dma_alloc` returns zeroed, page-aligned heap memory owned by the
// caller until `dma_dealloc`; addresses are identity-mapped, so the pointer
// and the physical address are the same memory.
unsafe impl Hal for Identity {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        // The driver asks for its rings once, at start-up.
        // SAFETY: a non-zero-sized layout (the driver never asks for 0 pages).
        let memory = unsafe { HEAP.alloc_zeroed(pages_layout(pages.max(1))) };
        let Some(memory) = NonNull::new(memory) else {
            platform::report_panic(b"kiln: no memory for the network device's queues");
        };
        (memory.as_ptr() as PhysAddr, memory)
    }

    unsafe fn dma_dealloc(_paddr: PhysAddr, vaddr: NonNull<u8>, pages: usize) -> i32 {
        // SAFETY: per the trait, allocated by `dma_alloc` with this many pages.
        unsafe { HEAP.dealloc(vaddr.as_ptr(), pages_layout(pages.max(1))) };
        0
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, _size: usize) -> NonNull<u8> {
        NonNull::new(paddr as *mut u8)
            .unwrap_or_else(|| platform::report_panic(b"kiln: a null MMIO address"))
    }

    unsafe fn share(buffer: NonNull<[u8]>, _direction: BufferDirection) -> PhysAddr {
        buffer.cast::<u8>().as_ptr() as PhysAddr
    }

    unsafe fn unshare(_paddr: PhysAddr, _buffer: NonNull<[u8]>, _direction: BufferDirection) {}
}
