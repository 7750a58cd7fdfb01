//! A published UDP port: host datagrams to the guest's port, and the
//! guest's replies back to whoever sent them.
//!
//! Each host peer gets a flow: a smoltcp UDP socket on an ephemeral port
//! of the gateway, so the guest's reply (to that port) finds its way back.
//! Flows are bounded ([`MAX_FLOWS`] per port; the least recently used
//! makes room) and expire after [`IDLE`] without traffic. UDP may drop,
//! and does here wherever a queue would otherwise grow: a datagram for a
//! full ring, a reply the host socket cannot take now, a datagram larger
//! than one frame (there is no fragmentation).

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};

use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::udp;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{IpEndpoint, Ipv4Address};

use super::ephemeral::EphemeralPorts;

/// Host peers with a flow at once, per published port.
pub const MAX_FLOWS: usize = 64;

/// A flow without a datagram either way for this long is dropped.
pub const IDLE: Duration = Duration::from_secs(60);

/// Datagrams read from the host socket per round: a flood cannot starve
/// the rest of the loop.
const BUDGET: usize = 64;

/// Bytes of each flow's rings, and datagrams they hold.
const RING: usize = 16 * 1024;
const SLOTS: usize = 16;

/// A host UDP socket forwarded to a guest port.
pub struct UdpForward {
    host: UdpSocket,
    guest: (Ipv4Address, u16),
    flows: Vec<Flow>,
    /// The largest datagram one frame carries.
    max_datagram: usize,
    /// Reused for each received datagram.
    scratch: Vec<u8>,
}

struct Flow {
    peer: SocketAddr,
    handle: SocketHandle,
    local_port: u16,
    last_used: Instant,
}

impl UdpForward {
    /// Forwards datagrams on `host` (non-blocking) to `guest`; `mtu` is the
    /// link's IP MTU.
    pub fn new(host: UdpSocket, guest: (Ipv4Address, u16), mtu: usize) -> Self {
        Self {
            host,
            guest,
            flows: Vec::new(),
            // IPv4 and UDP headers, without options.
            max_datagram: mtu.saturating_sub(28),
            scratch: vec![0; 64 * 1024],
        }
    }

    /// The host socket, for the poll.
    pub fn fd(&self) -> RawFd {
        self.host.as_raw_fd()
    }

    /// When the next flow expires, if any.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.flows.iter().map(|flow| flow.last_used + IDLE).min()
    }

    /// Takes the host's datagrams to the guest, each from its peer's flow.
    pub fn pump_from_host(
        &mut self,
        sockets: &mut SocketSet<'static>,
        ports: &mut EphemeralPorts,
        now: Instant,
    ) {
        for _ in 0..BUDGET {
            let (len, peer) = match self.host.recv_from(&mut self.scratch) {
                Ok(received) => received,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                // Would block, or an error queued by an earlier send (an
                // ICMP unreachable from a peer): nothing to forward.
                Err(_) => return,
            };
            if len > self.max_datagram {
                continue;
            }
            let index = match self.flows.iter().position(|flow| flow.peer == peer) {
                Some(index) => index,
                None => {
                    if self.flows.len() >= MAX_FLOWS {
                        self.evict_oldest(sockets, ports);
                    }
                    let Some(local_port) = ports.take() else {
                        continue;
                    };
                    let Some(flow) = Flow::open(sockets, peer, local_port, now) else {
                        ports.release(local_port);
                        continue;
                    };
                    self.flows.push(flow);
                    self.flows.len() - 1
                }
            };
            let flow = &mut self.flows[index];
            flow.last_used = now;
            let socket = sockets.get_mut::<udp::Socket>(flow.handle);
            // A full ring drops the datagram, as a busy link would.
            let _ = socket.send_slice(&self.scratch[..len], IpEndpoint::from(self.guest));
        }
    }

    /// Sends the guest's replies to the peers, and drops idle flows.
    pub fn pump_replies(
        &mut self,
        sockets: &mut SocketSet<'static>,
        ports: &mut EphemeralPorts,
        now: Instant,
    ) {
        for flow in &mut self.flows {
            let socket = sockets.get_mut::<udp::Socket>(flow.handle);
            while let Ok((data, _)) = socket.recv() {
                flow.last_used = now;
                // The host socket is non-blocking: a reply it cannot take
                // now is dropped.
                let _ = self.host.send_to(data, flow.peer);
            }
        }
        self.flows.retain(|flow| {
            let live = now < flow.last_used + IDLE;
            if !live {
                sockets.remove(flow.handle);
                ports.release(flow.local_port);
            }
            live
        });
    }

    fn evict_oldest(&mut self, sockets: &mut SocketSet<'static>, ports: &mut EphemeralPorts) {
        if let Some(index) = (0..self.flows.len()).min_by_key(|&i| self.flows[i].last_used) {
            let flow = self.flows.swap_remove(index);
            sockets.remove(flow.handle);
            ports.release(flow.local_port);
        }
    }
}

impl Flow {
    fn open(
        sockets: &mut SocketSet<'static>,
        peer: SocketAddr,
        local_port: u16,
        now: Instant,
    ) -> Option<Self> {
        let ring =
            || udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; SLOTS], vec![0; RING]);
        let mut socket = udp::Socket::new(ring(), ring());
        socket.bind(local_port).ok()?;
        Some(Self {
            peer,
            handle: sockets.add(socket),
            local_port,
            last_used: now,
        })
    }
}
