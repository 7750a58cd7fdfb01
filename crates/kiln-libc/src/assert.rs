//! `assert.h`: `__assert_fail`, which a failed `assert` calls.

use alloc::vec::Vec;
use core::ffi::{CStr, c_char, c_uint};

use kiln_libos::platform;

use crate::string::bytes;

/// The program's short name (`argv[0]` after its last '/'), which
/// glibc's messages start with.
pub(crate) fn program_name() -> &'static [u8] {
    let boot = platform::boot_info();
    let argv = boot.argv.addr() as *const *const c_char;
    if boot.argc == 0 || argv.is_null() {
        return b"";
    }
    // SAFETY: the monitor's argv holds `argc` NUL-terminated strings,
    // which live as long as the program.
    let name = unsafe { CStr::from_ptr(*argv) }.to_bytes();
    name.rsplit(|&b| b == b'/').next().unwrap_or(name)
}

/// `__assert_fail`: glibc's message ("prog: file:line: function:
/// Assertion `expr' failed.") on standard error, then `abort`.
///
/// # Safety
/// `assertion` and `file` must be NUL-terminated strings; `function` too,
/// or null.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __assert_fail(
    assertion: *const c_char,
    file: *const c_char,
    line: c_uint,
    function: *const c_char,
) -> ! {
    let mut message = Vec::new();
    let program = program_name();
    if !program.is_empty() {
        message.extend_from_slice(program);
        message.extend_from_slice(b": ");
    }
    // SAFETY: per the caller.
    message.extend_from_slice(unsafe { bytes(file) });
    message.extend_from_slice(alloc::format!(":{line}: ").as_bytes());
    if !function.is_null() {
        // SAFETY: per the caller.
        message.extend_from_slice(unsafe { bytes(function) });
        message.extend_from_slice(b": ");
    }
    message.extend_from_slice(b"Assertion `");
    // SAFETY: per the caller.
    message.extend_from_slice(unsafe { bytes(assertion) });
    message.extend_from_slice(b"' failed.\n");
    crate::stdlib::write_stderr(&message);
    crate::stdlib::abort()
}
