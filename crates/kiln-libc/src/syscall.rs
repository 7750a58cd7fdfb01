//! `syscall(2)`: the raw entry `std` uses for `futex`, `getrandom`, `gettid`
//! and `statx` on Linux, and rustix for `renameat2` (when `dlsym` could
//! not find it, as with glibc before 2.28).
//!
//! The C declaration is variadic; on x86_64 a variadic callee receives its
//! integer arguments in the same registers as a fixed one, so six `long`
//! parameters read them correctly on stable Rust.

use core::ffi::{c_char, c_uint};
use core::sync::atomic::{AtomicU32, Ordering};

use kiln_libos::time::Instant;

use crate::errno::{self, code};
use crate::time::Timespec;
use crate::{CInt, CLong, futex};

const SYS_GETTID: CLong = 186;
const SYS_FUTEX: CLong = 202;
const SYS_RENAMEAT2: CLong = 316;
const SYS_GETRANDOM: CLong = 318;

const FUTEX_WAIT: CLong = 0;
const FUTEX_WAKE: CLong = 1;
const FUTEX_WAIT_BITSET: CLong = 9;
const FUTEX_WAKE_BITSET: CLong = 10;
const FUTEX_COMMAND_MASK: CLong = 0x7f;
const FUTEX_CLOCK_REALTIME: CLong = 256;

/// `syscall(2)`.
///
/// # Safety
/// The arguments must be valid for the call `number` names.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn syscall(
    number: CLong,
    a1: CLong,
    a2: CLong,
    a3: CLong,
    a4: CLong,
    a5: CLong,
    _a6: CLong,
) -> CLong {
    traced!("syscall"(number, a1, a2, a3, a4) {
    match number {
        SYS_GETTID => CLong::from(crate::process::gettid()),
        // SAFETY: per the caller.
        SYS_FUTEX => unsafe { futex(a1 as *const u32, a2, a3 as u32, a4 as *const Timespec) },
        // SAFETY: per the caller.
        SYS_GETRANDOM => unsafe { getrandom(a1 as *mut u8, a2 as usize, a3 as CInt) },
        // SAFETY: per the caller.
        SYS_RENAMEAT2 => CLong::from(unsafe {
            crate::stdio::renameat2(
                a1 as CInt,
                a2 as *const c_char,
                a3 as CInt,
                a4 as *const c_char,
                a5 as c_uint,
            )
        }),
        // statx and everything else: std falls back to older calls on ENOSYS.
        _ => errno::fail(code::ENOSYS),
    }
    })
}

/// Futex wait and wake, on the C library's [`futex`](crate::futex) layer.
///
/// # Safety
/// `addr` must be valid for a read; `timeout` null or valid.
unsafe fn futex(addr: *const u32, op: CLong, value: u32, timeout: *const Timespec) -> CLong {
    let realtime = op & FUTEX_CLOCK_REALTIME != 0;
    if realtime && op & FUTEX_COMMAND_MASK != FUTEX_WAIT_BITSET {
        // As Linux: only the absolute wait can be on the wall clock.
        return errno::fail(code::ENOSYS);
    }
    match op & FUTEX_COMMAND_MASK {
        FUTEX_WAKE | FUTEX_WAKE_BITSET => futex::wake(addr.cast(), value as usize) as CLong,
        command @ (FUTEX_WAIT | FUTEX_WAIT_BITSET) => {
            // SAFETY: per the caller, a valid, aligned u32 that other threads
            // access only atomically (as futex words are).
            let word = unsafe { AtomicU32::from_ptr(addr.cast_mut()) };
            if word.load(Ordering::SeqCst) != value {
                return errno::fail(code::EAGAIN);
            }
            let deadline = if timeout.is_null() {
                futex::FOREVER
            } else {
                // SAFETY: per the caller.
                let Some(span) = (unsafe { &*timeout }).to_duration() else {
                    return errno::fail(code::EINVAL);
                };
                // FUTEX_WAIT takes a relative timeout; FUTEX_WAIT_BITSET an
                // absolute one on CLOCK_MONOTONIC (zero at boot here), or on
                // CLOCK_REALTIME with the flag.
                let span = u64::try_from(span.as_nanos()).unwrap_or(u64::MAX);
                if command == FUTEX_WAIT {
                    Instant::now().as_nanos_since_boot().saturating_add(span)
                } else if realtime {
                    futex::boot_nanos_of_wall(span)
                } else {
                    span
                }
            };
            match futex::wait(word, value, deadline) {
                Ok(()) => 0,
                Err(futex::TimedOut) => errno::fail(code::ETIMEDOUT),
            }
        }
        _ => errno::fail(code::ENOSYS),
    }
}

/// `getrandom(2)`'s flags: `GRND_NONBLOCK`, `GRND_RANDOM`, `GRND_INSECURE`.
const GRND_ALL: CInt = 1 | 2 | 4;

/// `getrandom(2)`, also glibc's function of that name (which `dlsym` finds
/// for the `getrandom` crate). Unknown flags are `EINVAL`.
///
/// # Safety
/// `buf` must be valid for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getrandom(buf: *mut u8, len: usize, flags: CInt) -> CLong {
    if flags & !GRND_ALL != 0 {
        return errno::fail(code::EINVAL);
    }
    // SAFETY: per the caller.
    let out = unsafe { crate::c_slice_mut(buf, len) };
    kiln_libos::random::fill(out);
    len as CLong
}
