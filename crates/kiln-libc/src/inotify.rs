//! `sys/inotify.h`: not provided, as on a kernel built without
//! `CONFIG_INOTIFY_USER`: every call fails with `ENOSYS`.
//!
//! Events for the guest's memory files could be produced in the guest, but
//! files on a volume change on the host unseen, so a watcher would report
//! some changes and silently miss others. A clear `ENOSYS` lets the
//! program choose: the `notify` crate's `recommended_watcher` returns the
//! error, and its `PollWatcher` (which scans the files) works here.

use core::ffi::c_char;

use crate::CInt;
use crate::errno::{self, code};

/// `inotify_init1(2)`.
#[unsafe(no_mangle)]
pub extern "C" fn inotify_init1(flags: CInt) -> CInt {
    traced!("inotify_init1"(flags) { errno::fail(code::ENOSYS) })
}

/// `inotify_init(2)`.
#[unsafe(no_mangle)]
pub extern "C" fn inotify_init() -> CInt {
    traced!("inotify_init"() { errno::fail(code::ENOSYS) })
}

/// `inotify_add_watch(2)`.
#[unsafe(no_mangle)]
pub extern "C" fn inotify_add_watch(fd: CInt, path: *const c_char, mask: u32) -> CInt {
    traced!("inotify_add_watch"(fd, path, mask) { errno::fail(code::ENOSYS) })
}

/// `inotify_rm_watch(2)`.
#[unsafe(no_mangle)]
pub extern "C" fn inotify_rm_watch(fd: CInt, wd: CInt) -> CInt {
    traced!("inotify_rm_watch"(fd, wd) { errno::fail(code::ENOSYS) })
}
