//! The forwarder's end of the frame socket, as smoltcp's device.
//!
//! The stream is the one passt speaks (each Ethernet frame behind its
//! length, 4 bytes big-endian), so the vCPU's side is an unchanged
//! [`Passt::on_socket`](crate::net::passt::Passt::on_socket). Neither end
//! may wait for the other: the monitor writes the guest's frames with
//! blocking writes at its exits and reads ours only then, so this end
//! never blocks and always keeps reading. What smoltcp sends waits here,
//! at most [`OUTPUT_LIMIT`] bytes, until the socket takes it; meanwhile
//! smoltcp is told the link is busy and retransmits later (TCP's own
//! back-pressure), so no queue grows.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

use crate::net::backend::MAX_FRAME;
use crate::net::framing::{FrameReader, PREFIX};

/// Bytes of Ethernet header in front of the IP packet.
pub const ETHERNET_HEADER: usize = 14;

/// Outgoing bytes held while the monitor has not read the previous ones.
const OUTPUT_LIMIT: usize = 256 * 1024;

/// Guest frames handed to smoltcp per round of the event loop: a guest
/// that floods the link cannot starve the host's sockets.
pub const INGRESS_BUDGET: usize = 256;

/// The frame socket as a smoltcp device.
pub struct FrameLink {
    socket: OwnedFd,
    /// The largest frame, Ethernet header included, either way.
    max_frame: usize,
    /// What the monitor sends: the guest's frames.
    input: FrameReader,
    output: Output,
    /// Frames smoltcp may still take this round.
    budget: usize,
    /// The monitor's end is gone: the VM ended.
    closed: bool,
}

/// Frames to write, each behind its length; `sent` bytes of them are gone.
struct Output {
    buf: Vec<u8>,
    sent: usize,
    /// Where smoltcp writes a frame there is no room for (it is dropped, as
    /// a NIC drops frames on a full link).
    discard: Vec<u8>,
    max_frame: usize,
}

impl FrameLink {
    /// The forwarder's end of the socket; `mtu` is the guest's IP MTU.
    pub fn new(socket: OwnedFd, mtu: usize) -> Self {
        let max_frame = (mtu + ETHERNET_HEADER).min(MAX_FRAME);
        Self {
            socket,
            max_frame,
            // A fixed buffer: the monitor writes with blocking writes, so
            // the kernel's socket buffer holds what does not fit here.
            input: FrameReader::new("the monitor", 0),
            output: Output {
                buf: Vec::new(),
                sent: 0,
                discard: Vec::new(),
                max_frame,
            },
            budget: INGRESS_BUDGET,
            closed: false,
        }
    }

    /// The socket, for the event loop's poll.
    pub fn fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }

    /// Whether the VM has ended (the monitor's end closed).
    pub fn closed(&self) -> bool {
        self.closed
    }

    /// Whether frames wait for the socket to take them.
    pub fn pending(&self) -> bool {
        self.output.sent < self.output.buf.len()
    }

    /// Whether the queue is too full for another frame: smoltcp can send
    /// nothing until the socket drains.
    pub fn full(&self) -> bool {
        !self.output.has_room()
    }

    /// Whether a whole frame waits in our buffer (a round's budget ran
    /// out): the socket may be empty, so only a round without a wait
    /// takes it in.
    pub fn backlog(&self) -> bool {
        self.input.has_frame()
    }

    /// Starts a round: smoltcp may take [`INGRESS_BUDGET`] more frames.
    pub fn new_round(&mut self) {
        self.budget = INGRESS_BUDGET;
    }

    /// Queues a frame we built ourselves (the announcement at start).
    pub fn queue(&mut self, frame: &[u8]) {
        if let Some(room) = self.output.reserve(frame.len()) {
            room.copy_from_slice(frame);
        }
    }

    /// Writes what is queued, as far as the socket takes it now.
    pub fn flush(&mut self) {
        let output = &mut self.output;
        while output.sent < output.buf.len() {
            let rest = &output.buf[output.sent..];
            // SAFETY: `rest` is a valid readable buffer of the given length.
            let n = unsafe {
                libc::send(
                    self.socket.as_raw_fd(),
                    rest.as_ptr().cast(),
                    rest.len(),
                    libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                )
            };
            if n >= 0 {
                output.sent += n as usize;
                continue;
            }
            match io::Error::last_os_error().kind() {
                io::ErrorKind::Interrupted => {}
                io::ErrorKind::WouldBlock => {
                    // What was taken goes: while the monitor lags the
                    // queue never empties, and kept it would grow by all
                    // that was ever sent.
                    output.buf.drain(..output.sent);
                    output.sent = 0;
                    return;
                }
                _ => {
                    self.closed = true;
                    return;
                }
            }
        }
        output.buf.clear();
        output.sent = 0;
    }
}

impl Output {
    /// Room for a `len`-byte frame behind its prefix, if it fits the bound.
    fn reserve(&mut self, len: usize) -> Option<&mut [u8]> {
        if len > self.max_frame || self.buf.len() - self.sent + PREFIX + len > OUTPUT_LIMIT {
            return None;
        }
        self.buf.extend_from_slice(&(len as u32).to_be_bytes());
        let at = self.buf.len();
        self.buf.resize(at + len, 0);
        Some(&mut self.buf[at..])
    }

    /// Whether a frame of the largest size would fit now.
    fn has_room(&self) -> bool {
        self.buf.len() - self.sent + PREFIX + self.max_frame <= OUTPUT_LIMIT
    }
}

/// One received frame.
pub struct RxToken<'a>(&'a [u8]);

/// Room for one frame to send.
pub struct TxToken<'a>(&'a mut Output);

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        f(self.0)
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let output = self.0;
        if let Some(room) = output.reserve(len) {
            return f(room);
        }
        output.discard.clear();
        output.discard.resize(len, 0);
        f(&mut output.discard)
    }
}

impl phy::Device for FrameLink {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        loop {
            if self.budget == 0 || self.closed {
                return None;
            }
            let len = match self.input.peek(self.socket.as_raw_fd()) {
                Ok(Some(frame)) => frame.len(),
                Ok(None) => return None,
                // Gone, or a wrong prefix: the monitor writes the prefixes,
                // so the stream is broken and nothing after it is trusted.
                Err(_) => {
                    self.closed = true;
                    return None;
                }
            };
            self.budget -= 1;
            // A frame longer than the link's MTU allows is dropped, as a
            // NIC would; smoltcp never sees it.
            if len > self.max_frame {
                self.input.consume();
                continue;
            }
            return Some((RxToken(self.input.take()), TxToken(&mut self.output)));
        }
    }

    fn transmit(&mut self, _now: Instant) -> Option<TxToken<'_>> {
        (!self.closed && self.output.has_room()).then_some(TxToken(&mut self.output))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = self.max_frame;
        caps
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::os::unix::net::UnixStream;

    use super::*;

    /// A monitor that reads a little at a time never empties the queue:
    /// what it has taken must still be let go, or the buffer grows by
    /// everything ever sent.
    #[test]
    fn the_output_stays_bounded_while_the_monitor_lags() {
        let (ours, mut monitor) = UnixStream::pair().expect("socketpair");
        monitor.set_nonblocking(true).expect("non-blocking");
        let mut link = FrameLink::new(OwnedFd::from(ours), 1500);
        let frame = [7; 1000];
        let mut read = [0; 600];
        for _ in 0..5000 {
            if !link.full() {
                link.queue(&frame);
            }
            link.flush();
            let _ = monitor.read(&mut read);
            assert!(
                link.output.buf.len() <= OUTPUT_LIMIT,
                "{} bytes held",
                link.output.buf.len()
            );
        }
        assert!(link.pending(), "the monitor lagged throughout");
    }
}
