//! Exercises the pthread synchronisation objects, thread attributes and
//! semaphores through the `libc` crate and prints every answer (return
//! values, `errno` names, final counts), so a run on Linux and a run on
//! Kiln can be compared line by line. Threads are ordered with joins and
//! the objects themselves, never with sleeps, so the output is
//! deterministic.

mod cond;
mod ffi;
mod mutex;
mod objects;
mod rwlock;
mod semaphore;
mod stress;
mod thread;

use std::cell::UnsafeCell;
use std::ffi::c_int;

/// A C object that threads share by address, as C code shares them.
pub struct Shared<T>(UnsafeCell<T>);

// SAFETY: the objects inside are pthread objects (made for concurrent use
// through their functions) or plain data only touched while one is held.
unsafe impl<T> Sync for Shared<T> {}

impl<T> Shared<T> {
    pub const fn new(value: T) -> Self {
        Self(UnsafeCell::new(value))
    }

    pub fn get(&self) -> *mut T {
        self.0.get()
    }
}

/// A C object in its all-zero state, before its `init` call.
pub fn zeroed<T: Copy>() -> T {
    // SAFETY: only used for C structs and integers, for which all zeros is
    // a valid (if uninitialised, in the pthread sense) value.
    unsafe { std::mem::zeroed() }
}

/// An error number by name (0 for success).
pub fn name(code: c_int) -> String {
    let known = [
        (0, "0"),
        (libc::EPERM, "EPERM"),
        (libc::ENOENT, "ENOENT"),
        (libc::EAGAIN, "EAGAIN"),
        (libc::EBUSY, "EBUSY"),
        (libc::EINVAL, "EINVAL"),
        (libc::ERANGE, "ERANGE"),
        (libc::EDEADLK, "EDEADLK"),
        (libc::ENOSYS, "ENOSYS"),
        (libc::EOVERFLOW, "EOVERFLOW"),
        (libc::ENOTSUP, "ENOTSUP"),
        (libc::ETIMEDOUT, "ETIMEDOUT"),
    ];
    known
        .iter()
        .find(|(number, _)| *number == code)
        .map_or_else(|| code.to_string(), |(_, name)| name.to_string())
}

/// Prints a function's result that is an error number (pthread style).
pub fn show(label: &str, code: c_int) {
    println!("{label}: {}", name(code));
}

/// Prints a result that is -1 plus `errno` on failure (semaphore style).
pub fn show_errno(label: &str, result: c_int) {
    if result == -1 {
        let error = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        println!("{label}: -1 {}", name(error));
    } else {
        println!("{label}: {result}");
    }
}

/// The absolute time `ms` milliseconds from now on `clock`.
pub fn in_ms(clock: libc::clockid_t, ms: i64) -> libc::timespec {
    let mut now = zeroed::<libc::timespec>();
    // SAFETY: a valid out-pointer.
    unsafe { libc::clock_gettime(clock, &mut now) };
    let nanos = now.tv_nsec + ms * 1_000_000;
    libc::timespec {
        tv_sec: now.tv_sec + nanos / 1_000_000_000,
        tv_nsec: nanos % 1_000_000_000,
    }
}

/// A timespec whose nanoseconds are out of range.
pub fn bad_nanoseconds() -> libc::timespec {
    libc::timespec {
        tv_sec: in_ms(libc::CLOCK_REALTIME, 0).tv_sec + 1,
        tv_nsec: 1_000_000_000,
    }
}

/// A deadline long past (negative seconds are valid and have passed).
pub fn long_ago() -> libc::timespec {
    libc::timespec {
        tv_sec: -1,
        tv_nsec: 0,
    }
}

fn main() {
    objects::sizes();
    mutex::run();
    rwlock::run();
    cond::run();
    objects::run();
    semaphore::run();
    thread::run();
    stress::run();
    random();
}

/// `getrandom` 0.2 links its `/dev/urandom` fallback, which locks a
/// `pthread_mutex_t`, into every program that uses it (ring, rand 0.8).
fn random() {
    let mut bytes = [0u8; 32];
    let result = getrandom::getrandom(&mut bytes);
    println!(
        "getrandom 0.2: {:?}, some byte set: {}",
        result,
        bytes.iter().any(|&b| b != 0)
    );
}
