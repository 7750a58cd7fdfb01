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
//! - [`unistd`], [`fcntl`], [`stat`], [`dirent`]: descriptors, files and
//!   directories, on the library OS's `fs`;
//! - [`stdio`]: `FILE` streams, printf and scanf for C code (with
//!   assembly trampolines for the variadic entry points), and `rename`;
//! - [`stdlib`]: environment, exit, number parsing, sorting, `rand`;
//! - [`file`]: whole-file locks (`flock`);
//! - [`time`]: clocks and sleeping, time zones (`TZ`, zoneinfo files from
//!   the image), broken-down time, `strftime` and `strptime`, `utimes`;
//! - [`ids`], [`pwd`], [`grp`] (on [`nss`]): the root identity, users and
//!   groups from the image's `/etc/passwd` and `/etc/group`;
//! - [`resource`], [`sysinfo`]: resource limits and usage, memory,
//!   uptime and CPUs;
//! - [`pthread`]: threads, keys, attributes, and the synchronisation
//!   objects (mutexes, rwlocks, condition variables, once, spin locks,
//!   barriers) on atomics and [`futex`] waits; [`semaphore`]: `sem_*`;
//! - [`signal`]: handlers recorded, run by `raise`; masks recorded;
//! - [`process`]: one process; spawning another fails with `ENOSYS`;
//! - [`socket`]: IPv4 and IPv6 TCP and UDP sockets, `getaddrinfo` (hosts
//!   file and DNS through the library OS);
//! - [`inet`]: `htonl` and the other byte-order conversions;
//! - [`inotify`]: file-change events for the guest's own files;
//! - [`interfaces`]: `getifaddrs` and `net/if.h`, the guest's `lo` and
//!   `eth0`;
//! - [`event`]: `epoll` and `eventfd`, for mio and tokio;
//! - [`math`]: the C99 `libm`, double and float, with glibc's `errno`;
//! - [`string`]: `string.h`, error and signal messages, fortify checks;
//! - [`ctype`]: `ctype.h` with glibc's tables; [`locale`]: "C", "C.UTF-8";
//! - [`assert`]: `__assert_fail`; [`dl`]: `dlopen`, `dlsym` and friends;
//! - [`syscall`]: the raw `syscall()` entry `std` uses for futex and friends;
//! - [`unwind`]: unwinding (`catch_unwind`, panicking threads);
//! - [`utsname`]: `uname` and the host name;
//! - [`termios`]: terminal settings and names (stdin may be the host's
//!   terminal; nothing else is one);
//! - [`trace`]: `kiln run --trace-libc`;
//! - `shared_buffer`: the static buffers non-reentrant calls return.
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

pub mod assert;
pub mod ctype;
pub mod dirent;
pub mod dl;
pub mod errno;
pub mod event;
pub mod fcntl;
pub mod file;
pub mod futex;
pub mod grp;
pub mod ids;
pub mod inet;
pub mod inotify;
pub mod interfaces;
pub mod link;
pub mod locale;
pub mod malloc;
pub mod math;
pub mod mman;
pub mod nss;
pub mod process;
pub mod pthread;
pub mod pwd;
pub mod resource;
pub mod semaphore;
mod shared_buffer;
pub mod signal;
pub mod socket;
pub mod start;
pub mod stat;
pub mod stdio;
pub mod stdlib;
pub mod string;
pub mod syscall;
pub mod sysinfo;
pub mod termios;
pub mod thread;
pub mod time;
pub mod trace;
pub mod unistd;
mod unix_socket;
pub mod unwind;
pub mod utsname;

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

/// The whole contents of the file at `path`, read through the library OS
/// (for the files the C library itself consults: time zones, `/etc/passwd`).
pub(crate) fn read_file(path: &[u8]) -> kiln_libos::fs::Result<alloc::vec::Vec<u8>> {
    use kiln_libos::fs::{self, flags};
    let fd = fs::open(flags::AT_FDCWD, path, flags::O_RDONLY | flags::O_CLOEXEC, 0)?;
    let mut contents = alloc::vec::Vec::new();
    let mut chunk = [0u8; 4096];
    let result = loop {
        match fs::read(fd, &mut chunk, None) {
            Ok(0) => break Ok(contents),
            Ok(n) => contents.extend_from_slice(&chunk[..n]),
            Err(e) => break Err(e),
        }
    };
    // A read-only descriptor has nothing to flush: closing cannot fail in a
    // way that changes what was read.
    let _ = fs::close(fd);
    result
}
