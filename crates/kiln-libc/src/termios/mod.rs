//! `termios.h`: terminal settings (and `unistd.h`'s terminal names in
//! [`ttyname`]).
//!
//! A guest's descriptors are never terminals, except stdin when the boot
//! info says the host's stdin is one (`kiln run` from a terminal). Everything
//! else answers `ENOTTY` (or `EBADF`), as Linux does for a pipe or a file.
//! The terminal stdin is the host's and the monitor only passes its bytes
//! on: it stays in the mode the host gave it. So `tcgetattr` reports the
//! settings a new Linux pseudo-terminal has (cooked: line editing and echo by
//! the host), and `tcsetattr` accepts only those settings again; a change
//! (raw mode, echo off) would not happen, so it fails with `EPERM` rather
//! than pretend.

mod speed;
mod ttyname;

use crate::errno::code;
use kiln_libos::fs;

use crate::{CInt, errno};

pub use speed::{cfgetispeed, cfgetospeed, cfmakeraw, cfsetispeed, cfsetospeed, cfsetspeed};
pub use ttyname::{ttyname, ttyname_r};

/// glibc's x86_64 `struct termios` (60 bytes).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Termios {
    pub c_iflag: u32,
    pub c_oflag: u32,
    pub c_cflag: u32,
    pub c_lflag: u32,
    pub c_line: u8,
    pub c_cc: [u8; 32],
    pub c_ispeed: u32,
    pub c_ospeed: u32,
}

/// `struct winsize`, `TIOCGWINSZ`'s answer.
#[repr(C)]
pub struct WindowSize {
    pub rows: u16,
    pub columns: u16,
    pub x_pixels: u16,
    pub y_pixels: u16,
}

/// How many control characters the kernel keeps (`c_cc`'s first 19);
/// glibc clears the rest.
const KERNEL_NCCS: usize = 19;

/// A new Linux pseudo-terminal's settings (the kernel's `tty_std_termios`
/// with the pty driver's `B38400 | CS8 | CREAD`), what a terminal emulator
/// or ssh starts from: `ICRNL | IXON`, `OPOST | ONLCR`,
/// `ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN`, and
/// the control characters of `INIT_C_CC` (^C, ^\, DEL, ^U, ^D, ...).
const HOST_TERMINAL: Termios = {
    let mut c_cc = [0u8; 32];
    let init = *b"\x03\x1c\x7f\x15\x04\x00\x01\x00\x11\x13\x1a\x00\x12\x0f\x17\x16\x00";
    let mut i = 0;
    while i < init.len() {
        c_cc[i] = init[i];
        i += 1;
    }
    Termios {
        c_iflag: 0o400 | 0o2000,
        c_oflag: 0o1 | 0o4,
        c_cflag: speed::B38400 | 0o60 | 0o200,
        c_lflag: 0o1 | 0o2 | 0o10 | 0o20 | 0o40 | 0o1000 | 0o4000 | 0o100000,
        c_line: 0,
        c_cc,
        c_ispeed: speed::B38400,
        c_ospeed: speed::B38400,
    }
};

/// Succeeds if `fd` is a terminal: `ENOTTY` for any other open
/// descriptor, `EBADF` for a closed one, as the kernel's `ioctl` answers.
pub(crate) fn require_terminal(fd: CInt) -> fs::Result<()> {
    match fs::is_terminal(fd)? {
        true => Ok(()),
        false => Err(fs::Errno(code::ENOTTY)),
    }
}

/// The terminal's window size, for `ioctl(TIOCGWINSZ)`: the monitor is not
/// told the host terminal's size, so it is all zeros, as Linux reports for
/// a terminal whose size was never set (programs then use their defaults).
pub(crate) fn window_size(fd: CInt) -> fs::Result<WindowSize> {
    require_terminal(fd)?;
    Ok(WindowSize {
        rows: 0,
        columns: 0,
        x_pixels: 0,
        y_pixels: 0,
    })
}

/// `tcgetattr(3)`.
///
/// # Safety
/// `termios` must be valid for writing a `struct termios`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tcgetattr(fd: CInt, termios: *mut Termios) -> CInt {
    traced!("tcgetattr"(fd, termios) {
    if let Err(e) = require_terminal(fd) {
        return errno::fail(e.0);
    }
    // SAFETY: per the caller.
    unsafe { termios.write(HOST_TERMINAL) };
    0
    })
}

/// `tcsetattr(3)`: the settings `tcgetattr` reports are accepted (a
/// program restoring what it saved); any change is `EPERM` (see the
/// module's comment).
///
/// # Safety
/// `termios` must be valid for reading a `struct termios`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tcsetattr(
    fd: CInt,
    optional_actions: CInt,
    termios: *const Termios,
) -> CInt {
    traced!("tcsetattr"(fd, optional_actions, termios) {
    const TCSANOW: CInt = 0;
    const TCSAFLUSH: CInt = 2;
    // glibc checks the action before it asks the kernel.
    if !(TCSANOW..=TCSAFLUSH).contains(&optional_actions) {
        return errno::fail(code::EINVAL);
    }
    if let Err(e) = require_terminal(fd) {
        return errno::fail(e.0);
    }
    // SAFETY: per the caller.
    let asked = unsafe { termios.read() };
    if as_kernel_sees(&asked) == as_kernel_sees(&HOST_TERMINAL) {
        0
    } else {
        errno::fail(code::EPERM)
    }
    })
}

/// The part of a `struct termios` that glibc passes to the kernel: not
/// its own `IBAUD0` marker, nor the control characters past the kernel's.
fn as_kernel_sees(termios: &Termios) -> (u32, u32, u32, u32, u8, [u8; KERNEL_NCCS]) {
    let mut c_cc = [0; KERNEL_NCCS];
    c_cc.copy_from_slice(&termios.c_cc[..KERNEL_NCCS]);
    (
        termios.c_iflag & !speed::IBAUD0,
        termios.c_oflag,
        termios.c_cflag,
        termios.c_lflag,
        termios.c_line,
        c_cc,
    )
}

/// `tcflush(3)`: nothing the host terminal holds can be discarded from
/// the guest; the queue is checked as Linux checks it.
#[unsafe(no_mangle)]
pub extern "C" fn tcflush(fd: CInt, queue: CInt) -> CInt {
    traced!("tcflush"(fd, queue) {
    const TCIOFLUSH: CInt = 2;
    match require_terminal(fd) {
        Err(e) => errno::fail(e.0),
        Ok(()) if !(0..=TCIOFLUSH).contains(&queue) => errno::fail(code::EINVAL),
        Ok(()) => 0,
    }
    })
}

/// `tcdrain(3)`: console output is written by the time `write` returns.
#[unsafe(no_mangle)]
pub extern "C" fn tcdrain(fd: CInt) -> CInt {
    traced!("tcdrain"(fd) {
    errno::check(require_terminal(fd).map(|()| 0)) as CInt
    })
}
