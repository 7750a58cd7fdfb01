//! `errno`, per thread, and the error values Linux uses.

use crate::thread;
use crate::{CInt, CLong};

/// Linux error numbers.
pub use kiln_abi::errno as code;

/// The errors the layer returns or names: number and symbolic name (for
/// `--trace-libc`). Their messages are `string::messages`.
macro_rules! names {
    ($(($number:ident, $name:literal)),* $(,)?) => {
        /// The numbers (all below 256), in the order of [`NAMES`].
        const NUMBERS: &[u8] = &[$(code::$number as u8),*];
        /// Their names, each ended by a NUL: one string rather than a
        /// table of numbers, pointers and lengths.
        const NAMES: &str = concat!($($name, "\0"),*);
    };
}

names! {
    (EPERM, "EPERM"),
    (ENOENT, "ENOENT"),
    (ESRCH, "ESRCH"),
    (EINTR, "EINTR"),
    (EIO, "EIO"),
    (ENXIO, "ENXIO"),
    (EBADF, "EBADF"),
    (ECHILD, "ECHILD"),
    (EAGAIN, "EAGAIN"),
    (ENOMEM, "ENOMEM"),
    (EACCES, "EACCES"),
    (EFAULT, "EFAULT"),
    (EBUSY, "EBUSY"),
    (EEXIST, "EEXIST"),
    (EXDEV, "EXDEV"),
    (ENODEV, "ENODEV"),
    (ENOTDIR, "ENOTDIR"),
    (EISDIR, "EISDIR"),
    (EINVAL, "EINVAL"),
    (ENFILE, "ENFILE"),
    (EMFILE, "EMFILE"),
    (ENOTTY, "ENOTTY"),
    (EFBIG, "EFBIG"),
    (ENOSPC, "ENOSPC"),
    (ESPIPE, "ESPIPE"),
    (EROFS, "EROFS"),
    (EMLINK, "EMLINK"),
    (EPIPE, "EPIPE"),
    (EDOM, "EDOM"),
    (ERANGE, "ERANGE"),
    (EDEADLK, "EDEADLK"),
    (ENAMETOOLONG, "ENAMETOOLONG"),
    (ENOSYS, "ENOSYS"),
    (ENOTEMPTY, "ENOTEMPTY"),
    (ELOOP, "ELOOP"),
    (EOVERFLOW, "EOVERFLOW"),
    (EILSEQ, "EILSEQ"),
    (ENOTSUP, "EOPNOTSUPP"),
    (ETIMEDOUT, "ETIMEDOUT"),
    (ENOTSOCK, "ENOTSOCK"),
    (EDESTADDRREQ, "EDESTADDRREQ"),
    (EMSGSIZE, "EMSGSIZE"),
    (ENOPROTOOPT, "ENOPROTOOPT"),
    (EPROTONOSUPPORT, "EPROTONOSUPPORT"),
    (EAFNOSUPPORT, "EAFNOSUPPORT"),
    (EADDRINUSE, "EADDRINUSE"),
    (EADDRNOTAVAIL, "EADDRNOTAVAIL"),
    (ENETUNREACH, "ENETUNREACH"),
    (ECONNRESET, "ECONNRESET"),
    (ENOBUFS, "ENOBUFS"),
    (EISCONN, "EISCONN"),
    (ENOTCONN, "ENOTCONN"),
    (ECONNREFUSED, "ECONNREFUSED"),
    (EALREADY, "EALREADY"),
    (EINPROGRESS, "EINPROGRESS"),
}

/// The symbolic name of an error number.
pub fn name(value: CInt) -> Option<&'static str> {
    let index = NUMBERS.iter().position(|&n| CInt::from(n) == value)?;
    core::str::from_utf8(entry(NAMES.as_bytes(), index)?).ok()
}

/// Entry `index` of `list`, strings each ended by a NUL (none past its
/// end): the string without its NUL, which follows it in memory.
pub(crate) fn entry(list: &'static [u8], index: usize) -> Option<&'static [u8]> {
    let mut rest = list;
    for _ in 0..index {
        rest = rest.get(rest.iter().position(|&b| b == 0)? + 1..)?;
    }
    rest.get(..rest.iter().position(|&b| b == 0)?)
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
