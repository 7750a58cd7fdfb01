//! Kiln's C library: the part of glibc's x86_64 ABI that Rust's `std` (and
//! the `libc` crate) call on `x86_64-unknown-linux-gnu`, implemented on the
//! Kiln library OS.
//!
//! `kiln build` compiles an ordinary `std` program for the host target and
//! links it against this crate instead of glibc, so calls into "the OS"
//! become plain function calls into the library OS, in one image.
//!
//! Every module is a set of `#[no_mangle] extern "C"` shims, one file per
//! header family: they turn raw arguments into safe values, call the
//! library OS, and report failure as `-1` (or null) plus `errno`, with the
//! value Linux would give.
//!
//! - [`start`]: `_start`'s C half: TLS, `environ`, `.init_array`, `main`;
//! - [`errno`] and [`thread`]: the thread control block `%fs` points at;
//! - [`malloc`], [`mman`]: memory;
//! - [`unistd`], [`stat`], [`stdlib`]: I/O, files, environment, exit;
//! - [`time`]: clocks and sleeping;
//! - [`pthread`]: thread-specific keys and thread attributes;
//! - [`signal`]: handlers accepted, never delivered;
//! - [`process`]: one process; spawning another fails with `ENOSYS`;
//! - [`socket`]: not yet (`ENOSYS`/`EBADF`);
//! - [`string`]: the error messages of `strerror_r`;
//! - [`syscall`]: the raw `syscall()` entry `std` uses for futex and friends;
//! - [`unwind`]: unwinding (`catch_unwind`, panicking threads) and `dlsym`;
//! - [`trace`]: `kiln run --trace-libc`.
#![no_std]

/// Runs a shim's body and, under `kiln run --trace-libc`, logs the call with
/// its arguments and result (see [`trace`]).
macro_rules! traced {
    ($name:literal ($($arg:expr),* $(,)?) $body:block) => {{
        let result = $body;
        if $crate::trace::enabled() {
            $crate::trace::log($name, &[$(($arg) as i64),*], result as i64);
        }
        result
    }};
}

pub mod errno;
pub mod malloc;
pub mod mman;
pub mod process;
pub mod pthread;
pub mod signal;
pub mod socket;
pub mod start;
pub mod stat;
pub mod stdlib;
pub mod string;
pub mod syscall;
pub mod thread;
pub mod time;
pub mod trace;
pub mod unistd;
pub mod unwind;

/// C's `int`.
pub type CInt = i32;
/// C's `long` / `ssize_t` on x86_64.
pub type CLong = i64;
