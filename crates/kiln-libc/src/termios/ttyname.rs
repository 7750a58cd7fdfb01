//! `unistd.h`'s terminal names: `ttyname` and `ttyname_r`.
//!
//! The one terminal a guest can have, its stdin, is the host's: its device
//! (say `/dev/pts/3`) exists only on the host, not in the guest's `/dev`.
//! glibc answers `ENODEV` for a terminal it cannot find under `/dev`, as in
//! a container whose `/dev/pts` is not the terminal's, so that is the
//! answer here too; non-terminals are `ENOTTY` (or `EBADF`).

use core::ffi::c_char;

use crate::errno::code;

use super::require_terminal;
use crate::{CInt, errno};

/// `ttyname_r`'s answer, an error number, before any name could be written.
fn name_error(fd: CInt, buf: *mut c_char, len: usize) -> CInt {
    // glibc's order: the buffer (null, then shorter than "/dev/pts/"),
    // then whether `fd` is a terminal.
    if buf.is_null() {
        code::EINVAL
    } else if len < b"/dev/pts/\0".len() {
        code::ERANGE
    } else if let Err(e) = require_terminal(fd) {
        e.0
    } else {
        code::ENODEV
    }
}

/// `ttyname_r(3)`: returns the error number (and sets `errno` to it).
#[unsafe(no_mangle)]
pub extern "C" fn ttyname_r(fd: CInt, buf: *mut c_char, len: usize) -> CInt {
    traced!("ttyname_r"(fd, buf, len) {
    let error = name_error(fd, buf, len);
    errno::set(error);
    error
    })
}

/// `ttyname(3)`: null with `errno` set (there is never a name to return).
#[unsafe(no_mangle)]
pub extern "C" fn ttyname(fd: CInt) -> *mut c_char {
    traced!("ttyname"(fd) {
    let error = match require_terminal(fd) {
        Err(e) => e.0,
        Ok(()) => code::ENODEV,
    };
    errno::fail_null(error)
    })
}
