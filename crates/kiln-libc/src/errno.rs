//! `errno`, per thread, and the error values Linux uses.

use crate::thread;
use crate::{CInt, CLong};

/// Linux error numbers.
pub use kiln_abi::errno as code;

/// The errors the layer returns or names: number and symbolic name (for
/// `--trace-libc`). Their messages are `string::messages`.
const TABLE: &[(CInt, &str)] = &[
    (code::EPERM, "EPERM"),
    (code::ENOENT, "ENOENT"),
    (code::ESRCH, "ESRCH"),
    (code::EINTR, "EINTR"),
    (code::EIO, "EIO"),
    (code::ENXIO, "ENXIO"),
    (code::EBADF, "EBADF"),
    (code::ECHILD, "ECHILD"),
    (code::EAGAIN, "EAGAIN"),
    (code::ENOMEM, "ENOMEM"),
    (code::EACCES, "EACCES"),
    (code::EFAULT, "EFAULT"),
    (code::EBUSY, "EBUSY"),
    (code::EEXIST, "EEXIST"),
    (code::EXDEV, "EXDEV"),
    (code::ENODEV, "ENODEV"),
    (code::ENOTDIR, "ENOTDIR"),
    (code::EISDIR, "EISDIR"),
    (code::EINVAL, "EINVAL"),
    (code::ENFILE, "ENFILE"),
    (code::EMFILE, "EMFILE"),
    (code::ENOTTY, "ENOTTY"),
    (code::EFBIG, "EFBIG"),
    (code::ENOSPC, "ENOSPC"),
    (code::ESPIPE, "ESPIPE"),
    (code::EROFS, "EROFS"),
    (code::EMLINK, "EMLINK"),
    (code::EPIPE, "EPIPE"),
    (code::EDOM, "EDOM"),
    (code::ERANGE, "ERANGE"),
    (code::EDEADLK, "EDEADLK"),
    (code::ENAMETOOLONG, "ENAMETOOLONG"),
    (code::ENOSYS, "ENOSYS"),
    (code::ENOTEMPTY, "ENOTEMPTY"),
    (code::ELOOP, "ELOOP"),
    (code::EOVERFLOW, "EOVERFLOW"),
    (code::EILSEQ, "EILSEQ"),
    (code::ENOTSUP, "EOPNOTSUPP"),
    (code::ETIMEDOUT, "ETIMEDOUT"),
    (code::ENOTSOCK, "ENOTSOCK"),
    (code::EDESTADDRREQ, "EDESTADDRREQ"),
    (code::EMSGSIZE, "EMSGSIZE"),
    (code::ENOPROTOOPT, "ENOPROTOOPT"),
    (code::EPROTONOSUPPORT, "EPROTONOSUPPORT"),
    (code::EAFNOSUPPORT, "EAFNOSUPPORT"),
    (code::EADDRINUSE, "EADDRINUSE"),
    (code::EADDRNOTAVAIL, "EADDRNOTAVAIL"),
    (code::ENETUNREACH, "ENETUNREACH"),
    (code::ECONNRESET, "ECONNRESET"),
    (code::ENOBUFS, "ENOBUFS"),
    (code::EISCONN, "EISCONN"),
    (code::ENOTCONN, "ENOTCONN"),
    (code::ECONNREFUSED, "ECONNREFUSED"),
    (code::EALREADY, "EALREADY"),
    (code::EINPROGRESS, "EINPROGRESS"),
];

/// The symbolic name of an error number.
pub fn name(value: CInt) -> Option<&'static str> {
    TABLE
        .iter()
        .find(|(number, _)| *number == value)
        .map(|&(_, name)| name)
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
