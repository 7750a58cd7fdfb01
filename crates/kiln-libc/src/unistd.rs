//! File-descriptor I/O. Descriptors 0-2 are the console; there are no files
//! yet, so every other descriptor is invalid (`EBADF`).

use core::ffi::{c_char, c_void};

use kiln_abi::hypercall::stream;
use kiln_libos::platform;

use crate::errno::{self, code};
use crate::{CInt, CLong, c_slice, c_slice_mut};

/// Linux's largest single read or write (`MAX_RW_COUNT`).
const MAX_TRANSFER: usize = 0x7fff_f000;

/// Whether `fd` is a console descriptor (0-2), the only ones there are.
pub(crate) fn is_console(fd: CInt) -> bool {
    (0..=2).contains(&fd)
}

/// The errno of a call the console does not support: `error` for a console
/// descriptor, `EBADF` for any other.
fn console_error(fd: CInt, error: CInt) -> CInt {
    if is_console(fd) { error } else { code::EBADF }
}

/// The console stream behind a descriptor, if it is one.
fn console_stream(fd: CInt) -> Option<u32> {
    match fd {
        1 => Some(stream::STDOUT),
        2 => Some(stream::STDERR),
        _ => None,
    }
}

/// `read(2)`: standard input is empty (end of file at once).
#[unsafe(no_mangle)]
pub extern "C" fn read(fd: CInt, _buf: *mut c_void, _count: usize) -> CLong {
    traced!("read"(fd) {
    match fd {
        0 => 0,
        _ => errno::fail(code::EBADF),
    }
    })
}

/// `write(2)`.
///
/// # Safety
/// `buf` must be valid for `count` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn write(fd: CInt, buf: *const c_void, count: usize) -> CLong {
    traced!("write"(fd, buf, count) {
    let Some(stream) = console_stream(fd) else {
        return errno::fail(code::EBADF);
    };
    // Linux caps one transfer the same way, so the count fits the result.
    let count = count.min(MAX_TRANSFER);
    // SAFETY: per the caller.
    let bytes = unsafe { c_slice(buf.cast::<u8>(), count) };
    platform::console_write(stream, bytes);
    count as CLong
    })
}

/// One element of a `writev` array (`struct iovec`).
#[repr(C)]
pub struct IoVec {
    base: *const c_void,
    len: usize,
}

/// `writev(2)`.
///
/// # Safety
/// `iov` must point to `count` valid `iovec`s.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn writev(fd: CInt, iov: *const IoVec, count: CInt) -> CLong {
    traced!("writev"(fd, iov, count) {
    if console_stream(fd).is_none() {
        return errno::fail(code::EBADF);
    }
    let Ok(count) = usize::try_from(count) else {
        return errno::fail(code::EINVAL);
    };
    let mut total: CLong = 0;
    // SAFETY: per the caller.
    for v in unsafe { c_slice(iov, count) } {
        if total as usize + v.len > MAX_TRANSFER {
            break;
        }
        // SAFETY: each iovec describes a valid buffer, per the caller.
        total += unsafe { write(fd, v.base, v.len) };
    }
    total
    })
}

/// `close(2)`: closing the console descriptors is accepted without effect
/// (they stay usable): nothing else can take their numbers yet.
#[unsafe(no_mangle)]
pub extern "C" fn close(fd: CInt) -> CInt {
    traced!("close"(fd) {
    match fd {
        0..=2 => 0,
        _ => errno::fail(code::EBADF),
    }
    })
}

/// `lseek64(2)`: the console cannot seek.
#[unsafe(no_mangle)]
pub extern "C" fn lseek64(fd: CInt, _offset: CLong, _whence: CInt) -> CLong {
    traced!("lseek64"(fd) {
    errno::fail(console_error(fd, code::ESPIPE))
    })
}

/// `isatty(3)`: the console is not a terminal the guest can control.
#[unsafe(no_mangle)]
pub extern "C" fn isatty(fd: CInt) -> CInt {
    traced!("isatty"(fd) {
    errno::set(console_error(fd, code::ENOTTY));
    0
    })
}

/// `getcwd(3)`: the working directory is `/`.
///
/// # Safety
/// `buf` must be null or valid for `size` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getcwd(buf: *mut c_char, size: usize) -> *mut c_char {
    traced!("getcwd"(buf, size) {
    let buf = if buf.is_null() {
        crate::malloc::malloc(size.max(2)).cast::<c_char>()
    } else if size == 0 {
        return errno::fail_null(code::EINVAL);
    } else if size < 2 {
        return errno::fail_null(code::ERANGE);
    } else {
        buf
    };
    if buf.is_null() {
        return buf;
    }
    // SAFETY: `buf` has room for at least two bytes.
    unsafe {
        buf.write(b'/' as c_char);
        buf.add(1).write(0);
    }
    buf
    })
}

/// `chdir(2)`: `/` is the only directory there is yet.
///
/// # Safety
/// `path` must be a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chdir(path: *const c_char) -> CInt {
    traced!("chdir"(path) {
    // SAFETY: per the caller.
    match unsafe { core::ffi::CStr::from_ptr(path) }.to_bytes() {
        b"/" => 0,
        _ => errno::fail(code::ENOENT),
    }
    })
}

/// `ioctl(2)`: the console has no terminal controls.
#[unsafe(no_mangle)]
pub extern "C" fn ioctl(fd: CInt, _request: u64, _arg: CLong) -> CInt {
    traced!("ioctl"(fd) {
    errno::fail(console_error(fd, code::ENOTTY))
    })
}

/// `pipe2(2)`: not yet (files and pipes come with the filesystem layer).
#[unsafe(no_mangle)]
pub extern "C" fn pipe2(_fds: *mut CInt, _flags: CInt) -> CInt {
    traced!("pipe2"() {
    errno::fail(code::ENOSYS)
    })
}

/// `readlink(2)`: there are no symbolic links (nor `/proc/self/exe`).
#[unsafe(no_mangle)]
pub extern "C" fn readlink(_path: *const c_char, _buf: *mut c_char, _size: usize) -> CLong {
    traced!("readlink"() {
    errno::fail(code::ENOENT)
    })
}

/// `dup(2)`: the console descriptors cannot be duplicated yet.
#[unsafe(no_mangle)]
pub extern "C" fn dup(fd: CInt) -> CInt {
    traced!("dup"(fd) {
    errno::fail(console_error(fd, code::EMFILE))
    })
}

/// `dup2(2)`: only the identity on the console descriptors.
#[unsafe(no_mangle)]
pub extern "C" fn dup2(old: CInt, new: CInt) -> CInt {
    traced!("dup2"(old, new) {
    if is_console(old) && old == new {
        return new;
    }
    errno::fail(console_error(old, code::EMFILE))
    })
}

/// `fcntl(2)`: descriptor and status flags of the console descriptors.
#[unsafe(no_mangle)]
pub extern "C" fn fcntl(fd: CInt, command: CInt, _arg: CLong) -> CInt {
    traced!("fcntl"(fd, command) {
    const F_GETFD: CInt = 1;
    const F_SETFD: CInt = 2;
    const F_GETFL: CInt = 3;
    const O_RDWR: CInt = 2;
    if !is_console(fd) {
        return errno::fail(code::EBADF);
    }
    match command {
        F_GETFD | F_SETFD => 0,
        F_GETFL => O_RDWR,
        _ => errno::fail(code::EINVAL),
    }
    })
}

/// `struct pollfd`.
#[repr(C)]
pub struct PollFd {
    fd: CInt,
    events: i16,
    revents: i16,
}

/// `poll(2)`: the console descriptors are valid; stdout and stderr are
/// always writable and stdin is always at end of file (readable). Other
/// descriptors are invalid. Nothing can become ready later, so a wait only
/// passes its timeout, and a wait without one blocks this thread for good.
///
/// # Safety
/// `fds` must point to `count` valid `pollfd`s.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn poll(fds: *mut PollFd, count: u64, timeout_ms: CInt) -> CInt {
    traced!("poll"(fds, count, timeout_ms) {
    const POLLIN: i16 = 1;
    const POLLOUT: i16 = 4;
    const POLLNVAL: i16 = 0x20;
    let Ok(count) = usize::try_from(count) else {
        return errno::fail(code::EINVAL);
    };
    let mut ready = 0;
    // SAFETY: per the caller.
    for p in unsafe { c_slice_mut(fds, count) } {
        p.revents = match p.fd {
            1 | 2 => p.events & POLLOUT,
            0 => p.events & POLLIN,
            fd if fd < 0 => 0,
            _ => POLLNVAL,
        };
        if p.revents != 0 {
            ready += 1;
        }
    }
    if ready == 0 && timeout_ms > 0 {
        kiln_libos::time::sleep(core::time::Duration::from_millis(timeout_ms as u64));
    } else if ready == 0 && timeout_ms < 0 {
        crate::signal::wait_forever()
    }
    ready
    })
}

/// `sysconf(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn sysconf(name: CInt) -> CLong {
    traced!("sysconf"(name) {
    const SC_CLK_TCK: CInt = 2;
    const SC_PAGESIZE: CInt = 30;
    const SC_NPROCESSORS_CONF: CInt = 83;
    const SC_NPROCESSORS_ONLN: CInt = 84;
    match name {
        SC_CLK_TCK => 100,
        SC_PAGESIZE => 4096,
        // One vCPU: `available_parallelism` is 1.
        SC_NPROCESSORS_CONF | SC_NPROCESSORS_ONLN => 1,
        _ => errno::fail(code::EINVAL),
    }
    })
}

/// `getauxval(3)`: the auxiliary vector a Linux kernel would pass.
#[unsafe(no_mangle)]
pub extern "C" fn getauxval(kind: u64) -> u64 {
    traced!("getauxval"(kind) {
    const AT_PAGESZ: u64 = 6;
    match kind {
        AT_PAGESZ => 4096,
        _ => {
            errno::set(code::ENOENT);
            0
        }
    }
    })
}
