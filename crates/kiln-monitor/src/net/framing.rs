//! The read side of passt's stream protocol, used at both ends of a frame
//! socket (the device's backend and the `--net ports` forwarder): each
//! Ethernet frame behind its length, 4 bytes big-endian, read without
//! blocking into a buffer that keeps a partial frame for the next read.

use std::io;
use std::ops::Range;
use std::os::fd::RawFd;

use super::backend::MAX_FRAME;

/// Bytes of the length prefix.
pub const PREFIX: usize = 4;

/// Frames read from a stream socket.
pub struct FrameReader {
    /// Bytes read; frames start at `start`, and `end` bytes are valid.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The most `buf` grows to while frames wait unread.
    limit: usize,
    /// Something was ever read.
    heard: bool,
    /// Who writes the stream, for error messages.
    peer: &'static str,
}

impl FrameReader {
    /// A reader of what `peer` writes, holding up to `limit` bytes (at
    /// least room for a whole frame behind a partial one).
    pub fn new(peer: &'static str, limit: usize) -> Self {
        let room = 2 * (PREFIX + MAX_FRAME);
        Self {
            buf: vec![0; room],
            start: 0,
            end: 0,
            limit: limit.max(room),
            heard: false,
            peer,
        }
    }

    /// Whether the peer has ever sent anything.
    pub fn heard(&self) -> bool {
        self.heard
    }

    /// Where the next complete frame lies in the buffer, if one does. A
    /// length over [`MAX_FRAME`] means the stream is out of step: nothing
    /// after it can be trusted.
    fn buffered(&self) -> io::Result<Option<Range<usize>>> {
        let have = &self.buf[self.start..self.end];
        let Some(prefix) = have.first_chunk::<PREFIX>() else {
            return Ok(None);
        };
        let len = u32::from_be_bytes(*prefix) as usize;
        if len > MAX_FRAME {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} sent a {len}-byte frame (the most is {MAX_FRAME})",
                    self.peer
                ),
            ));
        }
        let at = self.start + PREFIX;
        Ok((have.len() >= PREFIX + len).then_some(at..at + len))
    }

    /// Whether a complete frame is buffered (an out-of-step stream counts:
    /// reading it reports the error).
    pub fn has_frame(&self) -> bool {
        !matches!(self.buffered(), Ok(None))
    }

    /// The next frame, reading `fd` if none is buffered; it stays until
    /// [`consume`](Self::consume), and may be changed in place meanwhile.
    /// `None` when none has arrived.
    pub fn peek(&mut self, fd: RawFd) -> io::Result<Option<&mut [u8]>> {
        loop {
            if let Some(frame) = self.buffered()? {
                return Ok(Some(&mut self.buf[frame]));
            }
            if !self.fill(fd)? {
                return Ok(None);
            }
        }
    }

    /// Drops the frame [`peek`](Self::peek) returned.
    pub fn consume(&mut self) {
        if let Ok(Some(frame)) = self.buffered() {
            self.start = frame.end;
        }
    }

    /// Consumes the frame [`peek`](Self::peek) returned, and returns it:
    /// its bytes stay until the next read.
    pub fn take(&mut self) -> &[u8] {
        match self.buffered() {
            Ok(Some(frame)) => {
                self.start = frame.end;
                &self.buf[frame]
            }
            _ => &[],
        }
    }

    /// Reads what `fd` has, without blocking. Returns whether anything
    /// came (false also when `limit` bytes wait already); the peer
    /// closing is `UnexpectedEof`.
    pub fn fill(&mut self, fd: RawFd) -> io::Result<bool> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            if self.buf.len() >= self.limit {
                return Ok(false);
            }
            self.buf.resize((self.buf.len() * 2).min(self.limit), 0);
        }
        let room = &mut self.buf[self.end..];
        // SAFETY: `room` is a valid writable buffer of the given length.
        let n = unsafe { libc::recv(fd, room.as_mut_ptr().cast(), room.len(), libc::MSG_DONTWAIT) };
        match n {
            0 => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{} closed the connection", self.peer),
            )),
            n if n > 0 => {
                self.end += n as usize;
                self.heard = true;
                Ok(true)
            }
            _ => {
                let error = io::Error::last_os_error();
                match error.kind() {
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(false),
                    _ => Err(error),
                }
            }
        }
    }
}
