//! The console: `print!`/`println!` to standard output, `eprint!`/`eprintln!`
//! to standard error, and the descriptors that name them (`write(1, …)`).
//!
//! A VM exit costs 10-30 µs here, more than formatting a line, so standard
//! output goes into a ring in guest memory that the monitor empties on its
//! own schedule ([`kiln_abi::hypercall::ConsoleRing`]): before the guest's
//! other console writes, before a vCPU idles, every few milliseconds while
//! the guest computes, and when the VM ends, however it ends (exit, panic,
//! CPU exception, out of memory, timeout), before any crash report. A
//! write costs a copy; only one that finds the ring full is a VM exit,
//! which hands the monitor the bytes and has it empty the ring first.
//!
//! Standard error is not buffered, as on Linux: each call is one
//! `ConsoleWrite`, which the monitor writes after what the ring holds, so
//! a program's writes to both streams reach a shared terminal or pipe in
//! the order it made them.

use core::cell::UnsafeCell;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU64, Ordering};

use kiln_abi::hypercall::{CONSOLE_RING_SIZE, ConsoleRing, stream};

use crate::platform;
use crate::preempt::{Holder, NoPreempt};

/// Standard error's buffer: one `eprintln!` of up to this many bytes is one
/// exit (formatting calls `write_str` once per piece).
const STDERR_BUFFER: usize = 256;

/// Bytes on their way to `ConsoleWrite` calls on stream `ID`, `N` at a time.
/// The id is a parameter, not a field, so the buffers' statics are all
/// zeros: in `.bss`, not in the image.
struct Stream<const ID: u32, const N: usize> {
    len: usize,
    buf: [u8; N],
}

impl<const ID: u32, const N: usize> Stream<ID, N> {
    const fn new() -> Self {
        Self {
            len: 0,
            buf: [0; N],
        }
    }

    fn flush(&mut self) {
        if self.len > 0 {
            platform::console_write(ID, &self.buf[..self.len]);
            self.len = 0;
        }
    }
}

impl<const ID: u32, const N: usize> Write for Stream<ID, N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut bytes = s.as_bytes();
        while !bytes.is_empty() {
            if self.len == N {
                self.flush();
            }
            let take = bytes.len().min(N - self.len);
            self.buf[self.len..self.len + take].copy_from_slice(&bytes[..take]);
            self.len += take;
            bytes = &bytes[take..];
        }
        Ok(())
    }
}

/// Standard output's producer end of the ring the monitor empties
/// (transparent: its address is the ring's).
#[repr(transparent)]
struct Ring(UnsafeCell<ConsoleRing>);

impl Ring {
    const fn new() -> Self {
        Self(UnsafeCell::new(ConsoleRing {
            head: 0,
            tail: 0,
            data: [0; CONSOLE_RING_SIZE],
        }))
    }

    /// Appends `bytes`, or, when they do not fit, hands them to the monitor
    /// in a `ConsoleWrite`, which writes what the ring holds first.
    #[allow(unsafe_code)]
    fn append(&mut self, bytes: &[u8]) {
        let ring = self.0.get();
        // SAFETY: `head` is the guest's to write and `tail` the monitor's;
        // both are aligned words in this static, read and written whole.
        let (head, tail) = unsafe {
            (
                AtomicU64::from_ptr(&raw mut (*ring).head),
                AtomicU64::from_ptr(&raw mut (*ring).tail),
            )
        };
        let at = head.load(Ordering::Relaxed);
        let free = CONSOLE_RING_SIZE - at.wrapping_sub(tail.load(Ordering::Acquire)) as usize;
        if bytes.len() > free {
            platform::console_write(stream::STDOUT, bytes);
            return;
        }
        let start = at as usize % CONSOLE_RING_SIZE;
        let first = bytes.len().min(CONSOLE_RING_SIZE - start);
        // SAFETY: both ranges are inside `data` (`start + first` and
        // `bytes.len() - first` are at most its size), in the part of the
        // ring the monitor has written out (`bytes.len() <= free`), which it
        // does not read until `head` says so below.
        unsafe {
            let data = (&raw mut (*ring).data).cast::<u8>();
            core::ptr::copy_nonoverlapping(bytes.as_ptr(), data.add(start), first);
            core::ptr::copy_nonoverlapping(bytes[first..].as_ptr(), data, bytes.len() - first);
        }
        head.store(at + bytes.len() as u64, Ordering::Release);
    }
}

impl Write for Ring {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.append(s.as_bytes());
        Ok(())
    }
}

/// A console stream shared by every thread on every vCPU: a buffer behind
/// a spinlock that records which vCPU holds it ([`Holder`]). It is held
/// with preemption disabled, so the only re-entry on the holding vCPU is a
/// panic while printing, which becomes an unbuffered write instead of a
/// deadlock.
struct Shared<S> {
    holder: Holder,
    stream: UnsafeCell<S>,
}

#[allow(unsafe_code)]
// SAFETY: the stream is only reached by the vCPU that holds `holder`.
unsafe impl<S> Sync for Shared<S> {}

impl<S: Write> Shared<S> {
    const fn new(stream: S) -> Self {
        Self {
            holder: Holder::new(),
            stream: UnsafeCell::new(stream),
        }
    }

    /// Runs `f` on the buffer, or returns false (running nothing) when this
    /// vCPU already holds it.
    #[allow(unsafe_code)]
    fn with(&self, f: impl FnOnce(&mut S)) -> bool {
        let _section = NoPreempt::new();
        if !self.holder.acquire() {
            return false;
        }
        // SAFETY: this vCPU holds the stream (above) until it releases it.
        f(unsafe { &mut *self.stream.get() });
        self.holder.release();
        true
    }

    /// Formats `args` into the stream, then runs `done` on it; when this
    /// vCPU already holds the stream (a panic while printing), writes them
    /// with `ConsoleWrite`s instead.
    fn print<const ID: u32>(&self, args: fmt::Arguments<'_>, done: impl FnOnce(&mut S)) {
        // Formatting cannot fail; a Display impl that returns an error just
        // ends its own output, as in std.
        let buffered = self.with(|stream| {
            let _ = stream.write_fmt(args);
            done(stream);
        });
        if !buffered {
            let mut direct = Stream::<ID, STDERR_BUFFER>::new();
            let _ = direct.write_fmt(args);
            direct.flush();
        }
    }
}

static STDOUT: Shared<Ring> = Shared::new(Ring::new());
static STDERR: Shared<Stream<{ stream::STDERR }, STDERR_BUFFER>> = Shared::new(Stream::new());

/// Names standard output's ring to the monitor; until then (the first
/// instructions of the boot) every console write is a `ConsoleWrite`.
pub(crate) fn install() {
    platform::set_console_ring(STDOUT.stream.get().cast::<Ring>().cast());
}

/// Writes `bytes` to console stream `id` (`write(1, …)`, `write(2, …)`).
pub fn write(id: u32, bytes: &[u8]) {
    if id == stream::STDOUT && STDOUT.with(|ring| ring.append(bytes)) {
        return;
    }
    platform::console_write(id, bytes);
}

#[doc(hidden)]
pub fn _print(args: fmt::Arguments<'_>) {
    STDOUT.print::<{ stream::STDOUT }>(args, |_| {});
}

#[doc(hidden)]
pub fn _eprint(args: fmt::Arguments<'_>) {
    STDERR.print::<{ stream::STDERR }>(args, Stream::flush);
}

/// Prints to standard output.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::console::_print(format_args!($($arg)*)) };
}

/// Prints a line to standard output.
#[macro_export]
macro_rules! println {
    () => { $crate::console::_print(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::console::_print(format_args!("{}\n", format_args!($($arg)*))) };
}

/// Prints to standard error.
#[macro_export]
macro_rules! eprint {
    ($($arg:tt)*) => { $crate::console::_eprint(format_args!($($arg)*)) };
}

/// Prints a line to standard error.
#[macro_export]
macro_rules! eprintln {
    () => { $crate::console::_eprint(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::console::_eprint(format_args!("{}\n", format_args!($($arg)*))) };
}
