//! Socket records and their operations over smoltcp's sockets.
//!
//! A stream socket is first `Fresh` (maybe bound), then either listening
//! (a set of smoltcp sockets in LISTEN, one per backlog slot, re-armed as
//! connections are accepted, since a smoltcp socket is one connection) or
//! one connection. A datagram socket gets its smoltcp socket when bound
//! (explicitly, or at its first send or receive).
//!
//! An `AF_INET6` socket is dual-stack unless `IPV6_V6ONLY` is set, as
//! with Linux's default `bindv6only = 0`: it reaches IPv4 peers through
//! IPv4-mapped addresses (`::ffff:a.b.c.d`). Addresses are kept as the
//! stack sees them (a mapped address as the IPv4 one) and shown to the
//! program as its socket's family has them ([`Socket::shown`]). The
//! guest's one IPv6 address is `::1`: IPv6 reaches the guest itself; the
//! network is IPv4.

use alloc::vec;
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use kiln_abi::errno::*;
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::{tcp, udp};
use smoltcp::time::Duration;
use smoltcp::wire::{IpAddress, IpEndpoint, IpListenEndpoint};

use super::{Net, SocketId};
use crate::fd::events::*;
use crate::fd::{Errno, Result};

/// The first ephemeral port, as Linux's `ip_local_port_range`.
pub const EPHEMERAL_FIRST: u16 = 32768;
/// The last ephemeral port.
pub const EPHEMERAL_LAST: u16 = 60999;

/// Bytes buffered in each direction of a TCP connection. smoltcp's
/// buffers are allocated whole when the socket is made (Linux's grow with
/// the data), so they set what a connection costs: 64 KiB here, a hundred
/// connections in 8 MiB. A window of 32 KiB still fills the round trips
/// through the monitor. Above 64 KiB smoltcp 0.14 would scale its window,
/// and under eight concurrent echo clients it once accepted more data than
/// its buffer held (a panic in its ring buffer).
const TCP_BUFFER: usize = 32 * 1024;

/// The smallest buffers a connection gets when memory runs short: a few
/// segments each way.
const MIN_TCP_BUFFER: usize = 4 * 1024;

/// Datagrams and bytes buffered in each direction of a UDP socket.
const UDP_PACKETS: usize = 64;
const UDP_BUFFER: usize = 64 * 1024;

/// The most connections a listening socket holds before `accept`, as
/// Linux's `somaxconn`; guest memory usually bounds them first (each has
/// its buffers), and then further connections are refused, not crashed on.
const MAX_BACKLOG: usize = 4096;

/// How long a closed connection may wait for its peer before it is dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a listener's connection may wait for the peer to finish its
/// handshake (Linux gives up after five SYN-ACKs, about a minute). smoltcp
/// resends a SYN-ACK forever otherwise: SYNs that are never completed
/// would fill the backlog for good, and the port would refuse everyone.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

// Option levels and names (Linux's).
const SOL_SOCKET: i32 = 1;
const IPPROTO_TCP: i32 = 6;
const IPPROTO_IPV6: i32 = 41;
const IPV6_V6ONLY: i32 = 26;
const SO_TYPE: i32 = 3;
const SO_ERROR: i32 = 4;
const SO_SNDBUF: i32 = 7;
const SO_RCVBUF: i32 = 8;
const SO_KEEPALIVE: i32 = 9;
const SO_ACCEPTCONN: i32 = 30;
const TCP_NODELAY: i32 = 1;
const SOCK_STREAM: i32 = 1;
const SOCK_DGRAM: i32 = 2;

/// The keep-alive interval `SO_KEEPALIVE` turns on (Linux waits two hours
/// before the first probe; smoltcp has one interval).
const KEEPALIVE: Duration = Duration::from_secs(75);

/// What a socket carries.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// TCP.
    Stream,
    /// UDP.
    Datagram,
}

/// An address family.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Family {
    /// `AF_INET`.
    V4,
    /// `AF_INET6`.
    V6,
}

/// Which directions `shutdown` closes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Shutdown {
    /// `SHUT_RD`.
    Read,
    /// `SHUT_WR`.
    Write,
    /// `SHUT_RDWR`.
    Both,
}

/// The outcome of one try at an operation.
pub enum Io<T> {
    Done(Result<T>),
    /// It would block: wait for the socket to change.
    Again,
}

enum State {
    /// Not listening or connected; `local` says whether it is bound.
    Fresh,
    /// Listening on `local`'s port: connections in their handshake or
    /// waiting for `accept`, oldest first, and last the socket in LISTEN
    /// that takes the next SYN (see [`arm`]).
    Listening(Vec<SocketHandle>),
    /// A connection, being made (`connecting`) or made.
    Connection(SocketHandle),
    /// A bound UDP socket.
    Datagram(SocketHandle),
}

/// A socket.
pub struct Socket {
    kind: Kind,
    family: Family,
    /// `IPV6_V6ONLY`: an IPv6 socket that does not reach IPv4.
    v6only: bool,
    state: State,
    /// The address it was bound to (explicitly, or implicitly by `listen`,
    /// `connect` or a first datagram), as the stack sees it.
    local: Option<SocketAddr>,
    /// A datagram socket's `connect`ed peer, as the stack sees it.
    peer: Option<SocketAddr>,
    /// A connection started but not yet established or refused.
    connecting: bool,
    /// The pending error `SO_ERROR` reports (0: none).
    error: i32,
    /// A listening socket's most connections waiting for `accept`.
    backlog: usize,
    read_shut: bool,
    /// The program shut its writing half (`shutdown`).
    write_shut: bool,
    /// The connection's end (refused, or reset) was reported.
    ended: bool,
    nodelay: bool,
    keepalive: bool,
    recv_timeout: Option<u64>,
    send_timeout: Option<u64>,
    /// Other integer options, stored so `getsockopt` returns what was set.
    options: Vec<((i32, i32), i32)>,
}

/// An address as the stack sees it: an IPv4-mapped IPv6 address is the
/// IPv4 one.
fn unmapped(address: SocketAddr) -> SocketAddr {
    match address {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(ip) => SocketAddr::V4(SocketAddrV4::new(ip, v6.port())),
            None => address,
        },
        SocketAddr::V4(_) => address,
    }
}

fn ip_address(ip: IpAddr) -> IpAddress {
    match ip {
        IpAddr::V4(ip) => IpAddress::Ipv4(ip),
        IpAddr::V6(ip) => IpAddress::Ipv6(ip),
    }
}

fn endpoint(address: SocketAddr) -> IpEndpoint {
    IpEndpoint::new(ip_address(address.ip()), address.port())
}

fn address(endpoint: IpEndpoint) -> SocketAddr {
    let ip = match endpoint.addr {
        IpAddress::Ipv4(ip) => IpAddr::V4(ip),
        IpAddress::Ipv6(ip) => IpAddr::V6(ip),
    };
    SocketAddr::new(ip, endpoint.port)
}

/// The unspecified address of `family`, port 0.
fn unspecified(family: Family) -> SocketAddr {
    match family {
        Family::V4 => SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)),
        Family::V6 => SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, 0, 0, 0)),
    }
}

/// A TCP socket, with buffers of [`TCP_BUFFER`] while memory is plentiful
/// and smaller ones (down to [`MIN_TCP_BUFFER`]) as it runs short, or
/// `ENOBUFS` when it cannot spare even those: a server under a burst of
/// connections serves them more slowly, then refuses some, instead of
/// ending the program.
///
/// On the loopback alone (`immediate_acks`) ACKs are not delayed: one
/// costs no exit there, and a socket dropped as it reaches TIME-WAIT
/// (see [`finished`]) would take a delayed one with it, leaving its peer
/// in LAST-ACK until its FIN is resent and answered with a reset.
fn tcp_socket(immediate_acks: bool) -> Result<tcp::Socket<'static>> {
    let size = (crate::heap::spare() / 16).min(TCP_BUFFER) & !1023;
    if size < MIN_TCP_BUFFER {
        return Err(Errno(ENOBUFS));
    }
    let buffer = || {
        let mut bytes = Vec::new();
        bytes.try_reserve_exact(size).map_err(|_| Errno(ENOBUFS))?;
        bytes.resize(size, 0);
        Ok(tcp::SocketBuffer::new(bytes))
    };
    let mut socket = tcp::Socket::new(buffer()?, buffer()?);
    if immediate_acks {
        socket.set_ack_delay(None);
    }
    Ok(socket)
}

fn udp_socket() -> udp::Socket<'static> {
    let buffer = || {
        udp::PacketBuffer::new(
            vec![udp::PacketMetadata::EMPTY; UDP_PACKETS],
            vec![0; UDP_BUFFER],
        )
    };
    udp::Socket::new(buffer(), buffer())
}

/// Whether a closed connection's smoltcp socket can go. An aborted one
/// (a connection a closed listener had not handed out) still has its
/// reset to send while it knows its peer: removed before an egress pass,
/// it would leave the peer waiting on a connection that is gone.
pub fn finished(set: &SocketSet<'_>, handle: SocketHandle) -> bool {
    let socket = set.get::<tcp::Socket>(handle);
    match socket.state() {
        tcp::State::TimeWait => true,
        tcp::State::Closed => socket.remote_endpoint().is_none(),
        _ => false,
    }
}

/// A connection ready for `accept`: past the handshake (it may already be
/// closed by the peer, with data to read).
fn accepted(socket: &tcp::Socket<'_>) -> bool {
    !matches!(
        socket.state(),
        tcp::State::Listen | tcp::State::SynReceived | tcp::State::Closed
    )
}

impl Socket {
    /// A fresh socket.
    pub fn new(kind: Kind, family: Family) -> Self {
        Self {
            kind,
            family,
            v6only: false,
            state: State::Fresh,
            local: None,
            peer: None,
            connecting: false,
            error: 0,
            backlog: 0,
            read_shut: false,
            write_shut: false,
            ended: false,
            nodelay: false,
            keepalive: false,
            recv_timeout: None,
            send_timeout: None,
            options: Vec::new(),
        }
    }

    /// `address` (as the stack sees it) as this socket's family shows it:
    /// an IPv6 socket sees IPv4 peers at IPv4-mapped addresses.
    pub fn shown(&self, address: SocketAddr) -> SocketAddr {
        match (self.family, address) {
            (Family::V6, SocketAddr::V4(v4)) => {
                SocketAddr::V6(SocketAddrV6::new(v4.ip().to_ipv6_mapped(), v4.port(), 0, 0))
            }
            _ => address,
        }
    }

    /// Whether the socket can reach `address` (as the stack sees it).
    fn reaches(&self, address: SocketAddr) -> bool {
        match self.family {
            Family::V4 => address.is_ipv4(),
            Family::V6 => address.is_ipv6() || !self.v6only,
        }
    }

    /// `address` from the program, as the stack sees it: `EAFNOSUPPORT`
    /// for the other family's, `ENETUNREACH` for an IPv4-mapped one on an
    /// IPv6-only socket.
    fn accept_address(&self, address: SocketAddr) -> Result<SocketAddr> {
        match (self.family, address) {
            (Family::V4, SocketAddr::V6(_)) | (Family::V6, SocketAddr::V4(_)) => {
                Err(Errno(EAFNOSUPPORT))
            }
            _ => {
                let address = unmapped(address);
                if self.reaches(address) {
                    Ok(address)
                } else {
                    Err(Errno(ENETUNREACH))
                }
            }
        }
    }

    /// What it carries.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The scheduler key its waiters wait on: its own address.
    pub fn key(&self) -> usize {
        self as *const Self as usize
    }

    /// `SO_RCVTIMEO`.
    pub fn recv_timeout(&self) -> Option<u64> {
        self.recv_timeout
    }

    /// `SO_SNDTIMEO`.
    pub fn send_timeout(&self) -> Option<u64> {
        self.send_timeout
    }

    /// Sets `SO_RCVTIMEO` or `SO_SNDTIMEO`.
    pub fn set_timeout(&mut self, receive: bool, timeout: Option<u64>) {
        if receive {
            self.recv_timeout = timeout;
        } else {
            self.send_timeout = timeout;
        }
    }

    /// Notes the end of a connection attempt (established, or refused:
    /// then `SO_ERROR` says so), or of a connection: one that is gone while
    /// this side still had its writing half open was reset (or timed out),
    /// which Linux reports once as `ECONNRESET`, then as end of file.
    fn settle(&mut self, set: &SocketSet<'_>) {
        let State::Connection(handle) = self.state else {
            return;
        };
        let state = set.get::<tcp::Socket>(handle).state();
        if self.connecting {
            match state {
                tcp::State::SynSent | tcp::State::SynReceived => {}
                tcp::State::Closed => {
                    self.connecting = false;
                    self.ended = true;
                    self.error = ECONNREFUSED;
                }
                _ => self.connecting = false,
            }
        } else if state == tcp::State::Closed && !self.write_shut && !self.ended {
            self.ended = true;
            self.error = ECONNRESET;
        }
    }

    /// Whether a connection attempt is still under way.
    fn is_connecting(&mut self, set: &mut SocketSet<'_>) -> bool {
        self.settle(set);
        self.connecting
    }

    /// Gives up the smoltcp sockets: they are closed and handed back, to
    /// be removed once their connections have ended.
    pub fn release(&self, set: &mut SocketSet<'static>) -> Vec<SocketHandle> {
        match &self.state {
            State::Fresh => Vec::new(),
            State::Datagram(handle) => {
                set.remove(*handle);
                Vec::new()
            }
            State::Connection(handle) => {
                let socket = set.get_mut::<tcp::Socket>(*handle);
                socket.close();
                socket.set_timeout(Some(CLOSE_TIMEOUT));
                vec![*handle]
            }
            // Connections not yet accepted are reset, as Linux does.
            State::Listening(handles) => {
                for &handle in handles {
                    set.get_mut::<tcp::Socket>(handle).abort();
                }
                handles.clone()
            }
        }
    }

    /// `getsockname`: the bound address, or the connection's own end.
    pub fn local_address(&self, set: &SocketSet<'_>, own: Ipv4Addr) -> SocketAddr {
        if let State::Connection(handle) = self.state
            && let Some(local) = set.get::<tcp::Socket>(handle).local_endpoint()
        {
            return self.shown(address(local));
        }
        let local = match (self.local, self.peer) {
            // A connected datagram socket's source towards an IPv4 peer.
            (Some(local), Some(SocketAddr::V4(peer))) if local.ip().is_unspecified() => {
                let ip = if peer.ip().is_loopback() {
                    Ipv4Addr::LOCALHOST
                } else {
                    own
                };
                SocketAddr::V4(SocketAddrV4::new(ip, local.port()))
            }
            (Some(local), Some(SocketAddr::V6(_))) if local.ip().is_unspecified() => {
                SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::LOCALHOST, local.port(), 0, 0))
            }
            (Some(local), _) => local,
            (None, _) => unspecified(self.family),
        };
        self.shown(local)
    }

    /// `getpeername`.
    pub fn peer_address(&self, set: &SocketSet<'_>) -> Result<SocketAddr> {
        let peer = match self.state {
            State::Connection(handle) if !self.connecting => set
                .get::<tcp::Socket>(handle)
                .remote_endpoint()
                .map(address),
            State::Datagram(_) | State::Fresh if self.kind == Kind::Datagram => self.peer,
            _ => None,
        };
        peer.map(|peer| self.shown(peer)).ok_or(Errno(ENOTCONN))
    }

    /// `setsockopt` for an integer option. Options without an effect here
    /// (`SO_REUSEADDR`, `IPV6_V6ONLY`, buffer sizes...) are kept, so
    /// `getsockopt` returns them.
    pub fn set_option(
        &mut self,
        set: &mut SocketSet<'_>,
        level: i32,
        name: i32,
        value: i32,
    ) -> Result<()> {
        match (level, name) {
            (IPPROTO_IPV6, _) if self.family != Family::V6 => return Err(Errno(ENOPROTOOPT)),
            // As Linux: fixed once the socket has an address.
            (IPPROTO_IPV6, IPV6_V6ONLY) if self.local.is_some() => return Err(Errno(EINVAL)),
            (IPPROTO_IPV6, IPV6_V6ONLY) => self.v6only = value != 0,
            (IPPROTO_TCP, TCP_NODELAY) => self.nodelay = value != 0,
            (SOL_SOCKET, SO_KEEPALIVE) => self.keepalive = value != 0,
            (SOL_SOCKET, SO_TYPE | SO_ERROR | SO_ACCEPTCONN) => return Err(Errno(ENOPROTOOPT)),
            _ => match self
                .options
                .iter_mut()
                .find(|(key, _)| *key == (level, name))
            {
                Some((_, stored)) => *stored = value,
                None => self.options.push(((level, name), value)),
            },
        }
        if let State::Connection(handle) = self.state {
            self.configure(set.get_mut::<tcp::Socket>(handle));
        }
        Ok(())
    }

    /// Applies the options to a connection's smoltcp socket.
    fn configure(&self, socket: &mut tcp::Socket<'_>) {
        socket.set_nagle_enabled(!self.nodelay);
        socket.set_keep_alive(self.keepalive.then_some(KEEPALIVE));
    }

    /// `getsockopt` for an integer option.
    pub fn option(&mut self, set: &mut SocketSet<'_>, level: i32, name: i32) -> Result<i32> {
        self.settle(set);
        Ok(match (level, name) {
            // As Linux's IPv4 sockets answer a `getsockopt` at another level.
            (IPPROTO_IPV6, _) if self.family != Family::V6 => return Err(Errno(ENOTSUP)),
            (IPPROTO_IPV6, IPV6_V6ONLY) => i32::from(self.v6only),
            (IPPROTO_TCP, TCP_NODELAY) => i32::from(self.nodelay),
            (SOL_SOCKET, SO_KEEPALIVE) => i32::from(self.keepalive),
            (SOL_SOCKET, SO_ERROR) => core::mem::take(&mut self.error),
            (SOL_SOCKET, SO_TYPE) => match self.kind {
                Kind::Stream => SOCK_STREAM,
                Kind::Datagram => SOCK_DGRAM,
            },
            (SOL_SOCKET, SO_ACCEPTCONN) => i32::from(matches!(self.state, State::Listening(_))),
            (SOL_SOCKET, SO_SNDBUF | SO_RCVBUF) => self
                .options
                .iter()
                .find(|(key, _)| *key == (level, name))
                .map_or(TCP_BUFFER as i32, |(_, value)| *value),
            _ => self
                .options
                .iter()
                .find(|(key, _)| *key == (level, name))
                .map_or(0, |(_, value)| *value),
        })
    }

    /// Whether it holds input the program has yet to take: bytes, a
    /// datagram, or a connection to accept.
    pub fn has_input(&self, set: &SocketSet<'_>) -> bool {
        match &self.state {
            State::Fresh => false,
            State::Listening(slots) => slots.iter().any(|&h| accepted(set.get::<tcp::Socket>(h))),
            State::Connection(handle) => set.get::<tcp::Socket>(*handle).can_recv(),
            State::Datagram(handle) => set.get::<udp::Socket>(*handle).can_recv(),
        }
    }

    /// The `poll` events among `wanted` it has now.
    pub fn ready(&mut self, set: &mut SocketSet<'_>, wanted: i16) -> i16 {
        self.settle(set);
        let mut ready = 0;
        if self.error != 0 {
            ready |= POLLERR;
        }
        match &self.state {
            // As Linux: an unconnected stream socket is writable and hung up.
            State::Fresh if self.kind == Kind::Stream => ready |= POLLOUT | POLLHUP,
            State::Fresh => ready |= POLLOUT,
            State::Listening(handles) => {
                if handles.iter().any(|&h| accepted(set.get::<tcp::Socket>(h))) {
                    ready |= POLLIN;
                }
            }
            State::Connection(_) if self.connecting => {}
            State::Connection(handle) => {
                let socket = set.get::<tcp::Socket>(*handle);
                if socket.can_recv() || !socket.may_recv() || self.read_shut {
                    ready |= POLLIN;
                }
                // The peer shut its side (or this one was shut for reading).
                if !socket.may_recv() || self.read_shut {
                    ready |= wanted & POLLRDHUP;
                }
                // As Linux: a connection whose writing half is over (shut,
                // reset, refused) is writable, the write failing at once.
                if socket.can_send() || !socket.may_send() {
                    ready |= POLLOUT;
                }
                if matches!(socket.state(), tcp::State::Closed | tcp::State::TimeWait) {
                    ready |= POLLHUP;
                }
            }
            State::Datagram(handle) => {
                let socket = set.get::<udp::Socket>(*handle);
                if socket.can_recv() {
                    ready |= POLLIN;
                }
                if socket.can_send() {
                    ready |= POLLOUT;
                }
            }
        }
        ready & (wanted | POLLERR | POLLHUP)
    }
}

/// Which IP versions a socket bound to `local` takes traffic of: an IPv6
/// socket bound to `::` takes IPv4 too, unless it is IPv6-only.
fn versions(socket: &Socket, local: SocketAddr) -> (bool, bool) {
    match local {
        SocketAddr::V4(_) => (true, false),
        SocketAddr::V6(v6) => (v6.ip().is_unspecified() && !socket.v6only, true),
    }
}

/// Whether `port` is taken for socket `id` bound to `local`: by a bound,
/// listening or datagram socket of its kind that takes traffic of the same
/// IP version (connections share their listener's port).
fn port_taken(net: &Net, id: SocketId, local: SocketAddr) -> bool {
    let Some(socket) = net.sockets.get(id).and_then(Option::as_deref) else {
        return false;
    };
    let (v4, v6) = versions(socket, local);
    net.sockets.iter().flatten().any(|s| {
        s.kind == socket.kind
            && !matches!(s.state, State::Connection(_))
            && s.local.is_some_and(|l| {
                let (other_v4, other_v6) = versions(s, l);
                l.port() == local.port() && ((v4 && other_v4) || (v6 && other_v6))
            })
    })
}

/// A free ephemeral port.
fn ephemeral(net: &mut Net, kind: Kind) -> Result<u16> {
    for _ in EPHEMERAL_FIRST..=EPHEMERAL_LAST {
        let port = net.next_port;
        net.next_port = if port >= EPHEMERAL_LAST {
            EPHEMERAL_FIRST
        } else {
            port + 1
        };
        let in_use_by_connection = net
            .sockets
            .iter()
            .flatten()
            .any(|s| s.kind == kind && s.local.is_some_and(|l| l.port() == port));
        if !in_use_by_connection {
            return Ok(port);
        }
    }
    Err(Errno(EADDRINUSE))
}

/// Binds `id` to `address`, from the program (port 0: an ephemeral one).
pub fn bind(net: &mut Net, id: SocketId, address: SocketAddr) -> Result<()> {
    let own = IpAddr::V4(net.address);
    let socket = net.socket(id)?;
    let address = socket.accept_address(address).map_err(|e| match e {
        // As Linux: an IPv6-only socket has no IPv4 address to bind.
        Errno(ENETUNREACH) => Errno(EADDRNOTAVAIL),
        e => e,
    })?;
    let ip = address.ip();
    if !(ip.is_unspecified() || ip == own || ip.is_loopback()) {
        return Err(Errno(EADDRNOTAVAIL));
    }
    if socket.local.is_some() || !matches!(socket.state, State::Fresh) {
        return Err(Errno(EINVAL));
    }
    let kind = socket.kind;
    let mut local = address;
    match address.port() {
        0 => local.set_port(ephemeral(net, kind)?),
        _ if port_taken(net, id, address) => return Err(Errno(EADDRINUSE)),
        _ => {}
    }
    if kind == Kind::Datagram {
        let mut udp = udp_socket();
        udp.bind(listen_endpoint(net.socket(id)?, local))
            .map_err(|_| Errno(EINVAL))?;
        let handle = net.set.add(udp);
        net.socket(id)?.state = State::Datagram(handle);
    }
    net.socket(id)?.local = Some(local);
    Ok(())
}

/// What smoltcp takes traffic for: no address takes every address of
/// both versions, so an IPv6-only socket bound to `::` takes the guest's
/// one IPv6 address, `::1`.
fn listen_endpoint(socket: &Socket, local: SocketAddr) -> IpListenEndpoint {
    let addr = match local.ip() {
        IpAddr::V6(ip) if ip.is_unspecified() && socket.v6only => {
            Some(IpAddress::Ipv6(Ipv6Addr::LOCALHOST))
        }
        ip if ip.is_unspecified() => None,
        ip => Some(ip_address(ip)),
    };
    IpListenEndpoint {
        addr,
        port: local.port(),
    }
}

/// Starts listening with up to `backlog` connections waiting.
pub fn listen(net: &mut Net, id: SocketId, backlog: i32) -> Result<()> {
    let socket = net.socket(id)?;
    if socket.kind != Kind::Stream {
        return Err(Errno(ENOTSUP));
    }
    match socket.state {
        State::Fresh => {}
        State::Listening(_) => return Ok(()),
        _ => return Err(Errno(EINVAL)),
    }
    if socket.local.is_none() {
        let family = socket.family;
        bind(net, id, unspecified(family))?;
    }
    let socket = net.socket(id)?;
    let local = socket.local.ok_or(Errno(EINVAL))?;
    let endpoint = listen_endpoint(socket, local);
    let mut tcp = tcp_socket(!net.device.has_nic())?;
    tcp.listen(endpoint).map_err(|_| Errno(EINVAL))?;
    tcp.set_timeout(Some(HANDSHAKE_TIMEOUT));
    let handle = net.set.add(tcp);
    let socket = net.socket(id)?;
    socket.state = State::Listening(vec![handle]);
    socket.backlog = usize::try_from(backlog).unwrap_or(0).clamp(1, MAX_BACKLOG);
    if !net.listeners.contains(&id) {
        net.listeners.push(id);
    }
    Ok(())
}

/// Keeps a socket in LISTEN behind every listening socket's connections,
/// while its backlog has room. smoltcp socket is one connection, and it
/// answers a SYN that no socket in LISTEN takes with a reset, so the
/// stack calls this after every received frame: a burst of SYNs in one
/// batch each finds a socket.
pub fn arm_listeners(net: &mut Net) {
    let immediate_acks = !net.device.has_nic();
    let Net {
        listeners,
        sockets,
        set,
        ..
    } = net;
    listeners.retain(|&id| {
        let Some(Some(socket)) = sockets.get_mut(id) else {
            return false;
        };
        let Some(local) = socket.local else {
            return false;
        };
        let endpoint = listen_endpoint(socket, local);
        let State::Listening(slots) = &mut socket.state else {
            return false;
        };
        arm(set, slots, endpoint, socket.backlog, immediate_acks);
        true
    });
}

/// Adds a socket in LISTEN to `slots` unless the last one still is, or
/// `backlog` connections wait already. Out of memory, it adds none: the
/// next SYN is refused, as a full backlog's would be.
fn arm(
    set: &mut SocketSet<'static>,
    slots: &mut Vec<SocketHandle>,
    endpoint: IpListenEndpoint,
    backlog: usize,
    immediate_acks: bool,
) {
    // A handshake that failed (timed out) or a connection reset before
    // `accept` leaves its socket closed: it goes here, not only in
    // `accept`, which a program polling for readiness calls only once a
    // connection is ready, so closed ones would hold the backlog. An
    // established one waits for `accept` as long as its peer does.
    slots.retain(|&handle| {
        let socket = set.get_mut::<tcp::Socket>(handle);
        if accepted(socket) {
            socket.set_timeout(None);
        }
        let closed = socket.state() == tcp::State::Closed;
        if closed {
            set.remove(handle);
        }
        !closed
    });
    let last = slots.last().map(|&h| set.get::<tcp::Socket>(h).state());
    if last == Some(tcp::State::Listen) || slots.len() > backlog {
        return;
    }
    if let Ok(mut tcp) = tcp_socket(immediate_acks)
        && tcp.listen(endpoint).is_ok()
    {
        tcp.set_timeout(Some(HANDSHAKE_TIMEOUT));
        slots.push(set.add(tcp));
    }
}

/// Takes the oldest established connection off a listening socket, and
/// its peer as the listener's family shows it.
pub fn accept(net: &mut Net, id: SocketId) -> Io<(SocketId, SocketAddr)> {
    let immediate_acks = !net.device.has_nic();
    let (listener, set) = match net.parts(id) {
        Ok(parts) => parts,
        Err(e) => return Io::Done(Err(e)),
    };
    let backlog = listener.backlog;
    let Some(local) = listener.local else {
        return Io::Done(Err(Errno(EINVAL)));
    };
    let endpoint = listen_endpoint(listener, local);
    let family = listener.family;
    let State::Listening(slots) = &mut listener.state else {
        return Io::Done(Err(Errno(EINVAL)));
    };
    // smoltcp's wildcard takes both IP versions; an IPv4 socket's
    // connections over IPv6 (to ::1) were never Linux's to make: reset.
    if family == Family::V4 {
        for &handle in slots.iter() {
            let tcp = set.get_mut::<tcp::Socket>(handle);
            if accepted(tcp)
                && tcp
                    .remote_endpoint()
                    .is_some_and(|e| e.addr.version() == smoltcp::wire::IpVersion::Ipv6)
            {
                tcp.abort();
            }
        }
    }
    let ready = slots
        .iter()
        .position(|&h| accepted(set.get::<tcp::Socket>(h)));
    let handle = ready.map(|slot| slots.remove(slot));
    arm(set, slots, endpoint, backlog, immediate_acks);
    let Some(handle) = handle else {
        return Io::Again;
    };
    let mut connection = Socket::new(Kind::Stream, listener.family);
    connection.v6only = listener.v6only;
    connection.nodelay = listener.nodelay;
    connection.keepalive = listener.keepalive;
    let tcp = set.get_mut::<tcp::Socket>(handle);
    let peer = tcp.remote_endpoint().map(address);
    connection.configure(tcp);
    connection.local = tcp.local_endpoint().map(address);
    connection.state = State::Connection(handle);
    let peer = connection.shown(peer.unwrap_or(unspecified(listener.family)));
    let new = match super::create_in(net, connection) {
        Ok(new) => new,
        Err(e) => return Io::Done(Err(e)),
    };
    Io::Done(Ok((new, peer)))
}

/// Starts a connection to `to`, from the program (a datagram socket just
/// records its peer).
pub fn connect(net: &mut Net, id: SocketId, to: SocketAddr) -> Result<()> {
    let routed = net.routes(unmapped(to).ip());
    let socket = net.socket(id)?;
    let to = socket.accept_address(to)?;
    if socket.kind == Kind::Datagram {
        if !routed {
            return Err(Errno(ENETUNREACH));
        }
        if socket.local.is_none() {
            let family = socket.family;
            bind(net, id, unspecified(family))?;
        }
        net.socket(id)?.peer = Some(to);
        return Ok(());
    }
    match socket.state {
        State::Fresh => {}
        State::Connection(_) if socket.connecting => return Err(Errno(EALREADY)),
        State::Connection(_) => return Err(Errno(EISCONN)),
        _ => return Err(Errno(EINVAL)),
    }
    if to.ip().is_unspecified() || to.port() == 0 {
        return Err(Errno(ECONNREFUSED));
    }
    if !routed {
        return Err(Errno(ENETUNREACH));
    }
    let port = match socket.local {
        Some(local) => local.port(),
        None => ephemeral(net, Kind::Stream)?,
    };
    let mut tcp = tcp_socket(!net.device.has_nic())?;
    let socket = net.socket(id)?;
    socket.configure(&mut tcp);
    tcp.connect(net.iface.context(), endpoint(to), port)
        .map_err(|_| Errno(ENETUNREACH))?;
    // The source smoltcp chose: 127.0.0.1 towards the guest itself.
    let local = tcp.local_endpoint().map(address);
    let handle = net.set.add(tcp);
    let own = SocketAddr::V4(SocketAddrV4::new(net.address, port));
    let socket = net.socket(id)?;
    socket.local = Some(local.unwrap_or(own));
    socket.state = State::Connection(handle);
    socket.connecting = true;
    Ok(())
}

/// Waits out a blocking `connect`.
pub fn finish_connect(net: &mut Net, id: SocketId) -> Io<()> {
    let (socket, set) = match net.parts(id) {
        Ok(parts) => parts,
        Err(e) => return Io::Done(Err(e)),
    };
    if socket.is_connecting(set) {
        return Io::Again;
    }
    match core::mem::take(&mut socket.error) {
        0 => Io::Done(Ok(())),
        error => Io::Done(Err(Errno(error))),
    }
}

/// The socket and the set, settled, for a receive or a send: a datagram
/// socket without an address is bound to an ephemeral port first (as on
/// Linux), and a pending error (`SO_ERROR`) is reported, and cleared. For
/// a receive (`reading`) the bytes that came before a reset are read
/// first, as on Linux: the error waits for the next call.
fn ready_for_io(
    net: &mut Net,
    id: SocketId,
    reading: bool,
) -> Result<(&mut Socket, &mut SocketSet<'static>)> {
    if let Ok(socket) = net.socket(id)
        && socket.kind == Kind::Datagram
        && socket.local.is_none()
    {
        let family = socket.family;
        bind(net, id, unspecified(family))?;
    }
    let (socket, set) = net.parts(id)?;
    socket.settle(set);
    let unread = match socket.state {
        State::Connection(handle) => reading && set.get::<tcp::Socket>(handle).can_recv(),
        _ => false,
    };
    if socket.error != 0 && !unread {
        return Err(Errno(core::mem::take(&mut socket.error)));
    }
    Ok((socket, set))
}

/// Receives into `buf`.
pub fn recv(
    net: &mut Net,
    id: SocketId,
    buf: &mut [u8],
    peek: bool,
) -> Io<(usize, Option<SocketAddr>)> {
    let (socket, set) = match ready_for_io(net, id, true) {
        Ok(parts) => parts,
        Err(e) => return Io::Done(Err(e)),
    };
    match socket.state {
        State::Fresh | State::Listening(_) => Io::Done(Err(Errno(ENOTCONN))),
        State::Connection(_) if socket.connecting => Io::Again,
        State::Connection(_) if socket.read_shut => Io::Done(Ok((0, None))),
        State::Connection(handle) => {
            let tcp = set.get_mut::<tcp::Socket>(handle);
            if buf.is_empty() {
                return Io::Done(Ok((0, None)));
            }
            if tcp.can_recv() {
                let n = if peek {
                    tcp.peek_slice(buf)
                } else {
                    tcp.recv_slice(buf)
                };
                return Io::Done(Ok((n.unwrap_or(0), None)));
            }
            if tcp.may_recv() {
                Io::Again
            } else {
                // The peer sent FIN (or the connection is gone): end of file.
                Io::Done(Ok((0, None)))
            }
        }
        State::Datagram(handle) => {
            let udp = set.get_mut::<udp::Socket>(handle);
            let received = if peek {
                udp.peek().map(|(data, meta)| (data, *meta))
            } else {
                udp.recv()
            };
            match received {
                Ok((data, meta)) => {
                    // As Linux: the rest of a datagram too long for the
                    // buffer is lost.
                    let n = data.len().min(buf.len());
                    buf[..n].copy_from_slice(&data[..n]);
                    Io::Done(Ok((n, Some(socket.shown(address(meta.endpoint))))))
                }
                Err(_) => Io::Again,
            }
        }
    }
}

/// Sends `data` on the connection, or as one datagram to `to` (from the
/// program) or the connected peer.
pub fn send(net: &mut Net, id: SocketId, data: &[u8], to: Option<SocketAddr>) -> Io<usize> {
    let routed = to.is_none_or(|to| net.routes(unmapped(to).ip()));
    let (socket, set) = match ready_for_io(net, id, false) {
        Ok(parts) => parts,
        Err(e) => return Io::Done(Err(e)),
    };
    let to = match to.map(|to| socket.accept_address(to)).transpose() {
        Ok(to) => to,
        Err(e) => return Io::Done(Err(e)),
    };
    match socket.state {
        State::Fresh | State::Listening(_) => Io::Done(Err(Errno(ENOTCONN))),
        State::Connection(_) if socket.connecting => Io::Again,
        State::Connection(handle) => {
            let tcp = set.get_mut::<tcp::Socket>(handle);
            if !tcp.may_send() {
                return Io::Done(Err(Errno(EPIPE)));
            }
            if data.is_empty() {
                return Io::Done(Ok(0));
            }
            match tcp.send_slice(data) {
                Ok(0) => Io::Again,
                Ok(n) => Io::Done(Ok(n)),
                Err(_) => Io::Done(Err(Errno(EPIPE))),
            }
        }
        State::Datagram(_) if !routed => Io::Done(Err(Errno(ENETUNREACH))),
        State::Datagram(handle) => {
            let Some(to) = to.or(socket.peer) else {
                return Io::Done(Err(Errno(EDESTADDRREQ)));
            };
            let udp = set.get_mut::<udp::Socket>(handle);
            if data.len() > max_datagram(to) || data.len() > udp.payload_send_capacity() {
                return Io::Done(Err(Errno(EMSGSIZE)));
            }
            match udp.send_slice(data, endpoint(to)) {
                Ok(()) => Io::Done(Ok(data.len())),
                Err(udp::SendError::BufferFull) => Io::Again,
                Err(udp::SendError::Unaddressable) => Io::Done(Err(Errno(ENETUNREACH))),
            }
        }
    }
}

/// The largest UDP payload one IP packet to `to` carries: its 16-bit
/// length less the headers that count in it (IPv4's counts its own).
fn max_datagram(to: SocketAddr) -> usize {
    const UDP_HEADER: usize = 8;
    const IPV4_HEADER: usize = 20;
    let headers = match to {
        SocketAddr::V4(_) => IPV4_HEADER + UDP_HEADER,
        SocketAddr::V6(_) => UDP_HEADER,
    };
    usize::from(u16::MAX) - headers
}

/// Closes one or both directions of a connection.
pub fn shutdown(net: &mut Net, id: SocketId, how: Shutdown) -> Result<()> {
    let (socket, set) = net.parts(id)?;
    let State::Connection(handle) = socket.state else {
        return Err(Errno(ENOTCONN));
    };
    if matches!(how, Shutdown::Read | Shutdown::Both) {
        socket.read_shut = true;
    }
    if matches!(how, Shutdown::Write | Shutdown::Both) {
        socket.write_shut = true;
        set.get_mut::<tcp::Socket>(handle).close();
    }
    Ok(())
}
