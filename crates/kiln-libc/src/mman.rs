//! `mmap` and friends, for anonymous memory only.
//!
//! There are no files to map yet, and guest code runs at CPL3 without a
//! page-table interface, so `mprotect` is accepted without effect (`std`
//! uses it only for guard pages, which the monitor already provides for the
//! main stack).

use core::alloc::{GlobalAlloc, Layout};
use core::ffi::c_void;

use kiln_libos::heap::HEAP;

use crate::errno::{self, code};
use crate::{CInt, CLong};

const PAGE: usize = 4096;
const MAP_FIXED: CInt = 0x10;
const MAP_ANONYMOUS: CInt = 0x20;
const MAP_FAILED: *mut c_void = !0usize as *mut c_void;

/// `mmap(2)` (also exported as `mmap64`).
#[unsafe(no_mangle)]
pub extern "C" fn mmap64(
    _addr: *mut c_void,
    len: usize,
    _prot: CInt,
    flags: CInt,
    _fd: CInt,
    _offset: CLong,
) -> *mut c_void {
    traced!("mmap64"(len, flags) {
    if flags & MAP_ANONYMOUS == 0 {
        errno::set(code::ENODEV);
        return MAP_FAILED;
    }
    if flags & MAP_FIXED != 0 || len == 0 {
        errno::set(code::EINVAL);
        return MAP_FAILED;
    }
    let Some(layout) = page_layout(len) else {
        errno::set(code::ENOMEM);
        return MAP_FAILED;
    };
    // SAFETY: a non-zero-sized layout.
    let ptr = unsafe { HEAP.alloc_zeroed(layout) };
    if ptr.is_null() {
        errno::set(code::ENOMEM);
        return MAP_FAILED;
    }
    ptr.cast()
    })
}

/// The page-rounded layout of a `len`-byte mapping, if one can exist.
fn page_layout(len: usize) -> Option<Layout> {
    let size = len.checked_next_multiple_of(PAGE)?;
    Layout::from_size_align(size, PAGE).ok()
}

/// `mmap(2)`.
#[unsafe(no_mangle)]
pub extern "C" fn mmap(
    addr: *mut c_void,
    len: usize,
    prot: CInt,
    flags: CInt,
    fd: CInt,
    offset: CLong,
) -> *mut c_void {
    mmap64(addr, len, prot, flags, fd, offset)
}

/// `munmap(2)`: whole mappings only, as `std` uses it.
///
/// # Safety
/// `addr`/`len` must describe a whole mapping from [`mmap64`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn munmap(addr: *mut c_void, len: usize) -> CInt {
    traced!("munmap"(addr, len) {
    let Some(layout) = page_layout(len) else {
        return errno::fail(code::EINVAL);
    };
    if len == 0 || addr.is_null() || !(addr as usize).is_multiple_of(PAGE) {
        return errno::fail(code::EINVAL);
    }
    // SAFETY: per the caller, this is a whole mapping from mmap64.
    unsafe { HEAP.dealloc(addr.cast(), layout) };
    0
    })
}

/// `mprotect(2)`: accepted, without effect (see the module docs).
#[unsafe(no_mangle)]
pub extern "C" fn mprotect(_addr: *mut c_void, _len: usize, _prot: CInt) -> CInt {
    traced!("mprotect"() {
    0
    })
}

/// The `madvise` advice values Linux accepts for private anonymous memory.
fn advice_valid(advice: CInt) -> bool {
    const MADV_FREE: CInt = 8;
    const MADV_DONTFORK: CInt = 10;
    const MADV_COLLAPSE: CInt = 25;
    matches!(advice, 0..=MADV_DONTNEED | MADV_FREE | MADV_DONTFORK..=MADV_COLLAPSE)
}

const MADV_DONTNEED: CInt = 4;

/// `madvise(2)`: `MADV_DONTNEED` zeroes the pages, as Linux's private
/// anonymous memory reads back zero-filled after it; every other valid
/// advice is a hint with nothing to do (`MADV_FREE` may keep the data, as
/// Linux may until it reclaims the pages).
///
/// # Safety
/// With `MADV_DONTNEED`, `addr..addr + len` (rounded up to whole pages)
/// must be memory the program may overwrite, as Linux requires it to be
/// mapped.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn madvise(addr: *mut c_void, len: usize, advice: CInt) -> CInt {
    traced!("madvise"(addr, len, advice) {
    if !(addr as usize).is_multiple_of(PAGE) || !advice_valid(advice) {
        return errno::fail(code::EINVAL);
    }
    let Some(len) = len.checked_next_multiple_of(PAGE) else {
        return errno::fail(code::EINVAL);
    };
    if (addr as usize).checked_add(len).is_none() {
        return errno::fail(code::EINVAL);
    }
    if advice == MADV_DONTNEED && len > 0 {
        // SAFETY: per the caller, the whole pages are the program's.
        unsafe { core::ptr::write_bytes(addr.cast::<u8>(), 0, len) };
    }
    0
    })
}

/// `posix_madvise(3)`: hints only (its `POSIX_MADV_DONTNEED` discards
/// nothing in glibc either); returns the error instead of setting `errno`.
#[unsafe(no_mangle)]
pub extern "C" fn posix_madvise(addr: *mut c_void, _len: usize, advice: CInt) -> CInt {
    traced!("posix_madvise"(addr, advice) {
    if !(addr as usize).is_multiple_of(PAGE) || !(0..=MADV_DONTNEED).contains(&advice) {
        code::EINVAL
    } else {
        0
    }
    })
}
