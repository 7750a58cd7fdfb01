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
//! - [`unistd`], [`fcntl`], [`stat`], [`dirent`], [`stdio`]: descriptors,
//!   files and directories, on the library OS's `fs`;
//! - [`stdlib`]: environment, exit;
//! - [`file`]: whole-file locks (`flock`);
//! - [`time`]: clocks and sleeping, `utimes`;
//! - [`pthread`]: thread-specific keys and thread attributes;
//! - [`signal`]: handlers accepted, never delivered;
//! - [`process`]: one process; spawning another fails with `ENOSYS`;
//! - [`socket`]: IPv4 TCP and UDP sockets, `getaddrinfo` for numeric hosts;
//! - [`event`]: `epoll` and `eventfd`, for mio and tokio;
//! - [`math`]: the few `libm` functions compiled Rust calls;
//! - [`string`]: the error messages of `strerror_r`;
//! - [`syscall`]: the raw `syscall()` entry `std` uses for futex and friends;
//! - [`unwind`]: unwinding (`catch_unwind`, panicking threads) and `dlsym`;
//! - [`trace`]: `kiln run --trace-libc`.
#![no_std]

extern crate alloc;

/// Runs a shim's body and, under `kiln run --trace-libc`, logs the call with
/// its arguments and result (see [`trace`]). The body runs as a closure so
/// that its early `return`s (the error paths) are logged too.
macro_rules! traced {
    ($name:literal ($($arg:expr),* $(,)?) $body:block) => {{
        #[allow(clippy::redundant_closure_call)]
        let result = (|| $body)();
        if $crate::trace::enabled() {
            $crate::trace::log($name, &[$(($arg) as i64),*], result as i64);
        }
        result
    }};
}

pub mod dirent;
pub mod errno;
pub mod event;
pub mod fcntl;
pub mod file;
pub mod malloc;
pub mod math;
pub mod mman;
pub mod process;
pub mod pthread;
pub mod signal;
pub mod socket;
pub mod start;
pub mod stat;
pub mod stdio;
pub mod stdlib;
pub mod string;
pub mod syscall;
pub mod thread;
pub mod time;
pub mod trace;
pub mod unistd;
pub mod unwind;

/// A C buffer as a slice. C passes a null (or dangling) pointer with a zero
/// length; a Rust slice needs a non-null, aligned pointer even then.
///
/// # Safety
/// If `len > 0`, `ptr` must be valid for reads of `len` elements while the
/// slice lives.
pub(crate) unsafe fn c_slice<'a, T>(ptr: *const T, len: usize) -> &'a [T] {
    if len == 0 {
        return &[];
    }
    // SAFETY: per the caller.
    unsafe { core::slice::from_raw_parts(ptr, len) }
}

/// [`c_slice`], writable.
///
/// # Safety
/// If `len > 0`, `ptr` must be valid for reads and writes of `len` elements,
/// and not otherwise accessed, while the slice lives.
pub(crate) unsafe fn c_slice_mut<'a, T>(ptr: *mut T, len: usize) -> &'a mut [T] {
    if len == 0 {
        return &mut [];
    }
    // SAFETY: per the caller.
    unsafe { core::slice::from_raw_parts_mut(ptr, len) }
}

/// A C path argument as bytes (without its NUL); null is `EFAULT`.
///
/// # Safety
/// `path` must be null or a NUL-terminated string that outlives the result.
pub(crate) unsafe fn c_path<'a>(
    path: *const core::ffi::c_char,
) -> kiln_libos::fs::Result<&'a [u8]> {
    if path.is_null() {
        return Err(kiln_libos::fs::Errno(errno::code::EFAULT));
    }
    // SAFETY: per the caller.
    Ok(unsafe { core::ffi::CStr::from_ptr(path) }.to_bytes())
}

/// C's `int`.
pub type CInt = i32;
/// C's `long` / `ssize_t` on x86_64.
pub type CLong = i64;
