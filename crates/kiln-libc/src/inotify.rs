//! `sys/inotify.h`: watches on the guest's own files (memory, baked and
//! system files), with Linux's events, through the library OS's
//! `fs::inotify_*`. A host volume's files change on the host unseen, so a
//! watch there fails with `EOPNOTSUPP` instead of staying silent.

use core::ffi::c_char;

use kiln_libos::fs;

use crate::errno;
use crate::{CInt, c_path};

/// `inotify_init1(2)` (`IN_NONBLOCK`, `IN_CLOEXEC`).
#[unsafe(no_mangle)]
pub extern "C" fn inotify_init1(flags: CInt) -> CInt {
    traced!("inotify_init1"(flags) {
    errno::check(fs::inotify_init(flags)) as CInt
    })
}

/// `inotify_init(2)`.
#[unsafe(no_mangle)]
pub extern "C" fn inotify_init() -> CInt {
    inotify_init1(0)
}

/// `inotify_add_watch(2)`.
///
/// # Safety
/// `path` must be null or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn inotify_add_watch(fd: CInt, path: *const c_char, mask: u32) -> CInt {
    traced!("inotify_add_watch"(fd, path, mask) {
    // SAFETY: per the caller.
    let path = unsafe { c_path(path) };
    errno::check(path.and_then(|path| fs::inotify_add_watch(fd, path, mask))) as CInt
    })
}

/// `inotify_rm_watch(2)`.
#[unsafe(no_mangle)]
pub extern "C" fn inotify_rm_watch(fd: CInt, wd: CInt) -> CInt {
    traced!("inotify_rm_watch"(fd, wd) {
    errno::check(fs::inotify_rm_watch(fd, wd).map(|()| 0)) as CInt
    })
}
