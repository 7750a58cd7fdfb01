//! `rand`, `srand`, `rand_r`, `random`, `srandom`: glibc's generators,
//! reproduced so that a seed gives the sequence it gives on Linux (no
//! crate implements glibc's exact algorithms).

use core::ffi::{c_int, c_long, c_uint};

use kiln_libos::preempt::Lock;

/// glibc's default `random` state: the additive feedback generator of
/// degree 31 ("TYPE_3"), x[i] = x[i-31] + x[i-3], output bits 31..1.
struct Additive {
    state: [u32; 31],
    front: usize,
    rear: usize,
}

impl Additive {
    const fn unseeded() -> Self {
        Self {
            state: [0; 31],
            front: 3,
            rear: 0,
        }
    }

    /// glibc's `srandom_r`: a Lehmer sequence fills the state, then 310
    /// outputs are discarded.
    fn seed(&mut self, seed: u32) {
        let mut word = if seed == 0 { 1 } else { seed as i32 as i64 };
        self.state[0] = word as u32;
        for i in 1..31 {
            // 16807 * word % (2^31 - 1), by Schrage's method as glibc does.
            let (high, low) = (word / 127_773, word % 127_773);
            word = 16_807 * low - 2_836 * high;
            if word < 0 {
                word += 2_147_483_647;
            }
            self.state[i] = word as u32;
        }
        self.front = 3;
        self.rear = 0;
        for _ in 0..310 {
            self.next();
        }
    }

    fn next(&mut self) -> c_int {
        let value = self.state[self.front].wrapping_add(self.state[self.rear]);
        self.state[self.front] = value;
        self.front = (self.front + 1) % 31;
        self.rear = (self.rear + 1) % 31;
        (value >> 1) as c_int
    }
}

/// The shared generator; `None` until first used (seed 1, as C says).
static GENERATOR: Lock<Option<Additive>> = Lock::new(None);

fn with_generator<T>(f: impl FnOnce(&mut Additive) -> T) -> T {
    let mut generator = GENERATOR.lock();
    let generator = generator.get_or_insert_with(|| {
        let mut fresh = Additive::unseeded();
        fresh.seed(1);
        fresh
    });
    f(generator)
}

/// `random(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn random() -> c_long {
    with_generator(Additive::next).into()
}

/// `srandom(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn srandom(seed: c_uint) {
    with_generator(|generator| generator.seed(seed));
}

/// `rand(3)`: glibc's is `random`.
#[unsafe(no_mangle)]
pub extern "C" fn rand() -> c_int {
    with_generator(Additive::next)
}

/// `srand(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn srand(seed: c_uint) {
    srandom(seed);
}

/// `rand_r(3)`: glibc's three steps of a linear congruential generator.
///
/// # Safety
/// `seed` must be valid for reads and writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rand_r(seed: *mut c_uint) -> c_int {
    // SAFETY: per the caller.
    let mut next = unsafe { *seed };
    let mut step = |modulus: u32| {
        next = next.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        (next / 65_536) % modulus
    };
    let mut result = step(2048);
    result = (result << 10) ^ step(1024);
    result = (result << 10) ^ step(1024);
    // SAFETY: per the caller.
    unsafe { *seed = next };
    result as c_int
}
