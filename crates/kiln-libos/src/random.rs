//! Random bytes: the one generator behind `getrandom(2)`, `/dev/urandom`
//! and the C library's own needs (temporary names, guard words).
//!
//! xoshiro256** seeded from the 256-bit host seed in the boot info, each
//! output mixed with the CPU's RDRAND where the guest's CPUID lists it (the
//! boot info says so: asking CPUID would exit to the hypervisor, ~30 µs on
//! our hosts). Written here rather than taken from `rand_xoshiro` because
//! it is a dozen lines and the library OS keeps its dependencies to what it
//! cannot do without.
//!
//! The state sits behind a lock (which also holds preemption off), so two
//! threads never draw the same output, whatever the scheduling.

use crate::platform;
use crate::preempt::Lock;

/// The generator's state; `None` until the first draw seeds it.
static STATE: Lock<Option<[u64; 4]>> = Lock::new(None);

/// The next 64 random bits.
pub fn next() -> u64 {
    let result = {
        let mut state = STATE.lock();
        let s = state.get_or_insert_with(|| platform::boot_info().random_seed);
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    };
    result ^ rdrand().unwrap_or(0)
}

/// A hardware random number, if the CPU has RDRAND and it delivers.
fn rdrand() -> Option<u64> {
    if platform::boot_info().flags & kiln_abi::boot::FLAG_RDRAND == 0 {
        return None;
    }
    let (value, ok): (u64, u8);
    // SAFETY: the CPU has RDRAND (checked above); it only writes the two
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
