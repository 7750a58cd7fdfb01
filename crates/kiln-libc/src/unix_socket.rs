//! Unix-domain stream sockets (`AF_UNIX`, `SOCK_STREAM`) on the library
//! OS's (`kiln_libos::fs::unix_*`): names in the guest's tree, connections
//! within the program. This file reads and writes `struct sockaddr_un` and
//! answers the socket calls `socket.rs` hands over for such descriptors
//! (and for `socketpair`'s ends, which are connected Unix-domain sockets).

use alloc::vec::Vec;
use core::ffi::c_void;

use kiln_libos::fs::{self, Errno, Result};

use crate::errno::code;

pub(crate) const AF_UNIX: u16 = 1;
/// `offsetof(struct sockaddr_un, sun_path)`.
const PATH_OFFSET: usize = 2;
/// `sizeof(struct sockaddr_un)`: the family and 108 bytes of path.
const SOCKADDR_UN_SIZE: usize = PATH_OFFSET + 108;
const SOL_SOCKET: i32 = 1;
const SO_TYPE: i32 = 3;
const SO_ERROR: i32 = 4;
const SOCK_STREAM: i32 = 1;

/// The path a `sockaddr_un` of `len` bytes names: up to its first NUL.
/// Unnamed (`len` 2, Linux's autobind) and abstract names (a NUL first)
/// are not supported (`EINVAL`, `ENOTSUP`).
///
/// # Safety
/// `addr` must be null or valid for `len` bytes.
pub(crate) unsafe fn read_path(addr: *const c_void, len: u32) -> Result<Vec<u8>> {
    if addr.is_null() {
        return Err(Errno(code::EFAULT));
    }
    let len = len as usize;
    if !(PATH_OFFSET..=SOCKADDR_UN_SIZE).contains(&len) {
        return Err(Errno(code::EINVAL));
    }
    // SAFETY: per the caller, `len` bytes are readable.
    let bytes = unsafe { core::slice::from_raw_parts(addr.cast::<u8>(), len) };
    if u16::from_ne_bytes([bytes[0], bytes[1]]) != AF_UNIX {
        return Err(Errno(code::EINVAL));
    }
    let path = &bytes[PATH_OFFSET..];
    match path.first() {
        None => Err(Errno(code::EINVAL)),
        Some(0) => Err(Errno(code::ENOTSUP)),
        Some(_) => {
            let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
            Ok(path[..end].to_vec())
        }
    }
}

/// Writes the name `path` (empty: unnamed) as a `sockaddr_un` into `addr`
/// of `*len` bytes, truncated as on Linux, and its full length to `*len`.
///
/// # Safety
/// `addr` must be null or valid for `*len` bytes; `len` null or valid.
pub(crate) unsafe fn write_name(addr: *mut c_void, len: *mut u32, path: &[u8]) {
    if addr.is_null() || len.is_null() {
        return;
    }
    let mut bytes = [0u8; SOCKADDR_UN_SIZE];
    bytes[..PATH_OFFSET].copy_from_slice(&AF_UNIX.to_ne_bytes());
    let path = &path[..path.len().min(SOCKADDR_UN_SIZE - PATH_OFFSET - 1)];
    bytes[PATH_OFFSET..PATH_OFFSET + path.len()].copy_from_slice(path);
    // Linux counts the terminating NUL of a name, and nothing for none.
    let size = PATH_OFFSET + path.len() + usize::from(!path.is_empty());
    // SAFETY: per the caller.
    let room = unsafe { len.read() } as usize;
    // SAFETY: `addr` holds `room` bytes, per the caller.
    unsafe {
        core::ptr::copy_nonoverlapping(bytes.as_ptr(), addr.cast::<u8>(), room.min(size));
        len.write(size as u32);
    }
}

/// Whether `fd` is a Unix-domain socket: one not connected yet, or a
/// connected one (a `socketpair` end, or a connection's).
pub(crate) fn is_unix(fd: i32) -> bool {
    fs::is_unix(fd) || fs::is_pair(fd)
}

/// `getsockopt(2)` on a Unix-domain socket: its type, and no pending
/// error (a connection is made, or refused, within `connect`).
pub(crate) fn option(level: i32, name: i32) -> Result<i32> {
    match (level, name) {
        (SOL_SOCKET, SO_TYPE) => Ok(SOCK_STREAM),
        (SOL_SOCKET, SO_ERROR) => Ok(0),
        _ => Err(Errno(code::ENOPROTOOPT)),
    }
}
