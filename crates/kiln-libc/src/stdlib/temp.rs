//! `mkstemp` and `mkostemp`: a new file from a name template ending in
//! "XXXXXX".

use core::ffi::{c_char, c_int};

use kiln_libos::fs::flags::{AT_FDCWD, O_CREAT, O_EXCL, O_RDWR};

use crate::errno::{self, code};
use crate::string::bytes;

/// glibc's alphabet for the six letters.
const LETTERS: &[u8; 62] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// Names tried before giving up with `EEXIST`, as glibc.
const ATTEMPTS: u32 = 62 * 62 * 62;

/// `mkostemp(3)`: replaces the template's "XXXXXX" with random letters
/// until `open` creates a new file (mode 0600) with `flags` added.
/// `EINVAL` (template unchanged) if it does not end in "XXXXXX".
///
/// # Safety
/// `template` must be a writable NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mkostemp(template: *mut c_char, flags: c_int) -> c_int {
    traced!("mkostemp"(template, flags) {
    // SAFETY: per the caller.
    let len = unsafe { bytes(template) }.len();
    // SAFETY: as above.
    if len < 6 || !unsafe { bytes(template) }.ends_with(b"XXXXXX") {
        return errno::fail(code::EINVAL);
    }
    for _ in 0..ATTEMPTS {
        let random = kiln_libos::random::next();
        for i in 0..6 {
            let letter = LETTERS[(random >> (i * 8)) as usize % LETTERS.len()];
            // SAFETY: within the template's last six bytes.
            unsafe { template.add(len - 6 + i).write(letter as c_char) };
        }
        let mode = 0o600;
        // SAFETY: per the caller, a NUL-terminated path.
        let fd = unsafe {
            crate::fcntl::openat64(AT_FDCWD, template, flags | O_RDWR | O_CREAT | O_EXCL, mode)
        };
        if fd >= 0 || errno::get() != code::EEXIST {
            return fd;
        }
    }
    -1
    })
}

/// `mkstemp(3)`.
///
/// # Safety
/// As [`mkostemp`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mkstemp(template: *mut c_char) -> c_int {
    // SAFETY: per the caller.
    unsafe { mkostemp(template, 0) }
}
