//! Networking: the virtio-net device, TCP/IP with smoltcp, and the sockets
//! the descriptor table refers to.
//!
//! Everything runs on the program's own threads, under the stack's lock
//! (no preemption inside it): a socket call polls the stack (taking in
//! what arrived) and acts on its smoltcp socket. A call that would block
//! waits in the scheduler on its socket's key; when no thread can run, or
//! a time slice ends, the scheduler calls [`idle`], which polls the stack,
//! turns what the sockets have to send into frames, wakes the sockets'
//! waiters, and then (when no thread can run) blocks the vCPU until traffic arrives (the
//! monitor ends a `Block` when it fills a receive buffer) or smoltcp's
//! next timer. The `Block` exit carries the frames out; a program that
//! stays busy has its output sent every [`EGRESS_INTERVAL_NS`] instead
//! (see [`Net::poll`]).
//!
//! A VM without a network device never touches MMIO: the stack runs on
//! the loopback alone, as a Linux network namespace with only `lo` up
//! (127.0.0.1/8 and `::1`; any other destination is `ENETUNREACH`). No
//! exit carries frames then and none can arrive, so every call runs the
//! stack's egress at once: a writer's bytes reach the reader, and wake it,
//! within the writer's own call.

mod addressing;
mod device;
mod dns;
mod hal;
mod hosts;
mod loopback;
mod socket;

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use kiln_abi::errno::*;
use smoltcp::iface::{
    Config, Interface, PollIngressSingleResult, PollResult, SocketHandle, SocketSet,
};
use smoltcp::time::Instant as NetInstant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpCidr};

use crate::clock::Instant;
use crate::fd::{Errno, Received, Result, SocketHooks, SocketId};
use crate::platform;
use crate::preempt::{Lock, lock_unless_reentered};
use crate::sched;
use crate::sched::Idle;
pub use addressing::{Ethernet, ethernet};
use device::Device;
pub use dns::{LookupError, Options as ResolverOptions};
pub use socket::{Family, Kind, Shutdown};
use socket::{Io, Socket};

/// The network stack.
struct Net {
    device: Device,
    iface: Interface,
    set: SocketSet<'static>,
    /// The program's sockets, by id; boxed so each has a stable address,
    /// its scheduler key.
    sockets: Vec<Option<Box<Socket>>>,
    /// The listening ones among them (ids no longer listening are dropped
    /// when next seen).
    listeners: Vec<SocketId>,
    /// smoltcp sockets the program closed, kept until their connections
    /// have ended (a FIN to send, a reset to deliver).
    closing: Vec<SocketHandle>,
    /// The next ephemeral port to try.
    next_port: u16,
    /// The guest's address (127.0.0.1 without a device).
    address: Ipv4Addr,
    /// When the sockets' output was last turned into frames (ns since boot).
    last_egress: u64,
}

/// How often a busy program's socket output is sent (see [`Net::poll`]):
/// an exit costs ~30 µs here, so this bounds that cost to ~15% of a busy
/// guest's time, and the delay to 0.2 ms.
const EGRESS_INTERVAL_NS: u64 = 200_000;

/// Sends a gratuitous ARP, as an interface coming up does: the network
/// (passt, a bridge) learns the guest's MAC address from it. Until then
/// passt addresses frames for the guest to 00:00:00:00:00:00, which the
/// stack drops, so a first inbound connection would never be answered.
fn announce(device: &mut Device, mac: EthernetAddress, ip: Ipv4Addr) {
    use smoltcp::phy::TxToken as _;
    use smoltcp::wire::{
        ArpOperation, ArpPacket, ArpRepr, EthernetFrame, EthernetProtocol, EthernetRepr,
    };
    let arp = ArpRepr::EthernetIpv4 {
        operation: ArpOperation::Request,
        source_hardware_addr: mac,
        source_protocol_addr: ip,
        target_hardware_addr: EthernetAddress([0; 6]),
        target_protocol_addr: ip,
    };
    let ethernet = EthernetRepr {
        src_addr: mac,
        dst_addr: EthernetAddress::BROADCAST,
        ethertype: EthernetProtocol::Arp,
    };
    let Some(token) = device.transmit_outside() else {
        return;
    };
    token.consume(ethernet.buffer_len() + arp.buffer_len(), |buffer| {
        let mut frame = EthernetFrame::new_unchecked(buffer);
        ethernet.emit(&mut frame);
        arp.emit(&mut ArpPacket::new_unchecked(frame.payload_mut()));
    });
    device.kick();
}

/// The stack: `None` until the first socket call, then `Some(None)` when
/// the VM's network device does not answer as one.
static NET: Lock<Option<Option<Net>>> = Lock::new(None);

fn now() -> NetInstant {
    NetInstant::from_micros((Instant::now().as_nanos_since_boot() / 1000) as i64)
}

impl Net {
    fn open() -> Option<Self> {
        let config = platform::boot_info().net;
        let (mut device, mac) = if config.mmio_base == 0 {
            (Device::loopback_only(), device::LOOPBACK_MAC)
        } else {
            (Device::open(&config)?, config.mac)
        };
        let mut iface_config = Config::new(HardwareAddress::Ethernet(EthernetAddress(mac)));
        let seed = platform::boot_info().random_seed[3] ^ platform::rdtsc();
        iface_config.random_seed = seed;
        let mut iface = Interface::new(iface_config, &mut device, now());
        let address = if device.has_nic() {
            Ipv4Addr::from(config.ipv4)
        } else {
            Ipv4Addr::LOCALHOST
        };
        // The guest's own address first: smoltcp takes the first address
        // as the source for destinations outside every subnet.
        iface.update_ip_addrs(|addrs| {
            if device.has_nic() {
                let _ = addrs.push(IpCidr::new(address.into(), config.prefix_len.min(32)));
            }
            let _ = addrs.push(IpCidr::new(Ipv4Addr::LOCALHOST.into(), 8));
            let _ = addrs.push(IpCidr::new(Ipv6Addr::LOCALHOST.into(), 128));
        });
        if device.has_nic() {
            announce(&mut device, EthernetAddress(mac), address);
            platform::watch_network(&FRAMES_WAITING);
        }
        if device.has_nic() && config.gateway != [0; 4] {
            let _ = iface
                .routes_mut()
                .add_default_ipv4_route(Ipv4Addr::from(config.gateway));
        }
        Some(Self {
            device,
            iface,
            set: SocketSet::new(Vec::new()),
            sockets: Vec::new(),
            listeners: Vec::new(),
            closing: Vec::new(),
            // A random start, so a rebooted guest does not reuse the
            // ports of its previous life's connections at once.
            next_port: socket::EPHEMERAL_FIRST
                + (seed % u64::from(socket::EPHEMERAL_LAST - socket::EPHEMERAL_FIRST + 1)) as u16,
            address,
            last_egress: 0,
        })
    }

    /// Runs the stack: takes every received frame, and wakes the waiters
    /// of every socket when one may have changed (a poll for one thread's
    /// call may bring another's data). Returns whether one may have.
    ///
    /// What the sockets have to send is turned into frames only every
    /// [`EGRESS_INTERVAL_NS`] while the program keeps busy, and then sent
    /// at once, and otherwise when it goes idle ([`idle`]), right before the
    /// `Block` exit that carries the frames out. smoltcp's egress visits
    /// every socket, and each send costs an exit here: under load that
    /// makes one pass and one exit for many responses instead of one each.
    /// Without a device there is no exit to save, and every poll sends.
    fn poll(&mut self) -> bool {
        let now_ns = Instant::now().as_nanos_since_boot();
        let due =
            !self.device.has_nic() || now_ns.saturating_sub(self.last_egress) >= EGRESS_INTERVAL_NS;
        let changed = self.run(now_ns, due);
        if due {
            self.device.kick();
        }
        changed
    }

    /// Sends what the sockets hold now, with an exit of its own.
    fn flush_now(&mut self) {
        self.run(Instant::now().as_nanos_since_boot(), true);
        self.device.kick();
    }

    /// Whether some socket holds input the program has yet to take: more
    /// requests to answer before its output needs to leave.
    fn unread(&self) -> bool {
        self.sockets
            .iter()
            .flatten()
            .any(|socket| socket.has_input(&self.set))
    }

    /// Runs the stack with its egress, before the vCPU blocks. Where the
    /// `Block` does not carry the frames out (a standard hypervisor's
    /// device sees its queue only when notified), they are sent now.
    fn poll_idle(&mut self) -> bool {
        let changed = self.run(Instant::now().as_nanos_since_boot(), true);
        if !platform::exits_carry_frames() {
            self.device.kick();
        }
        changed
    }

    fn run(&mut self, now_ns: u64, egress: bool) -> bool {
        let now = NetInstant::from_micros((now_ns / 1000) as i64);
        self.iface.poll_maintenance(now);
        let mut changed = false;
        // Until the frames the guest sends itself have come back too.
        loop {
            // One frame at a time, so that each SYN of a burst finds a
            // socket in LISTEN (`iface.poll` would take the whole batch).
            loop {
                match self
                    .iface
                    .poll_ingress_single(now, &mut self.device, &mut self.set)
                {
                    PollIngressSingleResult::None => break,
                    PollIngressSingleResult::PacketProcessed => {}
                    PollIngressSingleResult::SocketStateChanged => changed = true,
                }
                socket::arm_listeners(self);
            }
            if egress {
                while self.iface.poll_egress(now, &mut self.device, &mut self.set)
                    == PollResult::SocketStateChanged
                {
                    changed = true;
                }
                self.last_egress = now_ns;
            }
            if !self.device.has_looped() {
                break;
            }
        }
        self.device.flush();
        let set = &mut self.set;
        self.closing.retain(|&handle| {
            let done = socket::finished(set, handle);
            if done {
                set.remove(handle);
            }
            !done
        });
        if changed {
            self.wake_all();
        }
        changed
    }

    /// Wakes every thread waiting on a socket, or in `poll`: each checks
    /// its own socket again.
    fn wake_all(&self) {
        for socket in self.sockets.iter().flatten() {
            sched::wake(socket.key(), usize::MAX);
        }
        crate::fd::wake_pollers();
    }

    /// A socket with the smoltcp sockets beside it.
    fn parts(&mut self, id: SocketId) -> Result<(&mut Socket, &mut SocketSet<'static>)> {
        let socket = self.sockets.get_mut(id).and_then(Option::as_deref_mut);
        Ok((socket.ok_or(Errno(EBADF))?, &mut self.set))
    }

    fn socket(&mut self, id: SocketId) -> Result<&mut Socket> {
        self.sockets
            .get_mut(id)
            .and_then(Option::as_deref_mut)
            .ok_or(Errno(EBADF))
    }

    /// Whether a packet to `ip` has a way to go: without a device only the
    /// loopback's addresses do (the unspecified one is this host too, as
    /// on Linux), as with only `lo` up.
    fn routes(&self, ip: IpAddr) -> bool {
        self.device.has_nic() || ip.is_loopback() || ip.is_unspecified()
    }
}

/// Runs `f` on the stack, opened on first use. Like the file state's
/// lock, this one is never held across a wait, so finding it taken means
/// a network call failed inside another (out of memory).
fn with<T>(f: impl FnOnce(&mut Net) -> Result<T>) -> Result<T> {
    let Some(mut state) = lock_unless_reentered(&NET) else {
        platform::report_panic(b"a network call failed inside another (out of memory?)");
    };
    match state.get_or_insert_with(Net::open) {
        // Without a device no exit carries frames, so what the call left
        // to send goes round the loopback now: a peer in the guest is woken
        // by this call, not when the program next idles.
        Some(net) if !net.device.has_nic() => {
            let result = f(net);
            net.poll();
            result
        }
        Some(net) => f(net),
        None => Err(Errno(EAFNOSUPPORT)),
    }
}

/// The scheduler's idle hook: polls the stack, wakes the waiters of
/// sockets that may have changed, and says when to poll next.
pub fn idle() -> Idle {
    let mut result = Idle::default();
    let Some(mut state) = lock_unless_reentered(&NET) else {
        return result;
    };
    let Some(Some(net)) = state.as_mut() else {
        return result;
    };
    result.present = net.device.has_nic()
        && (net.sockets.iter().any(Option::is_some) || !net.closing.is_empty());
    result.woke = net.poll_idle();
    if let Some(delay) = net.iface.poll_delay(now(), &net.set) {
        result.deadline = Instant::now()
            .as_nanos_since_boot()
            .saturating_add(delay.total_micros().saturating_mul(1000));
    }
    result
}

/// [`frames_waiting`], for the platform's `Block` ([`platform::watch_network`]).
static FRAMES_WAITING: fn() -> bool = frames_waiting;

/// Whether received frames wait for the stack. Another vCPU in a network
/// call (holding the stack) polls it anyway, so a held lock says no.
fn frames_waiting() -> bool {
    NET.try_lock().is_some_and(|state| {
        state
            .as_ref()
            .is_some_and(|net| net.as_ref().is_some_and(|net| net.device.frames_waiting()))
    })
}

/// Sends what the sockets hold now, before the program ends: output is
/// otherwise turned into frames only when the program idles or every
/// [`EGRESS_INTERVAL_NS`], so bytes written (or a FIN from a close) right
/// before `exit` would never leave. The `Exit` hypercall carries the
/// frames out, as every exit does; what the peer's window does not take
/// yet is lost, as the VM ends.
pub fn flush() {
    let Some(mut state) = lock_unless_reentered(&NET) else {
        return;
    };
    if let Some(Some(net)) = state.as_mut() {
        net.poll_idle();
        net.device.kick();
    }
}

/// Runs a socket operation: polls (so it sees what arrived), then tries
/// it. One that would block returns `EAGAIN` when `nonblocking` or past
/// `timeout` (ns), else waits on the socket's key and tries again.
fn blocking<T>(
    id: SocketId,
    nonblocking: bool,
    timeout: impl Fn(&Socket) -> Option<u64>,
    mut op: impl FnMut(&mut Net, SocketId) -> Io<T>,
) -> Result<T> {
    let mut deadline = None;
    sched::until_done(|| {
        let (outcome, key, limit) = match with(|net| {
            net.poll();
            let outcome = op(net, id);
            let socket = net.socket(id)?;
            Ok((outcome, socket.key(), timeout(socket)))
        }) {
            Ok(found) => found,
            Err(error) => return sched::Try::Done(Err(error)),
        };
        match outcome {
            Io::Done(result) => sched::Try::Done(result),
            Io::Again if nonblocking => sched::Try::Done(Err(Errno(EAGAIN))),
            Io::Again => {
                let now = Instant::now().as_nanos_since_boot();
                let deadline = *deadline.get_or_insert_with(|| {
                    limit.map_or(u64::MAX, |limit| now.saturating_add(limit))
                });
                if now >= deadline {
                    return sched::Try::Done(Err(Errno(EAGAIN)));
                }
                sched::Try::Wait { key, deadline }
            }
        }
    })
}

/// Runs an operation that never waits, after a poll (so it sees what
/// arrived).
fn immediate<T>(f: impl FnOnce(&mut Net) -> Result<T>) -> Result<T> {
    with(|net| {
        net.poll();
        f(net)
    })
}

/// `socket(2)` for `AF_INET` or `AF_INET6`: a new socket of `kind`.
pub fn create(kind: Kind, family: Family) -> Result<SocketId> {
    crate::fd::install_socket_hooks(&HOOKS);
    with(|net| create_in(net, Socket::new(kind, family)))
}

/// A host name's IPv4 addresses, as glibc finds them: `/etc/hosts` if it
/// names the host, else the boot info's DNS server.
pub fn resolve(
    name: &str,
    options: &ResolverOptions,
) -> core::result::Result<Vec<Ipv4Addr>, LookupError> {
    let pinned = hosts::lookup(name);
    if !pinned.is_empty() {
        return Ok(pinned);
    }
    // The scheduler polls the stack while the query waits.
    crate::fd::install_socket_hooks(&HOOKS);
    dns::query(name, options)
}

/// The stack's entry points, which the first `socket()` (or name lookup)
/// installs in the descriptor layer ([`crate::fd::socket_hooks`]).
static HOOKS: SocketHooks = SocketHooks {
    recv,
    send,
    poll_ready,
    close,
    idle,
    frames_waiting,
    flush,
};

/// Adds `socket` to the table.
fn create_in(net: &mut Net, socket: Socket) -> Result<SocketId> {
    let id = match net.sockets.iter().position(Option::is_none) {
        Some(id) => id,
        None => {
            net.sockets.push(None);
            net.sockets.len() - 1
        }
    };
    net.sockets[id] = Some(Box::new(socket));
    Ok(id)
}

/// Releases a socket (its last descriptor was closed): a connection is
/// closed gracefully, in the background.
pub fn close(id: SocketId) {
    let _ = immediate(|net| {
        let Some(socket) = net.sockets.get_mut(id).and_then(Option::take) else {
            return Ok(());
        };
        let key = socket.key();
        let handles = socket.release(&mut net.set);
        net.closing.extend(handles);
        sched::wake(key, usize::MAX);
        Ok(())
    });
}

/// `bind(2)`.
pub fn bind(id: SocketId, address: SocketAddr) -> Result<()> {
    immediate(|net| socket::bind(net, id, address))
}

/// `listen(2)`.
pub fn listen(id: SocketId, backlog: i32) -> Result<()> {
    immediate(|net| socket::listen(net, id, backlog))
}

/// `accept(2)`: a new socket for the next connection, and its peer.
pub fn accept(id: SocketId, nonblocking: bool) -> Result<(SocketId, SocketAddr)> {
    blocking(id, nonblocking, |s| s.recv_timeout(), socket::accept)
}

/// `connect(2)`. A non-blocking one returns `EINPROGRESS` and finishes in
/// the background (`poll` for writing, then `SO_ERROR`), even on the
/// loopback, where its handshake may be over by then, as on Linux.
pub fn connect(id: SocketId, address: SocketAddr, nonblocking: bool) -> Result<()> {
    let stream = immediate(|net| {
        socket::connect(net, id, address)?;
        Ok(net.socket(id)?.kind() == Kind::Stream)
    })?;
    if nonblocking && stream {
        return Err(Errno(EINPROGRESS));
    }
    blocking(id, false, |s| s.send_timeout(), socket::finish_connect)
}

/// `recvfrom(2)`: bytes (or a datagram) into `buf`, and who sent them.
/// With `peek`, they stay to be read again.
pub fn recv(id: SocketId, buf: &mut [u8], peek: bool, nonblocking: bool) -> Result<Received> {
    blocking(
        id,
        nonblocking,
        |s| s.recv_timeout(),
        |net, id| socket::recv(net, id, buf, peek),
    )
}

/// `sendto(2)`: `data` on the connection, or as a datagram to `to`.
pub fn send(id: SocketId, data: &[u8], to: Option<SocketAddr>, nonblocking: bool) -> Result<usize> {
    let sent = blocking(
        id,
        nonblocking,
        |s| s.send_timeout(),
        |net, id| socket::send(net, id, data, to),
    );
    // With no input left to take, the program is answering the last
    // request it has: the answer leaves now, not after the program's own
    // bookkeeping until it idles. Under load other sockets hold unread
    // requests, and the answers leave together later.
    if sent.is_ok() {
        let _ = with(|net| {
            if !net.unread() {
                net.flush_now();
            }
            Ok(())
        });
    }
    sent
}

/// `shutdown(2)`.
pub fn shutdown(id: SocketId, how: Shutdown) -> Result<()> {
    immediate(|net| socket::shutdown(net, id, how))
}

/// `getsockname(2)`.
pub fn local_address(id: SocketId) -> Result<SocketAddr> {
    with(|net| {
        let address = net.address;
        let socket = net.sockets.get(id).and_then(Option::as_deref);
        let socket = socket.ok_or(Errno(EBADF))?;
        Ok(socket.local_address(&net.set, address))
    })
}

/// `getpeername(2)`.
pub fn peer_address(id: SocketId) -> Result<SocketAddr> {
    with(|net| {
        let set = &net.set;
        let socket = net.sockets.get(id).and_then(Option::as_deref);
        socket.ok_or(Errno(EBADF))?.peer_address(set)
    })
}

/// `setsockopt(2)` for an integer option.
pub fn set_option(id: SocketId, level: i32, name: i32, value: i32) -> Result<()> {
    immediate(|net| {
        let (socket, set) = net.parts(id)?;
        socket.set_option(set, level, name, value)
    })
}

/// `getsockopt(2)` for an integer option (`SO_ERROR` clears the error).
pub fn option(id: SocketId, level: i32, name: i32) -> Result<i32> {
    with(|net| {
        let (socket, set) = net.parts(id)?;
        socket.option(set, level, name)
    })
}

/// Sets `SO_RCVTIMEO` (`receive`) or `SO_SNDTIMEO`: `None` waits forever.
pub fn set_timeout(id: SocketId, receive: bool, timeout: Option<u64>) -> Result<()> {
    with(|net| {
        net.socket(id)?.set_timeout(receive, timeout);
        Ok(())
    })
}

/// `SO_RCVTIMEO` (`receive`) or `SO_SNDTIMEO`, in ns.
pub fn timeout(id: SocketId, receive: bool) -> Result<Option<u64>> {
    with(|net| {
        let socket = net.socket(id)?;
        Ok(if receive {
            socket.recv_timeout()
        } else {
            socket.send_timeout()
        })
    })
}

/// Which of `wanted`'s `poll` events the socket has now.
pub fn poll_ready(id: SocketId, wanted: i16) -> i16 {
    with(|net| {
        net.poll();
        let (socket, set) = net.parts(id)?;
        Ok(socket.ready(set, wanted))
    })
    .unwrap_or(crate::fd::events::POLLNVAL)
}
