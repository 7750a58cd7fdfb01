//! Random bytes: the one generator behind `getrandom(2)` and `/dev/urandom`.
//!
//! xoshiro256** seeded from the 256-bit host seed in the boot info, each
//! output mixed with the CPU's RDRAND where the CPU has it (the monitor
//! lists RDRAND in the guest CPUID when the host has it). Written here
//! rather than taken from `rand_xoshiro` because it is a dozen lines and the
//! library OS keeps its dependencies to what it cannot do without.

use core::cell::Cell;

use crate::platform;

struct State(Cell<Option<[u64; 4]>>);

// SAFETY: one vCPU, cooperative threads that never switch inside `next`:
// never accessed from two contexts.
unsafe impl Sync for State {}

static STATE: State = State(Cell::new(None));

fn next() -> u64 {
    let mut s = STATE.0.get().unwrap_or(platform::boot_info().random_seed);
    let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
    let t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = s[3].rotate_left(45);
    STATE.0.set(Some(s));
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

/// Fills `out` with random bytes.
pub fn fill(out: &mut [u8]) {
    for chunk in out.chunks_mut(8) {
        chunk.copy_from_slice(&next().to_le_bytes()[..chunk.len()]);
    }
}
