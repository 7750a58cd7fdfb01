//! Descriptor 0: the host's stdin, read through the monitor in large chunks.
//!
//! Every `StdinRead` hypercall is a VM exit (10-30 µs), so small reads are
//! served from a 64 KiB buffer filled by one call, and reads of at least
//! that much go straight into the caller's buffer. The monitor never waits:
//! with nothing there yet, a blocking read waits in the scheduler like a
//! pipe read, and the scheduler's `Block` asks the monitor to wake it when
//! stdin becomes readable ([`watched`], [`ready`]), so other threads run.
//!
//! A zero-byte answer is kept until a read takes it: a `poll` that found
//! end of file must not swallow it (a terminal's end of file, Ctrl-D,
//! comes once, and the terminal can be read again afterwards).

use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::preempt::Lock;
use kiln_abi::errno::EAGAIN;

use super::events::{POLLERR, POLLHUP, POLLIN};
use super::{Errno, Result, Step};
use crate::platform;

/// Bytes one refill asks for.
const CHUNK: usize = 64 * 1024;

/// What the monitor gave and no read has taken yet.
struct Buffer {
    bytes: Vec<u8>,
    start: usize,
    end: usize,
    /// An end of file or error found while filling, for the next read.
    pending: Option<Result<usize>>,
    /// The host's `poll` bits at the last answer.
    revents: i16,
}

static BUFFER: Lock<Buffer> = Lock::new(Buffer {
    bytes: Vec::new(),
    start: 0,
    end: 0,
    pending: None,
    revents: 0,
});

/// A thread waits for stdin (a read, or a `poll` that found nothing).
static WATCHED: AtomicBool = AtomicBool::new(false);

/// The key readers of an empty stdin wait on.
static KEY: u8 = 0;

fn key() -> usize {
    &raw const KEY as usize
}

/// One `StdinRead` into `into`: bytes, 0 at end of file, `EAGAIN` for
/// nothing yet, or the host's error.
fn ask_monitor(into: &mut [u8], revents: &mut i16) -> Result<usize> {
    let (result, bits) = platform::stdin_read(into);
    *revents = bits as i16;
    answer(result).map(|n| n.min(into.len()))
}

/// A `StdinRead` result as a byte count or an error. The count is never
/// more than asked: the monitor is trusted, the check is cheap.
fn answer(result: i64) -> Result<usize> {
    usize::try_from(result).map_err(|_| Errno(result.unsigned_abs().min(4095) as i32))
}

impl Buffer {
    fn buffered(&self) -> usize {
        self.end - self.start
    }

    fn take(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.buffered());
        buf[..n].copy_from_slice(&self.bytes[self.start..self.start + n]);
        self.start += n;
        n
    }

    /// Asks the monitor for a chunk; `Ok(true)` if bytes came. The chunk
    /// is reserved, not zeroed: its pages are first touched (~10 µs each
    /// here) only by the bytes that come, and std's start-up polls stdin.
    fn fill(&mut self) -> Result<bool> {
        self.bytes.clear();
        let (result, revents) = platform::stdin_read_append(&mut self.bytes, CHUNK);
        self.revents = revents as i16;
        let result = answer(result);
        match result {
            Ok(0) => {
                self.pending = Some(Ok(0));
                Ok(false)
            }
            Ok(n) => {
                self.start = 0;
                self.end = n.min(self.bytes.len());
                Ok(true)
            }
            Err(Errno(EAGAIN)) => Err(Errno(EAGAIN)),
            Err(e) => {
                self.pending = Some(Err(e));
                Ok(false)
            }
        }
    }
}

/// `read(2)` on descriptor 0.
pub(super) fn read(buf: &mut [u8], nonblocking: bool) -> Step<usize> {
    // As Linux for a pipe or terminal: asking for nothing returns at once.
    if buf.is_empty() {
        return Step::Done(Ok(0));
    }
    let mut state = BUFFER.lock();
    if state.buffered() > 0 {
        return Step::Done(Ok(state.take(buf)));
    }
    if let Some(result) = state.pending.take() {
        return Step::Done(result);
    }
    let result = if buf.len() >= CHUNK {
        let mut revents = 0;
        let result = ask_monitor(buf, &mut revents);
        state.revents = revents;
        result
    } else {
        match state.fill() {
            Ok(true) => Ok(state.take(buf)),
            Ok(false) => state.pending.take().unwrap_or(Ok(0)),
            Err(e) => Err(e),
        }
    };
    match result {
        Err(Errno(EAGAIN)) if !nonblocking => {
            WATCHED.store(true, Ordering::Relaxed);
            Step::Block(key())
        }
        result => Step::Done(result),
    }
}

/// `poll` readiness of descriptor 0: `POLLIN` with bytes (or an end of
/// file) to read, and the host's `POLLHUP`/`POLLERR`.
pub(super) fn poll(wanted: i16) -> i16 {
    let mut state = BUFFER.lock();
    let ready = state.buffered() > 0 || state.pending.is_some() || state.fill().is_ok();
    if !ready {
        WATCHED.store(true, Ordering::Relaxed);
        return 0;
    }
    let hangup = state.revents & (POLLHUP | POLLERR);
    // As Linux: a pipe whose writers are gone and which is drained
    // reports only `POLLHUP`.
    let readable = state.buffered() > 0 || hangup == 0 || state.pending != Some(Ok(0));
    (if readable { wanted & POLLIN } else { 0 }) | hangup
}

/// Whether a thread waits for stdin: the scheduler's `Block` then wakes
/// when it becomes readable.
pub fn watched() -> bool {
    WATCHED.load(Ordering::Relaxed)
}

/// The monitor found stdin readable: its readers and pollers look again.
pub fn ready() {
    WATCHED.store(false, Ordering::Relaxed);
    super::wake_pipe_waiters(key());
}
