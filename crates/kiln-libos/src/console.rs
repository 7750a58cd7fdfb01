//! The console: `print!`/`println!` to standard output, `eprint!`/`eprintln!`
//! to standard error.
//!
//! Every console write is a VM exit, so standard output is line-buffered:
//! a `println!` costs one exit however it is formatted, and several lines
//! printed by one call still cost one. Partial lines go out when the buffer
//! fills, on [`flush`], before the program idles, and at exit. Standard
//! error is written at the end of every call.

use core::cell::UnsafeCell;
use core::fmt::{self, Write};

use kiln_abi::hypercall::stream;

use crate::platform;
use crate::preempt::{Holder, NoPreempt};

/// Standard output's line buffer. Standard error's is small: it is flushed
/// after every call anyway, and together they must fit in one page of
/// `.bss` (each page the guest touches costs a fault on boot).
const STDOUT_BUFFER: usize = 2048;
const STDERR_BUFFER: usize = 256;

/// Stream `ID`'s buffer of `N` bytes. The id is a parameter, not a field,
/// so the buffers' statics are all zeros: in `.bss`, not in the image.
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

    fn has_newline(&self) -> bool {
        self.buf[..self.len].contains(&b'\n')
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

/// A console stream shared by every thread on every vCPU: a buffer behind
/// a spinlock that records which vCPU holds it ([`Holder`]). It is held
/// with preemption disabled, so the only re-entry on the holding vCPU is a
/// panic while printing, which becomes an unbuffered write instead of a
/// deadlock.
struct Shared<const ID: u32, const N: usize> {
    holder: Holder,
    stream: UnsafeCell<Stream<ID, N>>,
}

#[allow(unsafe_code)]
// SAFETY: the stream is only reached by the vCPU that holds `holder`.
unsafe impl<const ID: u32, const N: usize> Sync for Shared<ID, N> {}

impl<const ID: u32, const N: usize> Shared<ID, N> {
    const fn new() -> Self {
        Self {
            holder: Holder::new(),
            stream: UnsafeCell::new(Stream::new()),
        }
    }

    /// Runs `f` on the buffer, or returns false (running nothing) when this
    /// vCPU already holds it.
    #[allow(unsafe_code)]
    fn with(&self, f: impl FnOnce(&mut Stream<ID, N>)) -> bool {
        let _section = NoPreempt::new();
        if !self.holder.acquire() {
            return false;
        }
        // SAFETY: this vCPU holds the stream (above) until it releases it.
        f(unsafe { &mut *self.stream.get() });
        self.holder.release();
        true
    }

    fn print(&self, args: fmt::Arguments<'_>, flush_now: bool) {
        // Formatting into the buffer cannot fail; a Display impl that returns
        // an error just ends its own output, as in std.
        let buffered = self.with(|stream| {
            let _ = stream.write_fmt(args);
            if flush_now || stream.has_newline() {
                stream.flush();
            }
        });
        if !buffered {
            let mut direct = Stream::<ID, STDERR_BUFFER>::new();
            let _ = direct.write_fmt(args);
            direct.flush();
        }
    }
}

static STDOUT: Shared<{ stream::STDOUT }, STDOUT_BUFFER> = Shared::new();
static STDERR: Shared<{ stream::STDERR }, STDERR_BUFFER> = Shared::new();

/// Flushes buffered standard output.
pub fn flush() {
    STDOUT.with(Stream::flush);
}

#[doc(hidden)]
pub fn _print(args: fmt::Arguments<'_>) {
    STDOUT.print(args, false);
}

#[doc(hidden)]
pub fn _eprint(args: fmt::Arguments<'_>) {
    STDERR.print(args, true);
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
