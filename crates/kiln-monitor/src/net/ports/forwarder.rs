//! The forwarder's event loop: smoltcp as the guest's gateway, between
//! the frame socket and the host's sockets.
//!
//! Each round takes in a bounded number of guest frames, accepts host
//! connections, moves bytes and datagrams both ways, lets smoltcp send
//! what that produced, and then sleeps in `ppoll` on every descriptor that
//! can make progress, for at most smoltcp's next timer. A descriptor is
//! polled only for what the loop will then do (read only where a ring has
//! room, write only where data waits), so the loop never spins.

use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use smoltcp::iface::{Config, Interface, PollResult, SocketSet};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpCidr, Ipv4Address};

use super::ephemeral::EphemeralPorts;
use super::link::FrameLink;
use super::tcp::{self, Progress, Splice};
use super::udp::UdpForward;
use crate::net::spec::Addressing;

/// Forwarded TCP connections at once; more are reset as they arrive. Each
/// holds up to 128 KiB here (two rings), so this bounds the forwarder's
/// memory at ~32 MiB under a flood; a guest with the memory for them
/// serves as many (`wrk -c200` through 128 lost a third of its requests
/// to resets), while `http-hello` in 8 MiB holds ~30.
pub const MAX_CONNECTIONS: usize = 256;

/// Connections accepted per listener per round.
const ACCEPT_BUDGET: usize = 32;

/// Connections whose handshake with the guest may be under way at once;
/// the rest wait in the host's accept queue. A guest's stack takes a burst
/// of SYNs only as far as its memory goes and resets the others (`http-hello`
/// in 8 MiB holds ~30 connections): let in a few at a time, connections
/// that finish make room for the next.
const MAX_HANDSHAKES: usize = 8;

/// The published ports, bound (and non-blocking) before the guest starts.
pub struct Listeners {
    /// TCP listeners and the guest port each forwards to.
    pub tcp: Vec<(TcpListener, u16)>,
    /// UDP sockets and the guest port each forwards to.
    pub udp: Vec<(UdpSocket, u16)>,
}

/// The gateway: smoltcp, the frame link and the host's sockets.
pub struct Forwarder {
    iface: Interface,
    sockets: SocketSet<'static>,
    link: FrameLink,
    gateway: Ipv4Address,
    guest: Ipv4Address,
    listeners: Vec<Listener>,
    udp: Vec<(UdpForward, bool)>,
    splices: Vec<Splice>,
    tcp_ports: EphemeralPorts,
    udp_ports: EphemeralPorts,
    epoch: std::time::Instant,
}

struct Listener {
    socket: TcpListener,
    guest_port: u16,
    /// The poll said a connection waits.
    ready: bool,
}

/// What a slot of the poll set stands for.
#[derive(Clone, Copy)]
enum Slot {
    Link,
    Listener(usize),
    Udp(usize),
    Splice(usize),
}

impl Forwarder {
    /// The gateway at `addressing.gateway` with MAC `mac`, for the guest
    /// at `addressing.ipv4`, on `socket`.
    pub fn new(socket: OwnedFd, addressing: &Addressing, mac: [u8; 6], ports: Listeners) -> Self {
        let mtu = addressing.mtu as usize;
        let mut link = FrameLink::new(socket, mtu);
        let epoch = std::time::Instant::now();
        let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress(mac)));
        // The seed makes smoltcp's initial sequence numbers; the guest sees
        // every segment anyway, so they need not be secret from it.
        config.random_seed = epoch_seed();
        let mut iface = Interface::new(config, &mut link, Instant::ZERO);
        let gateway = addressing.gateway;
        iface.update_ip_addrs(|addrs| {
            // Room for one address is always there in a new interface.
            let _ = addrs.push(IpCidr::new(gateway.into(), addressing.prefix_len));
        });
        let guest = addressing.ipv4;
        // Said first, once the thread runs (see `announcement`).
        link.queue(&announcement(mac, gateway, guest));
        Self {
            iface,
            sockets: SocketSet::new(Vec::new()),
            link,
            gateway,
            guest,
            listeners: ports
                .tcp
                .into_iter()
                .map(|(socket, guest_port)| Listener {
                    socket,
                    guest_port,
                    ready: true,
                })
                .collect(),
            udp: ports
                .udp
                .into_iter()
                .map(|(socket, port)| (UdpForward::new(socket, (guest, port), mtu), true))
                .collect(),
            splices: Vec::new(),
            tcp_ports: EphemeralPorts::default(),
            udp_ports: EphemeralPorts::default(),
            epoch,
        }
    }

    /// Serves until the VM ends (the frame socket closes).
    pub fn run(mut self) {
        loop {
            let now = self.now();
            self.serve(now);
            self.send(now);
            if self.link.closed() {
                return;
            }
            self.wait(now);
        }
    }

    /// The first half of a round: takes in the guest's frames, accepts
    /// host connections and moves bytes and datagrams both ways.
    pub(super) fn serve(&mut self, now: Instant) {
        self.link.new_round();
        self.iface.poll(now, &mut self.link, &mut self.sockets);
        self.accept();
        self.splice();
        for (udp, ready) in &mut self.udp {
            if std::mem::take(ready) {
                udp.pump_from_host(&mut self.sockets, &mut self.udp_ports, now);
            }
            udp.pump_replies(&mut self.sockets, &mut self.udp_ports, now);
        }
    }

    /// The second half: what the host sent, out to the guest. Nothing is
    /// taken in: a guest frame taken in here would land after the service,
    /// and with no descriptor ready for it the loop would sleep on it (a
    /// connection's last bytes and FIN waited in its ring until other
    /// traffic came, or until TIME-WAIT ran out and reset the host's side).
    /// It waits on the link instead, which wakes the next round.
    /// Connections whose RST just went out (aborted here, or timed out)
    /// are dropped now: no descriptor would wake the loop for them.
    pub(super) fn send(&mut self, now: Instant) {
        while self
            .iface
            .poll_egress(now, &mut self.link, &mut self.sockets)
            == PollResult::SocketStateChanged
        {}
        self.link.flush();
        self.drop_finished(|splice, sockets| splice.settle(sockets));
    }

    /// Connections being forwarded.
    #[cfg(test)]
    pub(super) fn connections(&self) -> usize {
        self.splices.len()
    }

    fn now(&self) -> Instant {
        Instant::from_micros(i64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(i64::MAX))
    }

    /// Connections waiting for the guest's SYN-ACK.
    fn handshakes(&self) -> usize {
        self.splices
            .iter()
            .filter(|splice| splice.handshaking(&self.sockets))
            .count()
    }

    /// Takes the connections waiting on ready listeners.
    fn accept(&mut self) {
        let mut handshakes = self.handshakes();
        for index in 0..self.listeners.len() {
            if handshakes >= MAX_HANDSHAKES {
                // The listener stays ready; it is not polled meanwhile.
                return;
            }
            if !std::mem::take(&mut self.listeners[index].ready) {
                continue;
            }
            for _ in 0..ACCEPT_BUDGET {
                if handshakes >= MAX_HANDSHAKES {
                    // More may wait: try again once the guest answered.
                    self.listeners[index].ready = true;
                    break;
                }
                let Some(host) = accept(&self.listeners[index].socket) else {
                    break;
                };
                if self.splices.len() >= MAX_CONNECTIONS {
                    tcp::reset_on_close(&host);
                    continue;
                }
                let Some(port) = self.tcp_ports.take() else {
                    tcp::reset_on_close(&host);
                    continue;
                };
                // The guest has cut the stream into segments already;
                // holding back a small one for the ACK of the last (Nagle)
                // would meet the client's delayed ACK: 40 ms stalls.
                let _ = host.set_nodelay(true);
                let guest = (self.guest, self.listeners[index].guest_port);
                let cx = self.iface.context();
                match Splice::connect(host, &mut self.sockets, cx, (self.gateway, port), guest) {
                    Ok(splice) => {
                        self.splices.push(splice);
                        handshakes += 1;
                    }
                    // Not reachable for our fixed addresses; the host's
                    // socket, dropped with the error, closes.
                    Err(_) => self.tcp_ports.release(port),
                }
            }
        }
    }

    /// Moves bytes on every connection; drops the finished ones.
    fn splice(&mut self) {
        self.drop_finished(Splice::service);
    }

    /// Drops the connections `step` finds over, with their smoltcp sockets
    /// and ports.
    fn drop_finished(&mut self, step: impl Fn(&mut Splice, &mut SocketSet<'static>) -> Progress) {
        let mut index = 0;
        while index < self.splices.len() {
            if step(&mut self.splices[index], &mut self.sockets) == Progress::Open {
                index += 1;
                continue;
            }
            let splice = self.splices.swap_remove(index);
            self.sockets.remove(splice.handle());
            self.tcp_ports.release(splice.local_port());
        }
    }

    /// Sleeps until a descriptor can make progress or smoltcp's next timer.
    pub(super) fn wait(&mut self, now: Instant) {
        let mut fds = Vec::with_capacity(1 + self.listeners.len() + self.splices.len());
        let mut slots = Vec::with_capacity(fds.capacity());
        let mut watch = |fd: RawFd, events: i16, slot: Slot| {
            fds.push(libc::pollfd {
                fd,
                events,
                revents: 0,
            });
            slots.push(slot);
        };
        let link_events = if self.link.pending() {
            libc::POLLIN | libc::POLLOUT
        } else {
            libc::POLLIN
        };
        watch(self.link.fd(), link_events, Slot::Link);
        // At the handshake limit a waiting connection is no news: the
        // guest's answers, on the link, wake the loop instead.
        let accepting = self.handshakes() < MAX_HANDSHAKES;
        for (index, listener) in self.listeners.iter().enumerate() {
            if !accepting {
                break;
            }
            watch(
                listener.socket.as_raw_fd(),
                libc::POLLIN,
                Slot::Listener(index),
            );
        }
        for (index, (udp, _)) in self.udp.iter().enumerate() {
            watch(udp.fd(), libc::POLLIN, Slot::Udp(index));
        }
        for (index, splice) in self.splices.iter().enumerate() {
            if let Some((fd, events)) = splice.interest(&self.sockets) {
                watch(fd, events, Slot::Splice(index));
            }
        }
        // While the link is full nothing smoltcp wants to send can go, so
        // its timers wait for the socket to drain.
        let delay = if self.link.backlog() {
            Some(Duration::ZERO)
        } else if self.link.full() {
            None
        } else {
            let expiry = self
                .udp
                .iter()
                .filter_map(|(udp, _)| udp.next_expiry())
                .min()
                .map(|at| if at > now { at - now } else { Duration::ZERO });
            match (self.iface.poll_delay(now, &self.sockets), expiry) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        };
        let timeout = delay.map(|d| libc::timespec {
            tv_sec: (d.total_micros() / 1_000_000) as libc::time_t,
            tv_nsec: ((d.total_micros() % 1_000_000) * 1000) as libc::c_long,
        });
        let timeout_ptr = timeout
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: `fds` is a valid array of that many pollfds, `timeout_ptr`
        // null or a valid timespec; no signal mask.
        let ready = unsafe {
            libc::ppoll(
                fds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                timeout_ptr,
                std::ptr::null(),
            )
        };
        if ready <= 0 {
            return;
        }
        for (pollfd, slot) in fds.iter().zip(slots) {
            if pollfd.revents == 0 {
                continue;
            }
            match slot {
                Slot::Link => {}
                Slot::Listener(index) => self.listeners[index].ready = true,
                Slot::Udp(index) => self.udp[index].1 = true,
                Slot::Splice(index) => self.splices[index].ready(pollfd.revents),
            }
        }
    }
}

/// One waiting connection, non-blocking; `None` when none waits (or it
/// failed: the client gave up first, or descriptors ran out for a moment).
fn accept(listener: &TcpListener) -> Option<TcpStream> {
    // SAFETY: a listening socket; no address is asked for.
    let fd = unsafe {
        libc::accept4(
            listener.as_raw_fd(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        )
    };
    // SAFETY: accept4 returned a new descriptor that nothing else owns.
    (fd >= 0).then(|| TcpStream::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// An ARP request from the gateway for the guest's address. Sent first:
/// the monitor's side raises the link once the forwarder has said
/// anything, the guest learns the gateway's MAC from it, and its answer
/// teaches smoltcp the guest's, before the first connection needs it.
pub fn announcement(mac: [u8; 6], gateway: Ipv4Address, guest: Ipv4Address) -> Vec<u8> {
    let mut frame = vec![0xff; 6]; // broadcast
    frame.extend_from_slice(&mac);
    frame.extend_from_slice(&[0x08, 0x06]); // ARP
    // Ethernet, IPv4, 6-byte and 4-byte addresses, a request.
    frame.extend_from_slice(&[0, 1, 0x08, 0, 6, 4, 0, 1]);
    frame.extend_from_slice(&mac);
    frame.extend_from_slice(&gateway.octets());
    frame.extend_from_slice(&[0; 6]);
    frame.extend_from_slice(&guest.octets());
    frame
}

/// A seed that differs between runs.
fn epoch_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
        ^ u64::from(std::process::id()) << 32
}
