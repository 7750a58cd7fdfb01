//! Signals. A unikernel has no other processes and no terminal, so no
//! signal is ever delivered: installing handlers and alternate stacks (all
//! `std` does) is accepted and has no effect.

use core::ffi::c_void;

use crate::CInt;

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
