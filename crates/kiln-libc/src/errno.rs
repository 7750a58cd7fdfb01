//! `errno`, per thread, and the error values Linux uses.

use crate::thread;
use crate::{CInt, CLong};

/// Linux error numbers.
pub use kiln_abi::errno as code;

/// The errors the layer returns or names: number, symbolic name (for
/// `--trace-libc`) and glibc's message (for `strerror_r`).
const TABLE: &[(CInt, &str, &str)] = &[
    (code::EPERM, "EPERM", "Operation not permitted"),
    (code::ENOENT, "ENOENT", "No such file or directory"),
    (code::EINTR, "EINTR", "Interrupted system call"),
    (code::EIO, "EIO", "Input/output error"),
    (code::ENXIO, "ENXIO", "No such device or address"),
    (code::EBADF, "EBADF", "Bad file descriptor"),
    (code::ECHILD, "ECHILD", "No child processes"),
    (code::EAGAIN, "EAGAIN", "Resource temporarily unavailable"),
    (code::ENOMEM, "ENOMEM", "Cannot allocate memory"),
    (code::EACCES, "EACCES", "Permission denied"),
    (code::EFAULT, "EFAULT", "Bad address"),
    (code::EBUSY, "EBUSY", "Device or resource busy"),
    (code::EEXIST, "EEXIST", "File exists"),
    (code::EXDEV, "EXDEV", "Invalid cross-device link"),
    (code::ENODEV, "ENODEV", "No such device"),
    (code::ENOTDIR, "ENOTDIR", "Not a directory"),
    (code::EISDIR, "EISDIR", "Is a directory"),
    (code::EINVAL, "EINVAL", "Invalid argument"),
    (code::ENFILE, "ENFILE", "Too many open files in system"),
    (code::EMFILE, "EMFILE", "Too many open files"),
    (code::ENOTTY, "ENOTTY", "Inappropriate ioctl for device"),
    (code::EFBIG, "EFBIG", "File too large"),
    (code::ENOSPC, "ENOSPC", "No space left on device"),
    (code::ESPIPE, "ESPIPE", "Illegal seek"),
    (code::EROFS, "EROFS", "Read-only file system"),
    (code::EMLINK, "EMLINK", "Too many links"),
    (code::EPIPE, "EPIPE", "Broken pipe"),
    (code::ERANGE, "ERANGE", "Numerical result out of range"),
    (code::ENAMETOOLONG, "ENAMETOOLONG", "File name too long"),
    (code::ENOSYS, "ENOSYS", "Function not implemented"),
    (code::ENOTEMPTY, "ENOTEMPTY", "Directory not empty"),
    (code::ELOOP, "ELOOP", "Too many levels of symbolic links"),
    (
        code::EOVERFLOW,
        "EOVERFLOW",
        "Value too large for defined data type",
    ),
    (code::ENOTSUP, "EOPNOTSUPP", "Operation not supported"),
    (code::ETIMEDOUT, "ETIMEDOUT", "Connection timed out"),
    (code::ENOTSOCK, "ENOTSOCK", "Socket operation on non-socket"),
    (
        code::EDESTADDRREQ,
        "EDESTADDRREQ",
        "Destination address required",
    ),
    (code::EMSGSIZE, "EMSGSIZE", "Message too long"),
    (code::ENOPROTOOPT, "ENOPROTOOPT", "Protocol not available"),
    (
        code::EPROTONOSUPPORT,
        "EPROTONOSUPPORT",
        "Protocol not supported",
    ),
    (
        code::EAFNOSUPPORT,
        "EAFNOSUPPORT",
        "Address family not supported by protocol",
    ),
    (code::EADDRINUSE, "EADDRINUSE", "Address already in use"),
    (
        code::EADDRNOTAVAIL,
        "EADDRNOTAVAIL",
        "Cannot assign requested address",
    ),
    (code::ENETUNREACH, "ENETUNREACH", "Network is unreachable"),
    (code::ECONNRESET, "ECONNRESET", "Connection reset by peer"),
    (code::ENOBUFS, "ENOBUFS", "No buffer space available"),
    (
        code::EISCONN,
        "EISCONN",
        "Transport endpoint is already connected",
    ),
    (
        code::ENOTCONN,
        "ENOTCONN",
        "Transport endpoint is not connected",
    ),
    (code::ECONNREFUSED, "ECONNREFUSED", "Connection refused"),
    (code::EALREADY, "EALREADY", "Operation already in progress"),
    (
        code::EINPROGRESS,
        "EINPROGRESS",
        "Operation now in progress",
    ),
];

/// The symbolic name and glibc's message of an error number.
pub fn describe(value: CInt) -> Option<(&'static str, &'static str)> {
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
