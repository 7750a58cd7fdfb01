//! Reading directories (`dirent.h`): `opendir`, `readdir64`, `closedir`.
//!
//! A `DIR` is a descriptor and a buffer of `linux_dirent64` records from
//! `getdents64`, whose layout is glibc's `struct dirent64`; `readdir64`
//! hands out pointers into that buffer.

use core::ffi::c_char;

use kiln_libos::fs::{self, flags};

use crate::errno::{self, code};
use crate::{CInt, CLong, c_path};

/// Bytes of records fetched at once.
const BUFFER: usize = 32 * 1024;

/// glibc's opaque `DIR`.
#[repr(C)]
pub struct Dir {
    fd: CInt,
    /// Records in `buf[pos..len]` not yet handed out.
    pos: usize,
    len: usize,
    /// 8-aligned, as `struct dirent64` requires.
    buf: [u64; BUFFER / 8],
}

/// `fdopendir(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn fdopendir(fd: CInt) -> *mut Dir {
    traced!("fdopendir"(fd) {
    match fs::fstat(fd) {
        Ok(stat) if stat.mode & 0o170000 == 0o040000 => {}
        Ok(_) => return errno::fail_null(code::ENOTDIR),
        Err(e) => return errno::fail_null(e.0),
    }
    let dir = crate::malloc::malloc(size_of::<Dir>()).cast::<Dir>();
    if !dir.is_null() {
        // SAFETY: freshly allocated with room and alignment for a `Dir`.
        unsafe {
            (&raw mut (*dir).fd).write(fd);
            (&raw mut (*dir).pos).write(0);
            (&raw mut (*dir).len).write(0);
        }
    }
    dir
    })
}

/// `opendir(3)`.
///
/// # Safety
/// `path` must be null or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn opendir(path: *const c_char) -> *mut Dir {
    traced!("opendir"(path) {
    let open_flags = flags::O_RDONLY | flags::O_DIRECTORY | flags::O_CLOEXEC;
    // SAFETY: per the caller.
    let fd = match unsafe { c_path(path) }.and_then(|p| fs::open(flags::AT_FDCWD, p, open_flags, 0)) {
        Ok(fd) => fd,
        Err(e) => return errno::fail_null(e.0),
    };
    let dir = fdopendir(fd);
    if dir.is_null() {
        let saved = errno::get();
        let _ = fs::close(fd);
        errno::set(saved);
    }
    dir
    })
}

/// `readdir64(3)`: the next entry, or null at the end (or on error, with `errno` set).
///
/// # Safety
/// `dir` must come from `opendir`/`fdopendir` and not be closed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn readdir64(dir: *mut Dir) -> *mut u8 {
    // SAFETY: per the caller.
    let dir = unsafe { &mut *dir };
    if dir.pos >= dir.len {
        // SAFETY: the buffer is plain bytes owned by `dir`.
        let bytes =
            unsafe { core::slice::from_raw_parts_mut(dir.buf.as_mut_ptr().cast::<u8>(), BUFFER) };
        match fs::read_dir(dir.fd, bytes) {
            Ok(0) => return core::ptr::null_mut(),
            Ok(n) => {
                dir.len = n;
                dir.pos = 0;
            }
            Err(e) => return errno::fail_null(e.0),
        }
    }
    // SAFETY: `pos` is the start of a record within the filled part.
    let record = unsafe { dir.buf.as_mut_ptr().cast::<u8>().add(dir.pos) };
    // SAFETY: every record has its length at offset 16.
    let reclen = unsafe { record.add(16).cast::<u16>().read_unaligned() };
    dir.pos += usize::from(reclen.max(1));
    record
}

/// `readdir(3)`: on x86_64 `struct dirent` is `struct dirent64`.
///
/// # Safety
/// As [`readdir64`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn readdir(dir: *mut Dir) -> *mut u8 {
    // SAFETY: per the caller.
    unsafe { readdir64(dir) }
}

/// `closedir(3)`.
///
/// # Safety
/// `dir` must come from `opendir`/`fdopendir` and not be used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn closedir(dir: *mut Dir) -> CInt {
    traced!("closedir"(dir) {
    if dir.is_null() {
        return errno::fail(code::EINVAL);
    }
    // SAFETY: per the caller.
    let fd = unsafe { (*dir).fd };
    // SAFETY: allocated by `fdopendir` with `malloc`.
    unsafe { crate::malloc::free(dir.cast()) };
    errno::check(fs::close(fd).map(|()| 0)) as CInt
    })
}

/// `dirfd(3)`.
///
/// # Safety
/// `dir` must come from `opendir`/`fdopendir` and not be closed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dirfd(dir: *mut Dir) -> CInt {
    // SAFETY: per the caller.
    unsafe { (*dir).fd }
}

/// `rewinddir(3)`.
///
/// # Safety
/// As [`dirfd`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rewinddir(dir: *mut Dir) {
    // SAFETY: per the caller.
    let dir = unsafe { &mut *dir };
    dir.pos = 0;
    dir.len = 0;
    let _ = fs::seek(dir.fd, 0, flags::SEEK_SET);
}

/// `getdents64(2)`.
///
/// # Safety
/// `buf` must be valid for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getdents64(fd: CInt, buf: *mut u8, len: usize) -> CLong {
    traced!("getdents64"(fd, buf, len) {
    // SAFETY: per the caller.
    let buf = unsafe { crate::c_slice_mut(buf, len) };
    errno::check(fs::read_dir(fd, buf))
    })
}
