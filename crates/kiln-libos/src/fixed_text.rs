//! Formatting without the heap: into a fixed buffer, cut off when full. For
//! messages written when the heap may be what failed (panics, stack
//! overflows), or where allocating is not allowed (tracing the allocator's
//! callers).

use core::fmt;

/// Text formatted into `N` bytes; whatever does not fit is dropped.
pub struct FixedText<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> FixedText<N> {
    /// Empty text.
    pub const fn new() -> Self {
        Self {
            buf: [0; N],
            len: 0,
        }
    }

    /// The text written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Makes the text end with a line break, over its last byte if the
    /// buffer is full: a cut-off line still ends.
    pub fn end_line(&mut self) {
        if self.len == N && N > 0 {
            self.buf[N - 1] = b'\n';
        } else if self.len < N {
            self.buf[self.len] = b'\n';
            self.len += 1;
        }
    }
}

impl<const N: usize> Default for FixedText<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Write for FixedText<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let take = s.len().min(N - self.len);
        self.buf[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
        Ok(())
    }
}
