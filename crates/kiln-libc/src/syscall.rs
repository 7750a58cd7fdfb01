//! `syscall(2)`: the raw entry `std` uses for `futex`, `getrandom`, `gettid`
//! and `statx` on Linux.
//!
//! The C declaration is variadic; on x86_64 a variadic callee receives its
//! integer arguments in the same registers as a fixed one, so six `long`
//! parameters read them correctly on stable Rust.

use core::cell::Cell;

use kiln_libos::preempt::NoPreempt;
use kiln_libos::time::{Instant, unix_time};
use kiln_libos::{platform, sched};

use crate::CLong;
use crate::errno::{self, code};
use crate::time::Timespec;

const SYS_GETTID: CLong = 186;
const SYS_FUTEX: CLong = 202;
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
    _a5: CLong,
    _a6: CLong,
) -> CLong {
    traced!("syscall"(number, a1, a2, a3, a4) {
    match number {
        // SAFETY: the current thread's live TCB.
        SYS_GETTID => CLong::from(unsafe { (*crate::thread::current()).id }),
        // SAFETY: per the caller.
        SYS_FUTEX => unsafe { futex(a1 as *const u32, a2, a3 as u32, a4 as *const Timespec) },
        // SAFETY: per the caller.
        SYS_GETRANDOM => unsafe { getrandom(a1 as *mut u8, a2 as usize) },
        // statx and everything else: std falls back to older calls on ENOSYS.
        _ => errno::fail(code::ENOSYS),
    }
    })
}

/// Futex wait and wake, on the library OS scheduler. Checking the value and
/// going to sleep cannot be interleaved with another thread: both happen
/// with preemption disabled, and a thread that waits gives up the vCPU only
/// once it is queued.
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
        FUTEX_WAKE | FUTEX_WAKE_BITSET => sched::wake(addr as usize, value as usize) as CLong,
        command @ (FUTEX_WAIT | FUTEX_WAIT_BITSET) => {
            let _section = NoPreempt::new();
            // SAFETY: per the caller.
            if unsafe { addr.read_volatile() } != value {
                return errno::fail(code::EAGAIN);
            }
            let deadline = if timeout.is_null() {
                u64::MAX
            } else {
                // SAFETY: per the caller.
                let Some(span) = (unsafe { &*timeout }).to_duration() else {
                    return errno::fail(code::EINVAL);
                };
                // FUTEX_WAIT takes a relative timeout; FUTEX_WAIT_BITSET an
                // absolute one on CLOCK_MONOTONIC (zero at boot here), or on
                // CLOCK_REALTIME with the flag.
                let span = u64::try_from(span.as_nanos()).unwrap_or(u64::MAX);
                let now = Instant::now().as_nanos_since_boot();
                if command == FUTEX_WAIT {
                    now.saturating_add(span)
                } else if realtime {
                    let wall_now = u64::try_from(unix_time().as_nanos()).unwrap_or(u64::MAX);
                    span.saturating_sub(wall_now.saturating_sub(now))
                } else {
                    span
                }
            };
            match sched::wait(addr as usize, deadline) {
                sched::Wake::Woken => 0,
                sched::Wake::TimedOut => errno::fail(code::ETIMEDOUT),
            }
        }
        _ => errno::fail(code::ENOSYS),
    }
}

/// The generator behind `getrandom`: xoshiro256** seeded from the 256-bit
/// host seed in the boot info, with each output mixed with the CPU's RDRAND
/// where the CPU has it (the monitor lists RDRAND in the guest CPUID when
/// the host has it).
struct Random(Cell<Option<[u64; 4]>>);

// SAFETY: one vCPU, and `next_random` runs with preemption disabled, so no
// thread switch happens inside it: never accessed from two contexts.
unsafe impl Sync for Random {}

static RANDOM: Random = Random(Cell::new(None));

fn next_random() -> u64 {
    let _section = NoPreempt::new();
    let mut s = RANDOM.0.get().unwrap_or(platform::boot_info().random_seed);
    let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
    let t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = s[3].rotate_left(45);
    RANDOM.0.set(Some(s));
    result ^ rdrand().unwrap_or(0)
}

/// A hardware random number, if the CPU has RDRAND and it delivers.
fn rdrand() -> Option<u64> {
    const RDRAND: u32 = 1 << 30;
    if core::arch::x86_64::__cpuid(1).ecx & RDRAND == 0 {
        return None;
    }
    let (value, ok): (u64, u8);
    // SAFETY: RDRAND is present (checked above); it only writes the two
    // outputs and the flags.
    unsafe {
        core::arch::asm!("rdrand {v}", "setc {ok}", v = out(reg) value, ok = out(reg_byte) ok, options(nomem, nostack));
    }
    (ok == 1).then_some(value)
}

/// `getrandom(2)`.
///
/// # Safety
/// `buf` must be valid for `len` bytes.
unsafe fn getrandom(buf: *mut u8, len: usize) -> CLong {
    // SAFETY: per the caller.
    let out = unsafe { crate::c_slice_mut(buf, len) };
    for chunk in out.chunks_mut(8) {
        chunk.copy_from_slice(&next_random().to_le_bytes()[..chunk.len()]);
    }
    len as CLong
}
