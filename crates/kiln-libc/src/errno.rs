//! `errno`, per thread, and the error values Linux uses.

use core::ffi::CStr;

use crate::thread;
use crate::{CInt, CLong};

/// Linux error numbers.
pub use kiln_abi::errno as code;

/// The errors the layer returns or names: number, symbolic name (for
/// `--trace-libc`) and glibc's message (for `strerror_r`).
const TABLE: &[(CInt, &str, &CStr)] = &[
    (code::EPERM, "EPERM", c"Operation not permitted"),
    (code::ENOENT, "ENOENT", c"No such file or directory"),
    (code::EINTR, "EINTR", c"Interrupted system call"),
    (code::EIO, "EIO", c"Input/output error"),
    (code::EBADF, "EBADF", c"Bad file descriptor"),
    (code::ECHILD, "ECHILD", c"No child processes"),
    (code::EAGAIN, "EAGAIN", c"Resource temporarily unavailable"),
    (code::ENOMEM, "ENOMEM", c"Cannot allocate memory"),
    (code::EACCES, "EACCES", c"Permission denied"),
    (code::EFAULT, "EFAULT", c"Bad address"),
    (code::EBUSY, "EBUSY", c"Device or resource busy"),
    (code::EEXIST, "EEXIST", c"File exists"),
    (code::EXDEV, "EXDEV", c"Invalid cross-device link"),
    (code::ENODEV, "ENODEV", c"No such device"),
    (code::ENOTDIR, "ENOTDIR", c"Not a directory"),
    (code::EISDIR, "EISDIR", c"Is a directory"),
    (code::EINVAL, "EINVAL", c"Invalid argument"),
    (code::ENFILE, "ENFILE", c"Too many open files in system"),
    (code::EMFILE, "EMFILE", c"Too many open files"),
    (code::ENOTTY, "ENOTTY", c"Inappropriate ioctl for device"),
    (code::EFBIG, "EFBIG", c"File too large"),
    (code::ENOSPC, "ENOSPC", c"No space left on device"),
    (code::ESPIPE, "ESPIPE", c"Illegal seek"),
    (code::EROFS, "EROFS", c"Read-only file system"),
    (code::EMLINK, "EMLINK", c"Too many links"),
    (code::EPIPE, "EPIPE", c"Broken pipe"),
    (code::EDOM, "EDOM", c"Numerical argument out of domain"),
    (code::ERANGE, "ERANGE", c"Numerical result out of range"),
    (code::ENAMETOOLONG, "ENAMETOOLONG", c"File name too long"),
    (code::ENOSYS, "ENOSYS", c"Function not implemented"),
    (code::ENOTEMPTY, "ENOTEMPTY", c"Directory not empty"),
    (code::ELOOP, "ELOOP", c"Too many levels of symbolic links"),
    (
        code::EOVERFLOW,
        "EOVERFLOW",
        c"Value too large for defined data type",
    ),
    (code::ENOTSUP, "EOPNOTSUPP", c"Operation not supported"),
    (code::ETIMEDOUT, "ETIMEDOUT", c"Connection timed out"),
    (
        code::ENOTSOCK,
        "ENOTSOCK",
        c"Socket operation on non-socket",
    ),
    (
        code::EDESTADDRREQ,
        "EDESTADDRREQ",
        c"Destination address required",
    ),
    (code::EMSGSIZE, "EMSGSIZE", c"Message too long"),
    (code::ENOPROTOOPT, "ENOPROTOOPT", c"Protocol not available"),
    (
        code::EPROTONOSUPPORT,
        "EPROTONOSUPPORT",
        c"Protocol not supported",
    ),
    (
        code::EAFNOSUPPORT,
        "EAFNOSUPPORT",
        c"Address family not supported by protocol",
    ),
    (code::EADDRINUSE, "EADDRINUSE", c"Address already in use"),
    (
        code::EADDRNOTAVAIL,
        "EADDRNOTAVAIL",
        c"Cannot assign requested address",
    ),
    (code::ENETUNREACH, "ENETUNREACH", c"Network is unreachable"),
    (code::ECONNRESET, "ECONNRESET", c"Connection reset by peer"),
    (code::ENOBUFS, "ENOBUFS", c"No buffer space available"),
    (
        code::EISCONN,
        "EISCONN",
        c"Transport endpoint is already connected",
    ),
    (
        code::ENOTCONN,
        "ENOTCONN",
        c"Transport endpoint is not connected",
    ),
    (code::ECONNREFUSED, "ECONNREFUSED", c"Connection refused"),
    (code::EALREADY, "EALREADY", c"Operation already in progress"),
    (
        code::EINPROGRESS,
        "EINPROGRESS",
        c"Operation now in progress",
    ),
];

/// The symbolic name and glibc's message of an error number.
pub fn describe(value: CInt) -> Option<(&'static str, &'static CStr)> {
    TABLE
        .iter()
        .find(|(number, _, _)| *number == value)
        .map(|&(_, name, message)| (name, message))
}

/// glibc's accessor for the calling thread's `errno`.
#[unsafe(no_mangle)]
pub extern "C" fn __errno_location() -> *mut CInt {
    thread::current_errno()
}

/// Sets `errno`.
pub fn set(value: CInt) {
    // SAFETY: the pointer is the current thread's errno slot, valid for the
    // thread's whole life.
    unsafe { *thread::current_errno() = value };
}

/// Sets `errno` and returns the C failure value `-1`.
pub fn fail<T: From<i8>>(value: CInt) -> T {
    set(value);
    T::from(-1)
}

/// Reads `errno`.
pub fn get() -> CInt {
    // SAFETY: as in `set`.
    unsafe { *thread::current_errno() }
}

/// Sets `errno` and returns null, the failure value of pointer functions.
pub fn fail_null<T>(value: CInt) -> *mut T {
    set(value);
    core::ptr::null_mut()
}

/// A library OS result as C sees it: the value, or `-1` with `errno` set.
pub fn check<T: TryInto<CLong>>(result: kiln_libos::fs::Result<T>) -> CLong {
    match result {
        Ok(value) => value.try_into().unwrap_or(CLong::MAX),
        Err(kiln_libos::fs::Errno(value)) => fail(value),
    }
}
