//! Signals. A unikernel has no other processes and no terminal, so no
//! signal is ever delivered: installing handlers and alternate stacks (all
//! `std` does) is accepted and has no effect, and per-thread masks are only
//! recorded.

use core::ffi::c_void;

use crate::CInt;
use crate::errno::{self, code};

const SS_DISABLE: CInt = 2;

/// `sigaction(2)`: the old action reads as the default.
///
/// # Safety
/// `old` must be null or valid for a `struct sigaction` (152 bytes).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sigaction(_signal: CInt, _action: *const c_void, old: *mut u8) -> CInt {
    traced!("sigaction"(old) {
    if !old.is_null() {
        // SAFETY: per the caller.
        unsafe { old.write_bytes(0, 152) };
    }
    0
    })
}

/// `signal(2)`: the previous handler reads as `SIG_DFL`.
#[unsafe(no_mangle)]
pub extern "C" fn signal(_signal: CInt, _handler: usize) -> usize {
    traced!("signal"() {
    0
    })
}

/// `struct stack_t`.
#[repr(C)]
pub struct SignalStack {
    sp: *mut c_void,
    flags: CInt,
    size: usize,
}

/// `sigaltstack(2)`: the old stack reads as disabled.
///
/// # Safety
/// `old` must be null or valid for a `stack_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sigaltstack(_stack: *const SignalStack, old: *mut SignalStack) -> CInt {
    traced!("sigaltstack"(old) {
    if !old.is_null() {
        // SAFETY: per the caller.
        unsafe {
            old.write(SignalStack {
                sp: core::ptr::null_mut(),
                flags: SS_DISABLE,
                size: 0,
            })
        };
    }
    0
    })
}

/// `pause(2)`: waits for a signal, which never comes.
#[unsafe(no_mangle)]
pub extern "C" fn pause() -> CInt {
    wait_forever()
}

/// Blocks the calling thread for good, as a wait for a signal does here.
/// Other threads run on; if none can, the scheduler reports the deadlock
/// instead of idling the VM until it is killed.
pub(crate) fn wait_forever() -> ! {
    loop {
        kiln_libos::sched::wait(0, u64::MAX);
    }
}

/// `SIGRTMIN`, as glibc gives it (it keeps 32 and 33 for itself).
#[unsafe(no_mangle)]
pub extern "C" fn __libc_current_sigrtmin() -> CInt {
    34
}

/// `SIGRTMAX`.
#[unsafe(no_mangle)]
pub extern "C" fn __libc_current_sigrtmax() -> CInt {
    64
}

const SIG_BLOCK: CInt = 0;
const SIG_UNBLOCK: CInt = 1;
const SIG_SETMASK: CInt = 2;
const SIGKILL: u32 = 9;
const SIGSTOP: u32 = 19;
/// glibc's own signals (cancellation and `setxid`), which it never lets a
/// program block or send.
const SIGCANCEL: u32 = 32;
const SIGSETXID: u32 = 33;
/// The highest signal number.
const SIGNAL_MAX: CInt = 64;

/// The mask bit of signal `number`.
const fn bit(number: u32) -> u64 {
    1 << (number - 1)
}

/// Changes the calling thread's signal mask as `rt_sigprocmask(2)` does
/// (the kernel's 8-byte mask: the rest of a `sigset_t` is left alone).
///
/// # Safety
/// `set` and `old` null or valid for a `sigset_t`.
unsafe fn change_mask(how: CInt, set: *const u64, old: *mut u64) -> CInt {
    // SAFETY: the current thread's live TCB; only this thread uses its mask.
    let mask = unsafe { &mut (*crate::thread::current()).signal_mask };
    let previous = *mask;
    // SAFETY: per the caller.
    if let Some(&set) = unsafe { set.as_ref() } {
        let set = set & !(bit(SIGKILL) | bit(SIGSTOP) | bit(SIGCANCEL) | bit(SIGSETXID));
        *mask = match how {
            SIG_BLOCK => previous | set,
            SIG_UNBLOCK => previous & !set,
            SIG_SETMASK => set,
            _ => return code::EINVAL,
        };
    }
    if !old.is_null() {
        // SAFETY: per the caller.
        unsafe { old.write(previous) };
    }
    0
}

/// `pthread_sigmask(3)`: blocked signals are recorded per thread and read
/// back; none is ever delivered either way.
///
/// # Safety
/// `set` and `old` null or valid for a `sigset_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_sigmask(how: CInt, set: *const u64, old: *mut u64) -> CInt {
    // SAFETY: per the caller.
    unsafe { change_mask(how, set, old) }
}

/// `sigprocmask(2)`: the calling thread's mask, as on Linux.
///
/// # Safety
/// As for [`pthread_sigmask`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sigprocmask(how: CInt, set: *const u64, old: *mut u64) -> CInt {
    // SAFETY: per the caller.
    match unsafe { change_mask(how, set, old) } {
        0 => 0,
        error => errno::fail(error),
    }
}

/// `pthread_kill(3)`: signal 0 checks that the thread exists (a live
/// `pthread_t` always does); `EINVAL` for numbers Linux or glibc refuse;
/// any other signal `ENOSYS`, since Kiln delivers none.
#[unsafe(no_mangle)]
pub extern "C" fn pthread_kill(_thread: usize, signal: CInt) -> CInt {
    traced!("pthread_kill"(signal) {
    match signal {
        0 => 0,
        s if !(1..=SIGNAL_MAX).contains(&s) => code::EINVAL,
        s if s as u32 == SIGCANCEL || s as u32 == SIGSETXID => code::EINVAL,
        _ => code::ENOSYS,
    }
    })
}
