//! The signals that cut a vCPU's `KVM_RUN` short: the time-slice tick
//! ([`crate::preempt::TICK_SIGNAL`]), the profiler's sampling timer
//! ([`crate::profile::PROFILE_SIGNAL`]) and the kick that stops a vCPU when
//! another one ended the VM ([`KICK_SIGNAL`]).
//!
//! Both are blocked in the vCPU thread except inside `KVM_RUN`
//! (`KVM_SET_SIGNAL_MASK`), so they only ever end a `KVM_RUN` with
//! `EINTR`, never one of the monitor's own system calls. A kick sent while
//! its thread is outside `KVM_RUN` stays pending and ends the next one at
//! once; the thread also finds `immediate_exit` set and the VM stopping.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::AsRawFd;

use kvm_ioctls::VcpuFd;

use crate::preempt::TICK_SIGNAL;
use crate::profile::PROFILE_SIGNAL;

/// The signal one vCPU thread sends another to make it leave `KVM_RUN`;
/// nothing else in the monitor uses it.
pub const KICK_SIGNAL: libc::c_int = libc::SIGUSR1;

/// `KVM_SET_SIGNAL_MASK`: `_IOW(KVMIO, 0x8b, struct kvm_signal_mask)`, whose
/// fixed part is one `u32`.
const KVM_SET_SIGNAL_MASK: libc::c_ulong = 0x4004_ae8b;

/// Blocks the tick, the sampling timer and the kick in the calling thread,
/// the vCPU's, and lets them through inside its `KVM_RUN`. Call before
/// seccomp.
pub fn confine_to_kvm_run(vcpu: &VcpuFd) -> io::Result<()> {
    let ours = set_of(&[TICK_SIGNAL, PROFILE_SIGNAL, KICK_SIGNAL]);
    let mut old = set_of(&[]);
    // SAFETY: both sets are initialised; blocks our signals in this thread.
    let error = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &ours, &mut old) };
    if error != 0 {
        return Err(io::Error::from_raw_os_error(error));
    }
    // Inside KVM_RUN: this thread's mask, ours unblocked.
    for signal in [TICK_SIGNAL, PROFILE_SIGNAL, KICK_SIGNAL] {
        // SAFETY: `old` is an initialised set and the signal number is valid.
        unsafe { libc::sigdelset(&mut old, signal) };
    }
    set_kvm_signal_mask(vcpu, &old)
}

/// Gives the kick a handler that does nothing. A kick is only ever taken
/// inside `KVM_RUN` (where it makes no call), but its default action ends
/// the process: should one reach a thread that does not block it (a vCPU
/// thread that has just ended, its id reused), it must be harmless. Call
/// before seccomp, which does not allow `rt_sigaction`.
pub fn install_kick_handler() -> io::Result<()> {
    extern "C" fn ignore(_signal: libc::c_int) {}
    // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = ignore as extern "C" fn(libc::c_int) as usize;
    // SAFETY: `action` is initialised and its handler touches nothing.
    if unsafe { libc::sigaction(KICK_SIGNAL, &action, std::ptr::null_mut()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sends the kick to thread `tid` of this process.
pub fn kick(tid: libc::pid_t) {
    // SAFETY: tgkill takes plain numbers; a thread that is gone makes it
    // fail with ESRCH, which needs nothing done.
    unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), tid, KICK_SIGNAL) };
}

/// Consumes a pending `signal` of the calling thread without waiting; true
/// if there was one.
pub fn take_pending(signal: libc::c_int) -> bool {
    let set = set_of(&[signal]);
    let zero = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid set and timeout; no siginfo is requested.
    unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &zero) == signal }
}

/// A set holding `signals`.
pub fn set_of(signals: &[libc::c_int]) -> libc::sigset_t {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the set.
    let mut set = unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        set.assume_init()
    };
    for &signal in signals {
        // SAFETY: `set` is initialised and the signal numbers are valid.
        unsafe { libc::sigaddset(&mut set, signal) };
    }
    set
}

/// The signals blocked inside `KVM_RUN`, as `struct kvm_signal_mask`: a
/// length, then the kernel's 8-byte sigset.
fn set_kvm_signal_mask(vcpu: &VcpuFd, set: &libc::sigset_t) -> io::Result<()> {
    #[repr(C)]
    struct KvmSignalMask {
        len: u32,
        sigset: [u8; 8],
    }
    let mut mask = KvmSignalMask {
        len: 8,
        sigset: [0; 8],
    };
    // SAFETY: glibc's sigset_t begins with the kernel's 64 signal bits.
    let bytes =
        unsafe { std::slice::from_raw_parts((set as *const libc::sigset_t).cast::<u8>(), 8) };
    mask.sigset.copy_from_slice(bytes);
    // SAFETY: KVM_SET_SIGNAL_MASK reads `len` and that many bytes after it.
    if unsafe { libc::ioctl(vcpu.as_raw_fd(), KVM_SET_SIGNAL_MASK, &mask) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
