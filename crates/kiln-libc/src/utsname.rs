//! The system's names (`sys/utsname.h`, and `gethostname`/`sethostname`
//! from `unistd.h`): `uname`, the host name `kiln run --hostname` gave.

use core::ffi::c_char;

use kiln_libos::fs::RELEASE;
use kiln_libos::platform;

use crate::errno::{self, code};
use crate::{CInt, c_slice_mut};

/// The length of each field of glibc's `struct utsname`, NUL included.
const FIELD: usize = 65;

/// `uname(2)`: the system is Linux on x86_64 (the ABI programs see), the
/// release Kiln's (see `RELEASE`), the node name the host name, the
/// domain name Linux's default, `(none)`.
///
/// # Safety
/// `buf` must be null or valid for a `struct utsname` (6 × 65 bytes).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn uname(buf: *mut c_char) -> CInt {
    traced!("uname"(buf) {
    if buf.is_null() {
        return errno::fail(code::EFAULT);
    }
    // SAFETY: per the caller.
    let out = unsafe { c_slice_mut(buf.cast::<u8>(), 6 * FIELD) };
    out.fill(0);
    let fields: [&[u8]; 6] = [
        b"Linux",
        platform::hostname(),
        RELEASE.as_bytes(),
        b"#1 Kiln",
        b"x86_64",
        b"(none)",
    ];
    for (field, value) in out.chunks_mut(FIELD).zip(fields) {
        let n = value.len().min(FIELD - 1);
        field[..n].copy_from_slice(&value[..n]);
    }
    0
    })
}

/// `gethostname(3)`: as glibc, copies what fits of the name and its NUL,
/// and fails with `ENAMETOOLONG` when that is not all of it.
///
/// # Safety
/// `name` must be valid for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gethostname(name: *mut c_char, len: usize) -> CInt {
    traced!("gethostname"(name, len) {
    // SAFETY: per the caller.
    let out = unsafe { c_slice_mut(name.cast::<u8>(), len) };
    let host = platform::hostname();
    let n = host.len().min(len);
    out[..n].copy_from_slice(&host[..n]);
    if host.len() < len {
        out[host.len()] = 0;
        0
    } else {
        errno::fail(code::ENAMETOOLONG)
    }
    })
}

/// `sethostname(2)`: `EPERM`, as for a container without `CAP_SYS_ADMIN`
/// (Docker's default): the host name is `kiln run --hostname`'s.
#[unsafe(no_mangle)]
pub extern "C" fn sethostname(name: *const c_char, len: usize) -> CInt {
    traced!("sethostname"(name, len) {
    errno::fail(code::EPERM)
    })
}
