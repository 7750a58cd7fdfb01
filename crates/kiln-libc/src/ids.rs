//! `<unistd.h>`'s identities: the program runs as root (uid and gid 0, no
//! supplementary groups), as in a container without `USER`. Setting the id
//! it already has succeeds; changing to another is `EPERM`: Kiln has no
//! other identity to become, and nothing that would enforce one, so a
//! program that drops privileges learns it could not rather than
//! believing it did. There is no login session (`getlogin` is `ENXIO`, as
//! glibc answers in a container with no login uid).

use core::ffi::c_char;

use crate::CInt;
use crate::errno::{self, code};

/// The one user and group id.
const ROOT: u32 = 0;

/// `(uid_t)-1`: "leave unchanged" to `setresuid`, invalid to `setuid`.
const UNCHANGED: u32 = u32::MAX;

/// `getuid(2)`.
#[unsafe(no_mangle)]
pub extern "C" fn getuid() -> u32 {
    ROOT
}

/// `geteuid(2)`.
#[unsafe(no_mangle)]
pub extern "C" fn geteuid() -> u32 {
    ROOT
}

/// `getgid(2)`.
#[unsafe(no_mangle)]
pub extern "C" fn getgid() -> u32 {
    ROOT
}

/// `getegid(2)`.
#[unsafe(no_mangle)]
pub extern "C" fn getegid() -> u32 {
    ROOT
}

/// `getresuid(2)`.
///
/// # Safety
/// Each pointer must be valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getresuid(real: *mut u32, effective: *mut u32, saved: *mut u32) -> CInt {
    // SAFETY: per the caller.
    unsafe {
        real.write(ROOT);
        effective.write(ROOT);
        saved.write(ROOT);
    }
    0
}

/// `getresgid(2)`.
///
/// # Safety
/// Each pointer must be valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getresgid(real: *mut u32, effective: *mut u32, saved: *mut u32) -> CInt {
    // SAFETY: per the caller.
    unsafe { getresuid(real, effective, saved) }
}

/// `getgroups(2)`: no supplementary groups.
#[unsafe(no_mangle)]
pub extern "C" fn getgroups(size: CInt, _list: *mut u32) -> CInt {
    traced!("getgroups"(size) {
    if size < 0 {
        return errno::fail(code::EINVAL);
    }
    0
    })
}

/// The answer to a request to become `id`: 0 for the id the program has,
/// `EINVAL` for `-1`, `EPERM` for any other.
fn become_id(id: u32) -> CInt {
    match id {
        ROOT => 0,
        UNCHANGED => errno::fail(code::EINVAL),
        _ => errno::fail(code::EPERM),
    }
}

/// `setuid(2)`.
#[unsafe(no_mangle)]
pub extern "C" fn setuid(uid: u32) -> CInt {
    traced!("setuid"(uid) { become_id(uid) })
}

/// `seteuid(2)`.
#[unsafe(no_mangle)]
pub extern "C" fn seteuid(uid: u32) -> CInt {
    traced!("seteuid"(uid) { become_id(uid) })
}

/// `setgid(2)`.
#[unsafe(no_mangle)]
pub extern "C" fn setgid(gid: u32) -> CInt {
    traced!("setgid"(gid) { become_id(gid) })
}

/// `setegid(2)`.
#[unsafe(no_mangle)]
pub extern "C" fn setegid(gid: u32) -> CInt {
    traced!("setegid"(gid) { become_id(gid) })
}

/// `getlogin_r(3)`: there is no login session.
#[unsafe(no_mangle)]
pub extern "C" fn getlogin_r(_name: *mut c_char, _size: usize) -> CInt {
    code::ENXIO
}

/// `getlogin(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn getlogin() -> *mut c_char {
    errno::set(code::ENXIO);
    core::ptr::null_mut()
}
