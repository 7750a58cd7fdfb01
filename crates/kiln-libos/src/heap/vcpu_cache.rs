//! Per-vCPU caches of small freed blocks, in front of talc's one lock.
//!
//! Talc is one heap behind one lock. Under SMP, threads on different vCPUs
//! that allocate at a high rate (a test harness running two unoptimised
//! tests at once, serde, rayon) take turns on that lock and spin, with an
//! exit every few thousand rounds: memchr's test suite ran 2.6x slower on
//! two vCPUs than on one. As glibc's tcache does per thread, each vCPU keeps
//! a few freed blocks of each small size and hands them out again without
//! the lock. The cache is per vCPU rather than per thread because the heap
//! runs with preemption disabled: no other thread runs on the vCPU
//! meanwhile, so a cache needs neither a lock nor atomic updates. Talc has
//! no such front end, and no maintained `no_std` allocator offers one over a
//! caller-chosen CPU index.
//!
//! A cached block stays allocated as far as talc knows; every block of a
//! size class is allocated from talc with the class's full size, so a block
//! freed by one request serves any other request of its class.

use core::alloc::Layout;
use core::cell::UnsafeCell;
use core::ptr;
use core::sync::atomic::{AtomicUsize, Ordering};

use kiln_abi::boot::MAX_VCPUS;

use crate::preempt::NoPreempt;

/// The step between cached sizes, and the largest alignment cached (what
/// `malloc` asks for).
const GRANULE: usize = 16;
/// The largest size cached: glibc's tcache stops at about the same.
const LARGEST: usize = 1024;
const CLASSES: usize = LARGEST / GRANULE;
/// Blocks kept per size class and vCPU.
const PER_CLASS: u16 = 16;
/// Bytes one vCPU's cache may hold, so that caches never keep much of a
/// small guest's memory from the other vCPUs.
const BUDGET: usize = 64 << 10;

/// The size class of a layout the caches serve, or `None` for one talc
/// serves directly.
pub fn class_of(layout: Layout) -> Option<usize> {
    (layout.size() != 0 && layout.size() <= LARGEST && layout.align() <= GRANULE)
        .then(|| (layout.size() - 1) / GRANULE)
}

/// The layout every block of `class` has in talc.
pub fn class_layout(class: usize) -> Layout {
    // SAFETY: a non-zero multiple of a power-of-two alignment, far from
    // overflowing `isize`.
    unsafe { Layout::from_size_align_unchecked((class + 1) * GRANULE, GRANULE) }
}

/// One vCPU's cache: a list of free blocks per class, linked through their
/// first word, and the bytes they hold. Cache-line aligned, so that vCPUs
/// never write to one line.
#[repr(align(64))]
struct Cache {
    lists: UnsafeCell<Lists>,
    /// Written by this vCPU only (a plain load and store, no locked
    /// instruction), read by others for the heap's free figures.
    bytes: AtomicUsize,
}

struct Lists {
    heads: [*mut u8; CLASSES],
    counts: [u16; CLASSES],
}

// SAFETY: each vCPU touches only its own cache's lists, with preemption
// disabled (see `lists`); other vCPUs only load `bytes`, an atomic.
unsafe impl Sync for Cache {}

static CACHES: [Cache; MAX_VCPUS] = [const {
    Cache {
        lists: UnsafeCell::new(Lists {
            heads: [ptr::null_mut(); CLASSES],
            counts: [0; CLASSES],
        }),
        bytes: AtomicUsize::new(0),
    }
}; MAX_VCPUS];

/// This vCPU's cache.
fn mine(_section: &NoPreempt) -> &'static Cache {
    &CACHES[crate::platform::vcpu_index()]
}

/// This vCPU's lists. The section proves preemption is disabled, so the
/// vCPU cannot change and no other thread runs here until it ends; its
/// exclusive borrow keeps two borrows of the lists from overlapping.
fn lists(section: &mut NoPreempt) -> &mut Lists {
    // SAFETY: per the above, this thread is the only user of this vCPU's
    // lists while the section lasts.
    unsafe { &mut *mine(section).lists.get() }
}

/// A cached block of `class`, if this vCPU has one.
pub fn take(section: &mut NoPreempt, class: usize) -> Option<*mut u8> {
    let bytes = &mine(section).bytes;
    let lists = lists(section);
    let block = lists.heads[class];
    if block.is_null() {
        return None;
    }
    // SAFETY: a cached block is a free block of at least GRANULE bytes
    // whose first word links to the next one.
    lists.heads[class] = unsafe { block.cast::<*mut u8>().read() };
    lists.counts[class] -= 1;
    let held = bytes.load(Ordering::Relaxed);
    bytes.store(held - class_layout(class).size(), Ordering::Relaxed);
    Some(block)
}

/// Keeps `block` of `class` for reuse; false when this vCPU's cache is
/// full and the block must go back to talc.
///
/// # Safety
/// `block` is an allocated block of `class` (see [`class_layout`]) that
/// nothing uses any more.
pub unsafe fn keep(section: &mut NoPreempt, block: *mut u8, class: usize) -> bool {
    let bytes = &mine(section).bytes;
    let lists = lists(section);
    let size = class_layout(class).size();
    let held = bytes.load(Ordering::Relaxed);
    if lists.counts[class] >= PER_CLASS || held + size > BUDGET {
        return false;
    }
    // SAFETY: per the caller, the block is ours to overwrite.
    unsafe { block.cast::<*mut u8>().write(lists.heads[class]) };
    lists.heads[class] = block;
    lists.counts[class] += 1;
    bytes.store(held + size, Ordering::Relaxed);
    true
}

/// Empties this vCPU's cache, handing each block and its layout to
/// `release` (to give them back to talc when it runs out of room).
pub fn drain(section: &mut NoPreempt, mut release: impl FnMut(*mut u8, Layout)) {
    for class in 0..CLASSES {
        while let Some(block) = take(section, class) {
            release(block, class_layout(class));
        }
    }
}

/// Bytes all vCPUs' caches hold: free memory as far as programs go.
pub fn held() -> usize {
    CACHES
        .iter()
        .map(|cache| cache.bytes.load(Ordering::Relaxed))
        .sum()
}
