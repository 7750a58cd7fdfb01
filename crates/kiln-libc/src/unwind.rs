//! Unwinding, and the dynamic-loader queries `dl_iterate_phdr` and `dlsym`.
//!
//! The `_Unwind_*` ABI (`_Unwind_RaiseException`, `_Unwind_Resume`,
//! `_Unwind_Backtrace`...) comes from the `unwinding` crate: a panic in a
//! `std` program unwinds as on Linux, so `catch_unwind` and a panicking
//! thread's `join` behave as there. It finds frames in the image's
//! `.eh_frame` through `__executable_start`, `__etext` and `__eh_frame`,
//! which Kiln's linker script defines.

use core::ffi::c_void;

use crate::CInt;

// Linked for its `#[no_mangle]` `_Unwind_*` functions.
use unwinding as _;

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
