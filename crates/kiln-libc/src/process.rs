//! Processes. A unikernel is one process: starting another (`fork`,
//! `vfork`, the `exec` family, `posix_spawn`, `system`, `popen`) fails with
//! `ENOSYS`, as on a kernel built without the feature, so `std::process::
//! Command` returns an error the program can handle (`ErrorKind::Unsupported`). The attribute objects
//! `posix_spawn` takes are accepted (there is nothing to configure), and
//! signal sets work as data.

use core::ffi::c_void;

use crate::CInt;
use crate::errno::{self, code};

/// The one process's id.
const PID: CInt = 1;

/// `getpid(2)`.
#[unsafe(no_mangle)]
pub extern "C" fn getpid() -> CInt {
    PID
}

/// `gettid(2)`: the calling thread's id (the main thread's is the pid).
#[unsafe(no_mangle)]
pub extern "C" fn gettid() -> CInt {
    // SAFETY: the calling thread's live TCB.
    unsafe { (*crate::thread::current()).id }
}

/// `kill(2)`: the program is the only process, so a signal to itself
/// (its pid, 0 or -1: every process it may signal) is `raise`d, signal 0
/// only checks; any other pid does not exist (`ESRCH`).
#[unsafe(no_mangle)]
pub extern "C" fn kill(pid: CInt, signal: CInt) -> CInt {
    traced!("kill"(pid, signal) {
    if signal != 0 && crate::signal::slot(signal).is_none() {
        return errno::fail(code::EINVAL);
    }
    if pid != PID && pid != 0 && pid != -1 && pid != -PID {
        return errno::fail(code::ESRCH);
    }
    if signal == 0 {
        return 0;
    }
    crate::signal::raise(signal)
    })
}

/// `getpgid(2)`: the program is its own process group (pid 0: the caller).
#[unsafe(no_mangle)]
pub extern "C" fn getpgid(pid: CInt) -> CInt {
    if pid == 0 || pid == PID {
        PID
    } else {
        errno::fail(code::ESRCH)
    }
}

/// `getsid(2)`: and its own session.
#[unsafe(no_mangle)]
pub extern "C" fn getsid(pid: CInt) -> CInt {
    getpgid(pid)
}

/// `getppid(2)`: nothing started this process inside the VM.
#[unsafe(no_mangle)]
pub extern "C" fn getppid() -> CInt {
    0
}

/// `fork(2)`.
#[unsafe(no_mangle)]
pub extern "C" fn fork() -> CInt {
    traced!("fork"() {
    errno::fail(code::ENOSYS)
    })
}

/// `posix_spawn(3)`: returns the error instead of setting `errno`.
#[unsafe(no_mangle)]
pub extern "C" fn posix_spawn(
    _pid: *mut CInt,
    _path: *const c_void,
    _actions: *const c_void,
    _attr: *const c_void,
    _argv: *const c_void,
    _envp: *const c_void,
) -> CInt {
    traced!("posix_spawn"() {
    code::ENOSYS
    })
}

/// `posix_spawnp(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn posix_spawnp(
    pid: *mut CInt,
    file: *const c_void,
    actions: *const c_void,
    attr: *const c_void,
    argv: *const c_void,
    envp: *const c_void,
) -> CInt {
    posix_spawn(pid, file, actions, attr, argv, envp)
}

macro_rules! accepted {
    ($($name:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            /// Accepted: a `posix_spawn` attribute that has nothing to configure.
            #[unsafe(no_mangle)]
            pub extern "C" fn $name($($arg: $ty),*) -> CInt {
                0
            }
        )*
    };
}

accepted! {
    posix_spawn_file_actions_init(_actions: *mut c_void);
    posix_spawn_file_actions_destroy(_actions: *mut c_void);
    posix_spawn_file_actions_adddup2(_actions: *mut c_void, _fd: CInt, _new: CInt);
    posix_spawnattr_init(_attr: *mut c_void);
    posix_spawnattr_destroy(_attr: *mut c_void);
    posix_spawnattr_setflags(_attr: *mut c_void, _flags: i16);
    posix_spawnattr_setpgroup(_attr: *mut c_void, _group: CInt);
    posix_spawnattr_setsigdefault(_attr: *mut c_void, _set: *const c_void);
    posix_spawnattr_setsigmask(_attr: *mut c_void, _set: *const c_void);
}

/// `setgroups(2)`.
#[unsafe(no_mangle)]
pub extern "C" fn setgroups(_count: usize, _groups: *const u32) -> CInt {
    traced!("setgroups"() {
    errno::fail(code::EPERM)
    })
}

/// Bytes in glibc's `sigset_t`.
const SIGSET_BYTES: usize = 128;

/// Signals glibc accepts in a set: 1 to 64 (`_NSIG - 1`).
const SIGNALS: usize = 64;

/// `sigemptyset(3)`.
///
/// # Safety
/// `set` must be valid for a `sigset_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sigemptyset(set: *mut u8) -> CInt {
    // SAFETY: per the caller.
    unsafe { set.write_bytes(0, SIGSET_BYTES) };
    0
}

/// `sigaddset(3)`.
///
/// # Safety
/// `set` must be valid for a `sigset_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sigaddset(set: *mut u8, signal: CInt) -> CInt {
    let Some(bit) = usize::try_from(signal)
        .ok()
        .and_then(|s| s.checked_sub(1))
        .filter(|b| *b < SIGNALS)
    else {
        return errno::fail(code::EINVAL);
    };
    // SAFETY: per the caller; `bit / 8 < SIGNALS / 8 <= SIGSET_BYTES`.
    unsafe { *set.add(bit / 8) |= 1 << (bit % 8) };
    0
}

/// `sched_yield(2)`: lets the other ready threads run.
#[unsafe(no_mangle)]
pub extern "C" fn sched_yield() -> CInt {
    kiln_libos::sched::yield_now();
    0
}

/// `vfork(2)`: as `fork`.
#[unsafe(no_mangle)]
pub extern "C" fn vfork() -> CInt {
    traced!("vfork"() {
    errno::fail(code::ENOSYS)
    })
}

macro_rules! no_exec {
    ($($name:ident = $label:literal($($arg:ident: $ty:ty),*);)*) => {
        $(
            /// There is no other program to run in this one's place.
            #[unsafe(no_mangle)]
            pub extern "C" fn $name($($arg: $ty),*) -> CInt {
                traced!($label() {
                errno::fail(code::ENOSYS)
                })
            }
        )*
    };
}

no_exec! {
    execve = "execve"(_path: *const c_void, _argv: *const c_void, _envp: *const c_void);
    execv = "execv"(_path: *const c_void, _argv: *const c_void);
    execvp = "execvp"(_file: *const c_void, _argv: *const c_void);
    execvpe = "execvpe"(_file: *const c_void, _argv: *const c_void, _envp: *const c_void);
    fexecve = "fexecve"(_fd: CInt, _argv: *const c_void, _envp: *const c_void);
}

/// `system(3)`: with a null command, 0 says there is no shell, as glibc
/// does without `/bin/sh`; a command cannot be run (-1, `ENOSYS`).
#[unsafe(no_mangle)]
pub extern "C" fn system(command: *const c_void) -> CInt {
    traced!("system"(command) {
    if command.is_null() {
        0
    } else {
        errno::fail(code::ENOSYS)
    }
    })
}

/// `popen(3)`: starts no process (null, `ENOSYS`).
#[unsafe(no_mangle)]
pub extern "C" fn popen(_command: *const c_void, _mode: *const c_void) -> *mut c_void {
    traced!("popen"() {
    errno::fail_null(code::ENOSYS)
    })
}

/// `pclose(3)`: no stream came from `popen`, so there is no child to wait for.
#[unsafe(no_mangle)]
pub extern "C" fn pclose(_stream: *mut c_void) -> CInt {
    traced!("pclose"() {
    errno::fail(code::ECHILD)
    })
}

/// `waitpid(2)`: there are no children.
#[unsafe(no_mangle)]
pub extern "C" fn waitpid(_pid: CInt, _status: *mut CInt, _options: CInt) -> CInt {
    traced!("waitpid"() {
    errno::fail(code::ECHILD)
    })
}

/// `waitid(2)`.
#[unsafe(no_mangle)]
pub extern "C" fn waitid(_kind: CInt, _id: u32, _info: *mut c_void, _options: CInt) -> CInt {
    traced!("waitid"() {
    errno::fail(code::ECHILD)
    })
}

macro_rules! not_permitted {
    ($($name:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            /// There are no other sessions, groups or identities to take.
            #[unsafe(no_mangle)]
            pub extern "C" fn $name($($arg: $ty),*) -> CInt {
                errno::fail(code::EPERM)
            }
        )*
    };
}

not_permitted! {
    setpgid(_pid: CInt, _group: CInt);
    setsid();
    chroot(_path: *const c_void);
}

/// `gnu_get_libc_version(3)`: `std` asks before choosing `posix_spawn`.
/// Kiln's C library follows glibc 2.36's ABI.
#[unsafe(no_mangle)]
pub extern "C" fn gnu_get_libc_version() -> *const core::ffi::c_char {
    c"2.36".as_ptr()
}

/// `sched_getaffinity(2)`: the CPUs the scheduler runs threads on.
///
/// # Safety
/// `mask` must be valid for `size` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sched_getaffinity(_pid: CInt, size: usize, mask: *mut u8) -> CInt {
    traced!("sched_getaffinity"(size, mask) {
    if size == 0 {
        return errno::fail(code::EINVAL);
    }
    // SAFETY: per the caller.
    let mask = unsafe { crate::c_slice_mut(mask, size) };
    mask.fill(0);
    for cpu in 0..kiln_libos::sched::cpus().min(size * 8) {
        mask[cpu / 8] |= 1 << (cpu % 8);
    }
    0
    })
}

/// `sched_getcpu(3)`: the vCPU the calling thread runs on (it may run on
/// another by the time the caller looks, as on Linux).
#[unsafe(no_mangle)]
pub extern "C" fn sched_getcpu() -> CInt {
    traced!("sched_getcpu"() {
    kiln_libos::platform::vcpu_index() as CInt
    })
}

/// glibc's `__sched_cpucount`, behind `CPU_COUNT`.
///
/// # Safety
/// `set` must be valid for `size` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __sched_cpucount(size: usize, set: *const u8) -> CInt {
    // SAFETY: per the caller.
    let bytes = unsafe { crate::c_slice(set, size) };
    bytes.iter().map(|b| b.count_ones() as CInt).sum()
}
