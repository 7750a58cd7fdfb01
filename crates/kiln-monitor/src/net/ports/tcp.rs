//! One forwarded TCP connection: an accepted host socket spliced to a
//! smoltcp connection to the guest's port.
//!
//! Bytes move straight between the host socket and the smoltcp socket's
//! rings (64 KiB each way), so those rings are the only buffers: when one
//! is full the other side is not read, and the kernel's and the guest's
//! windows push back. A FIN on either side becomes a FIN on the other once
//! the data before it is through (a half-close works both ways); a reset
//! or a failure on either side resets the other.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsRawFd, RawFd};

use smoltcp::iface::{Context, SocketHandle, SocketSet};
use smoltcp::socket::tcp::{self, State};
use smoltcp::time::Duration;
use smoltcp::wire::{IpEndpoint, Ipv4Address};

/// Bytes of each smoltcp ring: the most that waits in the forwarder per
/// direction of a connection.
const RING: usize = 64 * 1024;

/// A connection the guest does not acknowledge for this long is reset
/// (smoltcp retransmits until then).
const ACK_TIMEOUT: Duration = Duration::from_secs(60);

/// Whether a connection still needs the loop.
#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    /// Still carrying bytes, or closing.
    Open,
    /// Over: drop it (its smoltcp socket can go).
    Done,
}

/// A host connection and its guest side.
pub struct Splice {
    host: TcpStream,
    handle: SocketHandle,
    local_port: u16,
    /// The host may have bytes (or EOF, or an error) for us.
    readable: bool,
    /// The host may take bytes.
    writable: bool,
    /// The poll reported a hang-up or an error: it stays reported, so the
    /// descriptor is polled no more; reads find out what it was.
    hung: bool,
    /// The host sent FIN, which went on to the guest.
    host_eof: bool,
    /// The guest sent FIN.
    guest_fin: bool,
    /// Its FIN went on to the host.
    host_shut: bool,
    /// The host socket will close with a reset.
    reset: bool,
}

impl Splice {
    /// Opens the guest side for `host` from `local` to the guest's `port`.
    pub fn connect(
        host: TcpStream,
        sockets: &mut SocketSet<'static>,
        cx: &mut Context,
        local: (Ipv4Address, u16),
        guest: (Ipv4Address, u16),
    ) -> Result<Self, tcp::ConnectError> {
        let mut socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; RING]),
            tcp::SocketBuffer::new(vec![0; RING]),
        );
        // We relay what the host wrote as it comes: holding it back for
        // a fuller segment only adds latency the host's sender chose not to.
        socket.set_nagle_enabled(false);
        socket.set_timeout(Some(ACK_TIMEOUT));
        // ACK at once: a guest that holds a small segment until its last
        // one is acknowledged (Nagle) would otherwise wait out smoltcp's
        // 10 ms delayed ACK (p99 35 ms at 50 connections; 2.4 ms without).
        socket.set_ack_delay(None);
        socket.connect(cx, IpEndpoint::from(guest), IpEndpoint::from(local))?;
        Ok(Self {
            host,
            handle: sockets.add(socket),
            local_port: local.1,
            readable: true,
            writable: true,
            hung: false,
            host_eof: false,
            guest_fin: false,
            host_shut: false,
            reset: false,
        })
    }

    /// The ephemeral port of the guest side, ours.
    pub fn local_port(&self) -> u16 {
        self.local_port
    }

    /// Its smoltcp socket.
    pub fn handle(&self) -> SocketHandle {
        self.handle
    }

    /// Whether the guest has yet to answer the SYN.
    pub fn handshaking(&self, sockets: &SocketSet<'static>) -> bool {
        sockets.get::<tcp::Socket>(self.handle).state() == State::SynSent
    }

    /// The host descriptor and the poll events it waits for, if any.
    pub fn interest(&self, sockets: &SocketSet<'static>) -> Option<(RawFd, i16)> {
        if self.hung {
            return None;
        }
        let socket = sockets.get::<tcp::Socket>(self.handle);
        let mut events = 0;
        if !self.host_eof && socket.can_send() {
            events |= libc::POLLIN;
        }
        if !self.writable && socket.can_recv() {
            events |= libc::POLLOUT;
        }
        // With no events, the poll still reports a hang-up or an error.
        Some((self.host.as_raw_fd(), events))
    }

    /// What the poll said about the host descriptor.
    pub fn ready(&mut self, revents: i16) {
        self.readable |= revents & (libc::POLLIN | libc::POLLERR | libc::POLLHUP) != 0;
        self.writable |= revents & (libc::POLLOUT | libc::POLLERR | libc::POLLHUP) != 0;
        self.hung |= revents & (libc::POLLERR | libc::POLLHUP) != 0;
    }

    /// Moves what can move both ways and follows the closing handshake.
    pub fn service(&mut self, sockets: &mut SocketSet<'static>) -> Progress {
        let socket = sockets.get_mut::<tcp::Socket>(self.handle);
        if matches!(
            socket.state(),
            State::CloseWait | State::LastAck | State::Closing | State::TimeWait
        ) {
            self.guest_fin = true;
        }
        // Nothing moves once the host's side is to be reset.
        if !self.reset
            && (self.pump_to_guest(socket).is_err() || self.pump_to_host(socket).is_err())
        {
            // One side failed: the other is reset. The host's socket is
            // dropped with the splice; the guest's stays until its RST is
            // out (see `settle`).
            socket.abort();
            self.reset_host();
            return Progress::Open;
        }
        if self.guest_fin && !self.host_shut && !socket.can_recv() {
            // Everything the guest sent before its FIN is with the host.
            self.host_shut = true;
            if self.host.shutdown(Shutdown::Write).is_err() {
                socket.abort();
                return Progress::Open;
            }
        }
        self.closing(socket)
    }

    /// Whether the connection is over once smoltcp has sent what it had:
    /// an abort (ours, or its timeout) leaves only its RST to go, and
    /// after that nothing, not even a guest frame, would bring the loop
    /// back to the connection, which would keep its port and rings.
    pub fn settle(&mut self, sockets: &mut SocketSet<'static>) -> Progress {
        let socket = sockets.get_mut::<tcp::Socket>(self.handle);
        self.closing(socket)
    }

    /// Follows the connection's end, once it is closed or in TIME-WAIT.
    fn closing(&mut self, socket: &tcp::Socket<'static>) -> Progress {
        match socket.state() {
            State::TimeWait if !socket.can_recv() => Progress::Done,
            State::Closed => {
                let graceful = self.guest_fin && self.host_eof && !self.reset;
                if !graceful {
                    // Reset by the guest, refused (nothing listens on the
                    // port), timed out, or aborted here.
                    self.reset_host();
                } else if socket.can_recv() {
                    // Both FINs are through, but the host has yet to take
                    // the guest's last bytes.
                    return Progress::Open;
                }
                // An abort's RST goes out before the socket forgets the
                // connection.
                if socket.remote_endpoint().is_none() {
                    Progress::Done
                } else {
                    Progress::Open
                }
            }
            _ => Progress::Open,
        }
    }

    /// Host bytes into the guest's ring; the host's FIN becomes ours.
    fn pump_to_guest(&mut self, socket: &mut tcp::Socket<'static>) -> io::Result<()> {
        while self.readable && !self.host_eof && socket.can_send() {
            let host = &mut self.host;
            let read = socket.send(|room| match host.read(room) {
                Ok(n) => (n, Ok(n)),
                Err(error) => (0, Err(error)),
            });
            match read {
                Ok(Ok(0)) => {
                    self.host_eof = true;
                    socket.close();
                }
                Ok(Ok(_)) => {}
                Ok(Err(error)) => match error.kind() {
                    io::ErrorKind::WouldBlock => self.readable = false,
                    io::ErrorKind::Interrupted => {}
                    _ => return Err(error),
                },
                // Not sendable in this state: nothing to move.
                Err(_) => break,
            }
        }
        Ok(())
    }

    /// The guest's bytes from its ring to the host.
    fn pump_to_host(&mut self, socket: &mut tcp::Socket<'static>) -> io::Result<()> {
        while self.writable && socket.can_recv() {
            let host = &mut self.host;
            let written = socket.recv(|data| match host.write(data) {
                Ok(n) => (n, Ok(n)),
                Err(error) => (0, Err(error)),
            });
            match written {
                Ok(Ok(_)) => {}
                Ok(Err(error)) => match error.kind() {
                    io::ErrorKind::WouldBlock => self.writable = false,
                    io::ErrorKind::Interrupted => {}
                    _ => return Err(error),
                },
                Err(_) => break,
            }
        }
        Ok(())
    }

    /// Makes the host see a reset, as the guest's side did.
    fn reset_host(&mut self) {
        if !self.reset {
            self.reset = true;
            reset_on_close(&self.host);
        }
        self.hung = true;
        self.host_eof = true;
        self.host_shut = true;
    }
}

/// Makes closing `host` send a reset instead of a FIN (`SO_LINGER` 0): a
/// connection over the bound, or one whose guest side was reset.
pub fn reset_on_close(host: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket and a `linger` of the size given. A failure
    // leaves a FIN instead, which still ends the connection.
    unsafe {
        libc::setsockopt(
            host.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}
