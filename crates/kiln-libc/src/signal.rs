//! Signals. A unikernel has no other processes and no terminal, so the
//! only signals are those the program raises itself: handlers installed
//! with `sigaction` or `signal` are recorded, and `raise` runs them (or
//! the default action) synchronously; per-thread masks are recorded.
//! Alternate stacks are accepted and never used.

use core::ffi::c_void;
use core::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

use crate::CInt;
use crate::errno::{self, code};

const SS_DISABLE: CInt = 2;

/// Handler values with a meaning of their own.
const SIG_DFL: usize = 0;
const SIG_IGN: usize = 1;
const SIG_ERR: usize = usize::MAX;

/// `sa_flags` bits.
const SA_SIGINFO: CInt = 4;
const SA_RESETHAND: CInt = 0x8000_0000_u32 as CInt;
const SA_RESTART: CInt = 0x1000_0000;

const SIGKILL: CInt = 9;
const SIGSTOP: CInt = 19;
const SIGABRT: CInt = 6;

/// Signals 1 to 64.
const SIGNALS: usize = 64;

/// Each signal's handler (`SIG_DFL` at start) and `sa_flags`.
static HANDLERS: [AtomicUsize; SIGNALS] = [const { AtomicUsize::new(SIG_DFL) }; SIGNALS];
static FLAGS: [AtomicI32; SIGNALS] = [const { AtomicI32::new(0) }; SIGNALS];

/// `struct sigaction` as glibc lays it out (152 bytes).
#[repr(C)]
pub struct SignalAction {
    handler: usize,
    mask: [u64; 16],
    flags: CInt,
    restorer: usize,
}

/// The table slot of `signal`, if it is one.
pub(crate) fn slot(signal: CInt) -> Option<usize> {
    usize::try_from(signal)
        .ok()
        .filter(|s| (1..=SIGNALS).contains(s))
        .map(|s| s - 1)
}

/// The table slot of `signal` for `sigaction` and `signal`: glibc refuses
/// its two internal signals (`SIGCANCEL`, `SIGSETXID`) with `EINVAL`.
fn action_slot(signal: CInt) -> Option<usize> {
    slot(signal).filter(|_| signal != SIGCANCEL && signal != SIGSETXID)
}

/// `sigaction(2)`: records the new action, reports the old one (its mask
/// reads as empty). `SIGKILL` and `SIGSTOP` cannot be caught (`EINVAL`).
///
/// # Safety
/// `action` must be null or a valid `struct sigaction`; `old` null or
/// valid for writing one.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sigaction(
    signal: CInt,
    action: *const SignalAction,
    old: *mut SignalAction,
) -> CInt {
    traced!("sigaction"(signal, action, old) {
    let Some(slot) = action_slot(signal) else {
        return errno::fail(code::EINVAL);
    };
    if !action.is_null() && (signal == SIGKILL || signal == SIGSTOP) {
        return errno::fail(code::EINVAL);
    }
    if !old.is_null() {
        // SAFETY: per the caller.
        unsafe {
            old.write(SignalAction {
                handler: HANDLERS[slot].load(Ordering::Relaxed),
                mask: [0; 16],
                flags: FLAGS[slot].load(Ordering::Relaxed),
                restorer: 0,
            })
        };
    }
    if !action.is_null() {
        // SAFETY: per the caller.
        let action = unsafe { &*action };
        HANDLERS[slot].store(action.handler, Ordering::Relaxed);
        FLAGS[slot].store(action.flags, Ordering::Relaxed);
    }
    0
    })
}

/// `signal(2)`: installs `handler` (BSD semantics, as glibc's), returning
/// the previous one, or `SIG_ERR` with `EINVAL`.
#[unsafe(no_mangle)]
pub extern "C" fn signal(signal: CInt, handler: usize) -> usize {
    traced!("signal"(signal, handler) {
    match action_slot(signal) {
        Some(slot) if signal != SIGKILL && signal != SIGSTOP => {
            FLAGS[slot].store(SA_RESTART, Ordering::Relaxed);
            HANDLERS[slot].swap(handler, Ordering::Relaxed)
        }
        _ => {
            errno::set(code::EINVAL);
            SIG_ERR
        }
    }
    })
}

/// `siginfo_t`'s first fields (the structure is 128 bytes).
#[repr(C)]
struct SignalInfo {
    signo: CInt,
    errno: CInt,
    code: CInt,
    rest: [CInt; 29],
}

/// `si_code` of a signal a thread sent itself (`tgkill`, which glibc's
/// `raise` uses).
const SI_TKILL: CInt = -6;

/// Signals whose default action is to do nothing (`SIGCHLD`, `SIGCONT`,
/// `SIGURG`, `SIGWINCH`), and the stop signals, which have no one to
/// continue the program here.
fn ignored_by_default(signal: CInt) -> bool {
    matches!(signal, 17..=23 | 28)
}

/// `raise(3)`: runs the signal's handler now; with none, its default
/// action: `SIGABRT` aborts (Kiln's crash report), other fatal signals end
/// the program with status 128 + the signal, as a shell shows a process a
/// signal killed.
#[unsafe(no_mangle)]
pub extern "C" fn raise(signal: CInt) -> CInt {
    traced!("raise"(signal) {
    let Some(slot) = slot(signal) else {
        return errno::fail(code::EINVAL);
    };
    let flags = FLAGS[slot].load(Ordering::Relaxed);
    let handler = if flags & SA_RESETHAND != 0 {
        HANDLERS[slot].swap(SIG_DFL, Ordering::Relaxed)
    } else {
        HANDLERS[slot].load(Ordering::Relaxed)
    };
    match handler {
        SIG_IGN => {}
        SIG_DFL if ignored_by_default(signal) => {}
        SIG_DFL if signal == SIGABRT => crate::stdlib::abort(),
        SIG_DFL => kiln_libos::process::exit(128 + signal),
        _ if flags & SA_SIGINFO != 0 => {
            let info = SignalInfo { signo: signal, errno: 0, code: SI_TKILL, rest: [0; 29] };
            // SAFETY: the program installed this address as an
            // `SA_SIGINFO` handler.
            let handler: extern "C" fn(CInt, *const SignalInfo, *mut c_void) =
                unsafe { core::mem::transmute(handler) };
            handler(signal, &info, core::ptr::null_mut());
        }
        _ => {
            // SAFETY: the program installed this address as a handler.
            let handler: extern "C" fn(CInt) = unsafe { core::mem::transmute(handler) };
            handler(signal);
        }
    }
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
/// glibc's own signals (cancellation and `setxid`), which it never lets a
/// program block or send.
const SIGCANCEL: CInt = 32;
const SIGSETXID: CInt = 33;

/// The mask bit of signal `number` (1 to 64).
const fn bit(number: CInt) -> u64 {
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
        s if slot(s).is_none() => code::EINVAL,
        SIGCANCEL | SIGSETXID => code::EINVAL,
        _ => code::ENOSYS,
    }
    })
}
