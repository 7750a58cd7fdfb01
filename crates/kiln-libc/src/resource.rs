//! `<sys/resource.h>`: resource limits, with the guest's real ones, and
//! usage. Limits start as what Kiln can give: descriptors as many as the
//! table holds (and lowering the soft limit is enforced), threads as many
//! as the scheduler runs, the data and address space the guest memory,
//! the main thread's stack its size, no core dumps, signals or message
//! queues; the rest unlimited. As on Linux, a soft limit above its hard
//! limit is `EINVAL` and raising a hard limit `EPERM` (there is nothing to
//! raise it into).

use kiln_libos::preempt::Lock;

use kiln_abi::boot::RegionKind;
use kiln_libos::platform;

use crate::CInt;
use crate::errno::{self, code};

/// `RLIM_INFINITY`.
const UNLIMITED: u64 = u64::MAX;

const RLIMIT_NOFILE: usize = 7;
/// `RLIM_NLIMITS`: resources 0 to 15.
const RESOURCES: usize = 16;

/// `struct rlimit` (and `rlimit64`, the same on x86_64).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Rlimit {
    soft: u64,
    hard: u64,
}

/// The limits as the program set them, once read.
static LIMITS: Lock<Option<[Rlimit; RESOURCES]>> = Lock::new(None);

/// The limits a program starts with.
fn initial() -> [Rlimit; RESOURCES] {
    let boot = platform::boot_info();
    let memory = boot.memory_size;
    let stack = boot
        .regions()
        .iter()
        .find(|r| r.kind == RegionKind::Stack as u32)
        .map_or(0, |r| r.len);
    let both = |value: u64| Rlimit {
        soft: value,
        hard: value,
    };
    let threads = kiln_libos::sched::MAX_THREADS as u64;
    let descriptors = kiln_libos::fs::MAX_FDS as u64;
    [
        both(UNLIMITED),   // RLIMIT_CPU
        both(UNLIMITED),   // RLIMIT_FSIZE
        both(memory),      // RLIMIT_DATA
        both(stack),       // RLIMIT_STACK
        both(0),           // RLIMIT_CORE: crashes are reported, never dumped
        both(UNLIMITED),   // RLIMIT_RSS
        both(threads),     // RLIMIT_NPROC
        both(descriptors), // RLIMIT_NOFILE
        both(memory),      // RLIMIT_MEMLOCK: guest memory is never swapped
        both(memory),      // RLIMIT_AS
        both(UNLIMITED),   // RLIMIT_LOCKS
        both(0),           // RLIMIT_SIGPENDING: signals are never delivered
        both(0),           // RLIMIT_MSGQUEUE: no POSIX message queues
        both(0),           // RLIMIT_NICE
        both(0),           // RLIMIT_RTPRIO
        both(UNLIMITED),   // RLIMIT_RTTIME
    ]
}

/// Reads and, with `new`, replaces the limit of `resource` (`prlimit`'s
/// core); the old value comes back.
fn exchange(resource: CInt, new: Option<Rlimit>) -> Result<Rlimit, i32> {
    let index = usize::try_from(resource)
        .ok()
        .filter(|&r| r < RESOURCES)
        .ok_or(code::EINVAL)?;
    let mut limits = LIMITS.lock();
    let limits = limits.get_or_insert_with(initial);
    let old = limits[index];
    if let Some(new) = new {
        if new.soft > new.hard {
            return Err(code::EINVAL);
        }
        if new.hard > old.hard {
            return Err(code::EPERM);
        }
        limits[index] = new;
        if index == RLIMIT_NOFILE {
            kiln_libos::fs::set_descriptor_limit(usize::try_from(new.soft).unwrap_or(usize::MAX));
        }
    }
    Ok(old)
}

/// `prlimit(2)` for this process (pid 0 or its own, 1).
///
/// # Safety
/// `new` must be null or valid for a read, `old` null or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn prlimit64(
    pid: CInt,
    resource: CInt,
    new: *const Rlimit,
    old: *mut Rlimit,
) -> CInt {
    traced!("prlimit64"(pid, resource, new, old) {
    if pid != 0 && pid != crate::process::getpid() {
        return errno::fail(code::ESRCH);
    }
    // SAFETY: per the caller.
    let new = (!new.is_null()).then(|| unsafe { new.read() });
    match exchange(resource, new) {
        Ok(previous) => {
            if !old.is_null() {
                // SAFETY: per the caller.
                unsafe { old.write(previous) };
            }
            0
        }
        Err(e) => errno::fail(e),
    }
    })
}

/// `prlimit(2)`: `prlimit64` on x86_64.
///
/// # Safety
/// As [`prlimit64`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn prlimit(
    pid: CInt,
    resource: CInt,
    new: *const Rlimit,
    old: *mut Rlimit,
) -> CInt {
    // SAFETY: per the caller.
    unsafe { prlimit64(pid, resource, new, old) }
}

/// `getrlimit(2)`.
///
/// # Safety
/// `out` must be valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getrlimit(resource: CInt, out: *mut Rlimit) -> CInt {
    if out.is_null() {
        return errno::fail(code::EFAULT);
    }
    // SAFETY: per the caller.
    unsafe { prlimit64(0, resource, core::ptr::null(), out) }
}

/// `setrlimit(2)`.
///
/// # Safety
/// `new` must be valid for a read.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn setrlimit(resource: CInt, new: *const Rlimit) -> CInt {
    if new.is_null() {
        return errno::fail(code::EFAULT);
    }
    // SAFETY: per the caller.
    unsafe { prlimit64(0, resource, new, core::ptr::null_mut()) }
}

/// `getrlimit64(2)`: `getrlimit` on x86_64.
///
/// # Safety
/// As [`getrlimit`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getrlimit64(resource: CInt, out: *mut Rlimit) -> CInt {
    // SAFETY: per the caller.
    unsafe { getrlimit(resource, out) }
}

/// `setrlimit64(2)`: `setrlimit` on x86_64.
///
/// # Safety
/// As [`setrlimit`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn setrlimit64(resource: CInt, new: *const Rlimit) -> CInt {
    // SAFETY: per the caller.
    unsafe { setrlimit(resource, new) }
}

const RUSAGE_SELF: CInt = 0;
const RUSAGE_CHILDREN: CInt = -1;
const RUSAGE_THREAD: CInt = 1;

/// glibc's `struct rusage`: two `timeval`s and fourteen `long`s.
#[repr(C)]
pub struct Rusage {
    user: [i64; 2],
    system: [i64; 2],
    counters: [i64; 14],
}

/// `getrusage(2)`: the program's CPU time (time since boot not spent
/// idle) as user time, for the process and, since threads share the one
/// vCPU and per-thread time is not kept, for `RUSAGE_THREAD` too; nothing
/// for children (there are none). The other counters are zero: Kiln does
/// not count faults, context switches or I/O operations.
///
/// # Safety
/// `out` must be valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getrusage(who: CInt, out: *mut Rusage) -> CInt {
    traced!("getrusage"(who, out) {
    let cpu = match who {
        RUSAGE_SELF | RUSAGE_THREAD => kiln_libos::sched::cpu_time(),
        RUSAGE_CHILDREN => core::time::Duration::ZERO,
        _ => return errno::fail(code::EINVAL),
    };
    // SAFETY: per the caller.
    unsafe {
        out.write(Rusage {
            user: [cpu.as_secs() as i64, i64::from(cpu.subsec_micros())],
            system: [0; 2],
            counters: [0; 14],
        })
    };
    0
    })
}
