//! The `_Unwind_*` symbols, and the dynamic-loader queries `dl_iterate_phdr`
//! and `dlsym`.
//!
//! Kiln programs are built with `panic = "abort"`, so nothing unwinds; `std`
//! still references these for its backtrace printer. A backtrace from here
//! is empty; the monitor prints the real one, from outside, when the program
//! aborts.

use core::ffi::c_void;

use crate::CInt;

const URC_END_OF_STACK: CInt = 5;

/// `_Unwind_Backtrace`: reports the end of the stack at once.
#[unsafe(no_mangle)]
pub extern "C" fn _Unwind_Backtrace(_trace: *const c_void, _arg: *mut c_void) -> CInt {
    URC_END_OF_STACK
}

/// `_Unwind_Resume`: unwinding never starts, so this is never reached.
#[unsafe(no_mangle)]
pub extern "C" fn _Unwind_Resume(_exception: *mut c_void) -> ! {
    crate::stdlib::abort()
}

macro_rules! zero_getters {
    ($($name:ident),* $(,)?) => {
        $(
            /// A context query of an unwinder that never runs: zero.
            #[unsafe(no_mangle)]
            pub extern "C" fn $name(_context: *mut c_void) -> usize {
                0
            }
        )*
    };
}

zero_getters!(
    _Unwind_GetIP,
    _Unwind_GetDataRelBase,
    _Unwind_GetTextRelBase,
    _Unwind_GetLanguageSpecificData,
    _Unwind_GetRegionStart,
    _Unwind_GetCFA,
);

/// `_Unwind_GetIPInfo`.
///
/// # Safety
/// `before` must be null or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _Unwind_GetIPInfo(_context: *mut c_void, before: *mut CInt) -> usize {
    if !before.is_null() {
        // SAFETY: a non-null out-parameter from the caller.
        unsafe { before.write(0) };
    }
    0
}

/// `_Unwind_SetGR`: nothing to set.
#[unsafe(no_mangle)]
pub extern "C" fn _Unwind_SetGR(_context: *mut c_void, _index: CInt, _value: usize) {}

/// `_Unwind_SetIP`: nothing to set.
#[unsafe(no_mangle)]
pub extern "C" fn _Unwind_SetIP(_context: *mut c_void, _value: usize) {}

/// `dl_iterate_phdr(3)`: no shared objects to report.
#[unsafe(no_mangle)]
pub extern "C" fn dl_iterate_phdr(_callback: *const c_void, _data: *mut c_void) -> CInt {
    0
}

/// `dlsym(3)`: a static image has no dynamic symbols. `std` looks up a few
/// optional glibc functions this way and uses its fallback when they are
/// missing.
#[unsafe(no_mangle)]
pub extern "C" fn dlsym(_handle: *mut c_void, _name: *const core::ffi::c_char) -> *mut c_void {
    core::ptr::null_mut()
}
