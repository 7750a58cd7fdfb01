//! The `malloc` family, on the library OS heap.
//!
//! C's `free` gets no size, so every block carries a 16-byte header just
//! below the pointer handed out: the whole allocation's size and alignment.

use core::alloc::{GlobalAlloc, Layout};
use core::ffi::c_void;

use kiln_libos::heap::HEAP;

use crate::CInt;
use crate::errno::{self, code};

/// The header: the allocation's total size and alignment.
const HEADER: usize = 2 * size_of::<usize>();
/// What `malloc` guarantees, as glibc does on x86_64; it also leaves room
/// for the header in front of every block.
const MIN_ALIGN: usize = 16;
const _: () = assert!(MIN_ALIGN >= HEADER);

/// Allocates `size` bytes aligned to `align` (a power of two), or null.
fn allocate(size: usize, align: usize, zeroed: bool) -> *mut c_void {
    let align = align.max(MIN_ALIGN);
    // The header fits in the alignment padding in front of the block.
    let Some(total) = size.checked_add(align) else {
        return errno::fail_null(code::ENOMEM);
    };
    let Ok(layout) = Layout::from_size_align(total, align) else {
        return errno::fail_null(code::ENOMEM);
    };
    // SAFETY: `layout` has a non-zero size.
    let base = unsafe {
        if zeroed {
            HEAP.alloc_zeroed(layout)
        } else {
            HEAP.alloc(layout)
        }
    };
    if !note_outcome(base, size) {
        return errno::fail_null(code::ENOMEM);
    }
    // SAFETY: `align >= HEADER` bytes of the allocation precede `user`.
    unsafe {
        let user = base.add(align);
        user.cast::<usize>().sub(2).write(total);
        user.cast::<usize>().sub(1).write(align);
        user.cast()
    }
}

/// Records in the thread's TCB whether the request for `size` bytes that
/// gave `base` failed (a crash report then names it); true if it did not.
fn note_outcome(base: *mut u8, size: usize) -> bool {
    // SAFETY: the calling thread's live TCB (installed before any C code runs).
    let failed = unsafe { &mut (*crate::thread::current()).failed_allocation };
    if base.is_null() {
        *failed = size;
        return false;
    }
    if *failed != 0 {
        *failed = 0;
    }
    true
}

/// The layout and start of the allocation behind a pointer from `allocate`.
///
/// # Safety
/// `ptr` must come from `allocate` and not be freed yet.
unsafe fn block(ptr: *mut c_void) -> (*mut u8, Layout) {
    // SAFETY: per the caller, the header precedes `ptr`.
    unsafe {
        let total = ptr.cast::<usize>().sub(2).read();
        let align = ptr.cast::<usize>().sub(1).read();
        (
            ptr.cast::<u8>().sub(align),
            Layout::from_size_align_unchecked(total, align),
        )
    }
}

/// `malloc(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn malloc(size: usize) -> *mut c_void {
    allocate(size, MIN_ALIGN, false)
}

/// `calloc(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn calloc(count: usize, size: usize) -> *mut c_void {
    match count.checked_mul(size) {
        Some(bytes) => allocate(bytes, MIN_ALIGN, true),
        None => errno::fail_null(code::ENOMEM),
    }
}

/// `free(3)`.
///
/// # Safety
/// `ptr` is null or came from this allocator and was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn free(ptr: *mut c_void) {
    if ptr.is_null() {
        return;
    }
    // SAFETY: per the caller.
    unsafe {
        let (base, layout) = block(ptr);
        HEAP.dealloc(base, layout);
    }
}

/// `realloc(3)`.
///
/// # Safety
/// As for [`free`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
    if ptr.is_null() {
        return malloc(size);
    }
    // SAFETY: per the caller.
    let (base, layout) = unsafe { block(ptr) };
    let align = layout.align();
    let Some(total) = size
        .checked_add(align)
        .filter(|&total| Layout::from_size_align(total, align).is_ok())
    else {
        return errno::fail_null(code::ENOMEM);
    };
    // The heap resizes in place where it can (a large block into the free
    // memory after it, a small one within its size class) and otherwise
    // copies, header included, as glibc avoids copies where it can.
    // SAFETY: `base` and `layout` describe a live block of this allocator
    // (per the caller); `total` is non-zero and valid for `align`.
    let base = unsafe { HEAP.realloc(base, layout, total) };
    if !note_outcome(base, size) {
        return errno::fail_null(code::ENOMEM);
    }
    // SAFETY: the header's `align` bytes precede `user`, as in `allocate`;
    // only the size changed.
    unsafe {
        let user = base.add(align);
        user.cast::<usize>().sub(2).write(total);
        user.cast()
    }
}

/// `posix_memalign(3)`: returns the error instead of setting `errno`.
///
/// # Safety
/// `out` must be valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> CInt {
    if !align.is_power_of_two() || !align.is_multiple_of(size_of::<usize>()) {
        return code::EINVAL;
    }
    let saved = errno::get();
    let ptr = allocate(size, align, false);
    errno::set(saved);
    if ptr.is_null() {
        return code::ENOMEM;
    }
    // SAFETY: per the caller.
    unsafe { out.write(ptr) };
    0
}

/// `aligned_alloc(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    if !align.is_power_of_two() {
        return errno::fail_null(code::EINVAL);
    }
    allocate(size, align, false)
}

/// `memalign(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    aligned_alloc(align, size)
}
