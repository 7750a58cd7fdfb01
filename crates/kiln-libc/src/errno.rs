//! `errno`, per thread, and the error values Linux uses.

use crate::CInt;
use crate::thread;

/// Linux error numbers the layer returns or names (in `strerror_r` and traces).
#[allow(missing_docs)]
pub mod code {
    pub const EPERM: i32 = 1;
    pub const ENOENT: i32 = 2;
    pub const EINTR: i32 = 4;
    pub const EBADF: i32 = 9;
    pub const ECHILD: i32 = 10;
    pub const EAGAIN: i32 = 11;
    pub const ENOMEM: i32 = 12;
    pub const ENODEV: i32 = 19;
    pub const EFAULT: i32 = 14;
    pub const EINVAL: i32 = 22;
    pub const EMFILE: i32 = 24;
    pub const ENOTTY: i32 = 25;
    pub const ESPIPE: i32 = 29;
    pub const ERANGE: i32 = 34;
    pub const ENOSYS: i32 = 38;
    pub const ETIMEDOUT: i32 = 110;
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
