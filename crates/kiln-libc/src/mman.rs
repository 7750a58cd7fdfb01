//! `mmap` and friends: anonymous memory, and files as the library OS maps
//! them (copies kept current for `MAP_SHARED`; see `kiln_libos::fs`'s
//! `mapping` module).
//!
//! Guest code runs at CPL3 without a page-table interface, so `mprotect`
//! is accepted without effect (`std` uses it only for guard pages, which
//! the monitor already provides for the main stack).

use core::alloc::{GlobalAlloc, Layout};
use core::ffi::c_void;

use kiln_libos::heap::HEAP;

use crate::errno::{self, code};
use crate::{CInt, CLong};

const PAGE: usize = 4096;
const MAP_FIXED: CInt = 0x10;
const MAP_ANONYMOUS: CInt = 0x20;
const MAP_SHARED: CInt = 0x01;
const MAP_PRIVATE: CInt = 0x02;
const MAP_SHARED_VALIDATE: CInt = 0x03;
const MAP_TYPE: CInt = 0x0f;
const MAP_FAILED: *mut c_void = !0usize as *mut c_void;

/// `mmap(2)` (also exported as `mmap64`).
#[unsafe(no_mangle)]
pub extern "C" fn mmap64(
    _addr: *mut c_void,
    len: usize,
    prot: CInt,
    flags: CInt,
    fd: CInt,
    offset: CLong,
) -> *mut c_void {
    traced!("mmap64"(len, prot, flags, fd, offset) {
    let sharing = flags & MAP_TYPE;
    if flags & MAP_FIXED != 0
        || len == 0
        || !(sharing == MAP_SHARED || sharing == MAP_PRIVATE || sharing == MAP_SHARED_VALIDATE)
    {
        errno::set(code::EINVAL);
        return MAP_FAILED;
    }
    if flags & MAP_ANONYMOUS == 0 {
        return map_file(len, prot, sharing != MAP_PRIVATE, fd, offset);
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

/// `mmap` of descriptor `fd`: `offset` must be page-aligned, as on Linux.
fn map_file(len: usize, prot: CInt, shared: bool, fd: CInt, offset: CLong) -> *mut c_void {
    const PROT_WRITE: CInt = 2;
    // As Linux: an unaligned offset is invalid; an aligned negative one
    // does not fit a file.
    if !offset.unsigned_abs().is_multiple_of(PAGE as u64) {
        errno::set(code::EINVAL);
        return MAP_FAILED;
    }
    let Ok(offset) = u64::try_from(offset) else {
        errno::set(code::EOVERFLOW);
        return MAP_FAILED;
    };
    let request = kiln_libos::fs::MapRequest {
        fd,
        len,
        offset,
        shared,
        writable: prot & PROT_WRITE != 0,
    };
    match kiln_libos::fs::map(request) {
        Ok(memory) => memory.cast(),
        Err(e) => {
            errno::set(e.0);
            MAP_FAILED
        }
    }
}

/// The page-rounded layout of a `len`-byte mapping, if one can exist: the
/// library OS's, which allocates file mappings.
fn page_layout(len: usize) -> Option<Layout> {
    kiln_libos::fs::map_layout(len)
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
    // A file's shared mapping stops following the file first.
    kiln_libos::fs::unmap(addr as usize);
    // SAFETY: per the caller, this is a whole mapping from mmap64.
    unsafe { HEAP.dealloc(addr.cast(), layout) };
    0
    })
}

/// `mremap(2)`: a mapping moves to a new one of the new size, its contents
/// copied (`MREMAP_MAYMOVE`); mappings are heap blocks that cannot grow or
/// shrink in place, so without that flag any change of size is `ENOMEM`,
/// as Linux answers when the space after a mapping is taken.
///
/// # Safety
/// `old`/`old_len` must describe a whole mapping from [`mmap64`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mremap(
    old: *mut c_void,
    old_len: usize,
    new_len: usize,
    flags: CInt,
    _new_address: *mut c_void,
) -> *mut c_void {
    const MREMAP_MAYMOVE: CInt = 1;
    traced!("mremap"(old, old_len, new_len, flags) {
    if !(old as usize).is_multiple_of(PAGE) || new_len == 0 || flags & !MREMAP_MAYMOVE != 0 {
        errno::set(code::EINVAL);
        return MAP_FAILED;
    }
    let (Some(old_layout), Some(new_layout)) = (page_layout(old_len), page_layout(new_len)) else {
        errno::set(code::EINVAL);
        return MAP_FAILED;
    };
    if old_layout.size() == new_layout.size() {
        return old;
    }
    if flags & MREMAP_MAYMOVE == 0 {
        errno::set(code::ENOMEM);
        return MAP_FAILED;
    }
    let new = mmap64(
        core::ptr::null_mut(),
        new_len,
        0,
        MAP_ANONYMOUS | MAP_PRIVATE,
        -1,
        0,
    );
    if new == MAP_FAILED {
        return MAP_FAILED;
    }
    // A file's shared mapping that moves stops following the file.
    kiln_libos::fs::unmap(old as usize);
    // SAFETY: per the caller `old` holds `old_len` bytes; `new` is a fresh
    // mapping of `new_len`; they are distinct blocks. Then the old block,
    // a whole mapping, is released.
    unsafe {
        core::ptr::copy_nonoverlapping(old.cast::<u8>(), new.cast::<u8>(), old_len.min(new_len));
        HEAP.dealloc(old.cast(), old_layout);
    }
    new
    })
}

/// `msync(2)`: the arguments are checked as Linux does (a page-aligned
/// address, known flags, not both `MS_SYNC` and `MS_ASYNC`), then a file's
/// shared writable mapping is written back; anonymous memory has nothing
/// to write back.
#[unsafe(no_mangle)]
pub extern "C" fn msync(addr: *mut c_void, len: usize, flags: CInt) -> CInt {
    const MS_ASYNC: CInt = 1;
    const MS_INVALIDATE: CInt = 2;
    const MS_SYNC: CInt = 4;
    traced!("msync"(addr, flags) {
    let known = MS_ASYNC | MS_INVALIDATE | MS_SYNC;
    if !(addr as usize).is_multiple_of(PAGE)
        || flags & !known != 0
        || flags & (MS_ASYNC | MS_SYNC) == MS_ASYNC | MS_SYNC
    {
        return errno::fail(code::EINVAL);
    }
    // A file's shared mapping writes its stores back.
    kiln_libos::fs::sync_mapping(addr as usize, len);
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
