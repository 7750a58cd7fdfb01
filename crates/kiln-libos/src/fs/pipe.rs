//! Pipes within the program: a bounded byte queue between descriptors.

use alloc::collections::VecDeque;

/// Linux's default pipe capacity.
pub const CAPACITY: usize = 64 * 1024;

/// Writes of up to this many bytes are atomic: all of it goes in at once,
/// never interleaved with another writer's, or none of it (POSIX `PIPE_BUF`).
pub const PIPE_BUF: usize = 4096;

/// One pipe.
pub struct Pipe {
    bytes: VecDeque<u8>,
    /// Open read ends.
    pub readers: u32,
    /// Open write ends.
    pub writers: u32,
    /// Counts changes (reads, writes, closed ends), for edge-triggered epoll.
    pub changes: u64,
}

impl Pipe {
    /// A pipe with one read end and one write end open.
    pub fn new() -> Self {
        Self {
            bytes: VecDeque::new(),
            readers: 1,
            writers: 1,
            changes: 0,
        }
    }

    /// Moves buffered bytes into `buf`.
    pub fn take(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.bytes.len());
        for (slot, byte) in buf.iter_mut().zip(self.bytes.drain(..n)) {
            *slot = byte;
        }
        n
    }

    /// Buffers as much of `data` as fits.
    pub fn put(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(CAPACITY - self.bytes.len());
        self.bytes.extend(&data[..n]);
        n
    }

    /// Bytes waiting to be read.
    pub fn buffered(&self) -> usize {
        self.bytes.len()
    }

    /// Whether a write would buffer something now.
    pub fn has_room(&self) -> bool {
        self.bytes.len() < CAPACITY
    }

    /// Whether a write of `len` bytes can go ahead now: one of up to
    /// [`PIPE_BUF`] bytes needs room for all of it, a larger one for some.
    pub fn takes_now(&self, len: usize) -> bool {
        let room = CAPACITY - self.bytes.len();
        match len {
            0 => true,
            1..=PIPE_BUF => room >= len,
            _ => room > 0,
        }
    }

    /// The scheduler wait key for threads blocked on this pipe: its own
    /// address, so no other waiter shares it.
    pub fn key(&self) -> usize {
        self as *const Self as usize
    }
}
