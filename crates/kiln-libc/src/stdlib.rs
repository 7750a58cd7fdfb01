//! The environment, `abort` and `exit`.

use core::ffi::c_char;
use core::sync::atomic::{AtomicPtr, Ordering};

use kiln_libos::{console, platform};

use crate::CInt;

/// C's `environ`: `KEY=VALUE` strings, null-terminated. `std` reads it
/// directly.
#[unsafe(no_mangle)]
pub static environ: AtomicPtr<*const c_char> = AtomicPtr::new(core::ptr::null_mut());

pub(crate) fn set_environ(envp: *const *const c_char) {
    environ.store(envp.cast_mut(), Ordering::Relaxed);
}

/// `getenv(3)`.
///
/// # Safety
/// `name` must be a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getenv(name: *const c_char) -> *mut c_char {
    // SAFETY: per the caller.
    let name = unsafe { core::ffi::CStr::from_ptr(name) }.to_bytes();
    let mut entry = environ.load(Ordering::Relaxed);
    if entry.is_null() {
        return core::ptr::null_mut();
    }
    // SAFETY: `environ` is a null-terminated array of NUL-terminated strings.
    unsafe {
        while !(*entry).is_null() {
            let text = core::ffi::CStr::from_ptr(*entry).to_bytes();
            if text.len() > name.len() && text.starts_with(name) && text[name.len()] == b'=' {
                return (*entry).add(name.len() + 1).cast_mut();
            }
            entry = entry.add(1);
        }
    }
    core::ptr::null_mut()
}

/// `abort(3)`: reported to the monitor as a crash, with a backtrace.
#[unsafe(no_mangle)]
pub extern "C" fn abort() -> ! {
    console::flush();
    platform::report_panic(b"the program called abort()")
}

/// `exit(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn exit(status: CInt) -> ! {
    console::flush();
    platform::exit(status)
}

/// `_exit(2)`.
#[unsafe(no_mangle)]
pub extern "C" fn _exit(status: CInt) -> ! {
    exit(status)
}
