//! `cfmakeraw` and the `cf*speed` functions: pure edits of a
//! `struct termios`, glibc's (`sysdeps/unix/sysv/linux/speed.c`) bit for bit.

use crate::errno::code;

use super::Termios;
use crate::{CInt, errno};

pub(super) const B38400: u32 = 0o17;
const B57600: u32 = 0o10001;
/// The highest speed code, `B4000000`.
const MAX_BAUD: u32 = 0o10017;
const CBAUD: u32 = 0o10017;
const CBAUDEX: u32 = 0o10000;
/// glibc's marker for "input speed 0" (same as the output speed), a bit of
/// `c_iflag` the kernel does not use; `tcsetattr` clears it.
pub(super) const IBAUD0: u32 = 0o20000000000;

// glibc 2.42 gave the speed functions new semantics under a new symbol
// version, so the `libc` crate names the original ones with their version
// (`cfgetispeed@GLIBC_2.2.5`): these are those, under both names (the
// linker takes a defined `name@VERSION` as `name` in a static program).
core::arch::global_asm!(
    ".globl \"cfgetispeed@GLIBC_2.2.5\"",
    ".set \"cfgetispeed@GLIBC_2.2.5\", cfgetispeed",
    ".globl \"cfgetospeed@GLIBC_2.2.5\"",
    ".set \"cfgetospeed@GLIBC_2.2.5\", cfgetospeed",
    ".globl \"cfsetispeed@GLIBC_2.2.5\"",
    ".set \"cfsetispeed@GLIBC_2.2.5\", cfsetispeed",
    ".globl \"cfsetospeed@GLIBC_2.2.5\"",
    ".set \"cfsetospeed@GLIBC_2.2.5\", cfsetospeed",
    ".globl \"cfsetspeed@GLIBC_2.2.5\"",
    ".set \"cfsetspeed@GLIBC_2.2.5\", cfsetspeed",
);

/// `speed` is a speed code (`B0`... `B4000000`).
fn is_speed_code(speed: u32) -> bool {
    speed & !CBAUD == 0 || (B57600..=MAX_BAUD).contains(&speed)
}

/// `cfgetospeed(3)`.
///
/// # Safety
/// `termios` must be valid for reading a `struct termios`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cfgetospeed(termios: *const Termios) -> u32 {
    // SAFETY: per the caller.
    unsafe { (*termios).c_cflag & (CBAUD | CBAUDEX) }
}

/// `cfgetispeed(3)`.
///
/// # Safety
/// `termios` must be valid for reading a `struct termios`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cfgetispeed(termios: *const Termios) -> u32 {
    // SAFETY: per the caller.
    let termios = unsafe { &*termios };
    if termios.c_iflag & IBAUD0 != 0 {
        0
    } else {
        termios.c_cflag & (CBAUD | CBAUDEX)
    }
}

/// `cfsetospeed(3)`.
///
/// # Safety
/// `termios` must be valid for reading and writing a `struct termios`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cfsetospeed(termios: *mut Termios, speed: u32) -> CInt {
    if !is_speed_code(speed) {
        return errno::fail(code::EINVAL);
    }
    // SAFETY: per the caller.
    let termios = unsafe { &mut *termios };
    termios.c_ospeed = speed;
    termios.c_cflag = (termios.c_cflag & !(CBAUD | CBAUDEX)) | speed;
    0
}

/// `cfsetispeed(3)`: 0 means "as the output speed" (glibc's `IBAUD0`).
///
/// # Safety
/// `termios` must be valid for reading and writing a `struct termios`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cfsetispeed(termios: *mut Termios, speed: u32) -> CInt {
    if !is_speed_code(speed) {
        return errno::fail(code::EINVAL);
    }
    // SAFETY: per the caller.
    let termios = unsafe { &mut *termios };
    termios.c_ispeed = speed;
    if speed == 0 {
        termios.c_iflag |= IBAUD0;
    } else {
        termios.c_iflag &= !IBAUD0;
        termios.c_cflag = (termios.c_cflag & !(CBAUD | CBAUDEX)) | speed;
    }
    0
}

/// Bits per second and their speed codes, in glibc's order (`cfsetspeed`
/// takes either, the first match winning).
const SPEEDS: [(u32, u32); 31] = [
    (0, 0),
    (50, 0o1),
    (75, 0o2),
    (110, 0o3),
    (134, 0o4),
    (150, 0o5),
    (200, 0o6),
    (300, 0o7),
    (600, 0o10),
    (1200, 0o11),
    (1800, 0o12),
    (2400, 0o13),
    (4800, 0o14),
    (9600, 0o15),
    (19200, 0o16),
    (38400, 0o17),
    (57600, 0o10001),
    (115200, 0o10002),
    (230400, 0o10003),
    (460800, 0o10004),
    (500000, 0o10005),
    (576000, 0o10006),
    (921600, 0o10007),
    (1000000, 0o10010),
    (1152000, 0o10011),
    (1500000, 0o10012),
    (2000000, 0o10013),
    (2500000, 0o10014),
    (3000000, 0o10015),
    (3500000, 0o10016),
    (4000000, 0o10017),
];

/// `cfsetspeed(3)`: a speed code or a number of bits per second.
///
/// # Safety
/// `termios` must be valid for reading and writing a `struct termios`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cfsetspeed(termios: *mut Termios, speed: u32) -> CInt {
    let Some(code) = SPEEDS.iter().find_map(|&(bits_per_second, code)| {
        (speed == code || speed == bits_per_second).then_some(code)
    }) else {
        return errno::fail(code::EINVAL);
    };
    // SAFETY: per the caller; both accept any speed code.
    unsafe {
        cfsetispeed(termios, code);
        cfsetospeed(termios, code);
    }
    0
}

/// `cfmakeraw(3)`: no input processing, 8-bit characters, no echo, no
/// signals, reads return each byte.
///
/// # Safety
/// `termios` must be valid for reading and writing a `struct termios`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cfmakeraw(termios: *mut Termios) {
    const VTIME: usize = 5;
    const VMIN: usize = 6;
    // IGNBRK BRKINT PARMRK ISTRIP INLCR IGNCR ICRNL IXON
    const RAW_IFLAG_OFF: u32 = 0o1 | 0o2 | 0o10 | 0o40 | 0o100 | 0o200 | 0o400 | 0o2000;
    const OPOST: u32 = 0o1;
    // ECHO ECHONL ICANON ISIG IEXTEN
    const RAW_LFLAG_OFF: u32 = 0o10 | 0o100 | 0o2 | 0o1 | 0o100000;
    const CSIZE: u32 = 0o60;
    const PARENB: u32 = 0o400;
    const CS8: u32 = 0o60;
    // SAFETY: per the caller.
    let termios = unsafe { &mut *termios };
    termios.c_iflag &= !RAW_IFLAG_OFF;
    termios.c_oflag &= !OPOST;
    termios.c_lflag &= !RAW_LFLAG_OFF;
    termios.c_cflag = (termios.c_cflag & !(CSIZE | PARENB)) | CS8;
    termios.c_cc[VMIN] = 1;
    termios.c_cc[VTIME] = 0;
}
