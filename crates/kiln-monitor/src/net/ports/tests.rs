//! The forwarder against a fake guest: a smoltcp stack of its own on the
//! other end of the frame socket (where the device would be), serving a
//! TCP and a UDP echo. Every forwarder here runs under its seccomp filter,
//! which kills the whole process on a miss; the probe test runs the whole
//! path in a child process, so such a miss is one failed test.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::socket::{tcp, udp};
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpCidr};

use super::link::FrameLink;
use super::tcp::reset_on_close;
use super::*;
use crate::net::spec::DEFAULT_MAC;

/// The guest port the fake guest echoes on (TCP and UDP).
const ECHO: u16 = 7;
/// A guest port nothing listens on.
const CLOSED: u16 = 9;

/// A forwarder publishing, on loopback ports the kernel picks, TCP to the
/// echo port, TCP to a closed port and UDP to the echo port.
struct Setup {
    /// The device's end of the link.
    device: OwnedFd,
    forwarder: JoinHandle<()>,
    echo: SocketAddr,
    closed: SocketAddr,
    udp: SocketAddr,
}

fn setup() -> Setup {
    let forward = |guest_port, protocol| PortForward {
        host_ip: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        host_port: 0,
        guest_port,
        protocol,
    };
    let listeners = bind(&[
        forward(ECHO, Protocol::Tcp),
        forward(CLOSED, Protocol::Tcp),
        forward(ECHO, Protocol::Udp),
    ])
    .expect("bind loopback ports");
    let echo = listeners.tcp[0].0.local_addr().expect("addr");
    let closed = listeners.tcp[1].0.local_addr().expect("addr");
    let udp = listeners.udp[0].0.local_addr().expect("addr");
    let (device, theirs) = socket_pair().expect("socketpair");
    let forwarder = Forwarder::new(theirs, &Addressing::user_mode(), GATEWAY_MAC, listeners);
    Setup {
        device,
        forwarder: spawn(forwarder).expect("spawn the forwarder"),
        echo,
        closed,
        udp,
    }
}

/// What the fake guest saw.
#[derive(Default)]
struct Seen {
    /// Connections that ended in a reset, not a close.
    resets: AtomicUsize,
    /// Connections the guest accepted.
    accepted: AtomicUsize,
}

/// A smoltcp guest at 10.0.2.15 echoing on [`ECHO`], until `stop`.
struct FakeGuest {
    iface: Interface,
    sockets: SocketSet<'static>,
    link: FrameLink,
    listening: Vec<SocketHandle>,
    /// Connections, and whether the guest closed its side.
    connections: Vec<(SocketHandle, bool)>,
    udp: SocketHandle,
    seen: Arc<Seen>,
    epoch: std::time::Instant,
}

impl FakeGuest {
    fn start(device: OwnedFd, stop: Arc<AtomicBool>) -> (Arc<Seen>, JoinHandle<()>) {
        let addressing = Addressing::user_mode();
        let mut link = FrameLink::new(device, addressing.mtu as usize);
        let config = Config::new(HardwareAddress::Ethernet(EthernetAddress(DEFAULT_MAC)));
        let mut iface = Interface::new(config, &mut link, Instant::ZERO);
        iface.update_ip_addrs(|addrs| {
            addrs
                .push(IpCidr::new(addressing.ipv4.into(), addressing.prefix_len))
                .expect("room for an address");
        });
        let mut sockets = SocketSet::new(Vec::new());
        let ring = || udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 16], vec![0; 16384]);
        let mut socket = udp::Socket::new(ring(), ring());
        socket.bind(ECHO).expect("bind UDP");
        let udp = sockets.add(socket);
        let seen = Arc::new(Seen::default());
        let mut guest = Self {
            iface,
            sockets,
            link,
            listening: Vec::new(),
            connections: Vec::new(),
            udp,
            seen: seen.clone(),
            epoch: std::time::Instant::now(),
        };
        let thread = std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) && !guest.link.closed() {
                guest.round();
            }
        });
        (seen, thread)
    }

    fn round(&mut self) {
        let now = Instant::from_micros(self.epoch.elapsed().as_micros() as i64);
        self.link.new_round();
        self.iface.poll(now, &mut self.link, &mut self.sockets);
        self.listen();
        self.echo();
        let socket = self.sockets.get_mut::<udp::Socket>(self.udp);
        let mut datagram = [0; 2048];
        while let Ok((n, meta)) = socket.recv_slice(&mut datagram) {
            socket.send_slice(&datagram[..n], meta).expect("room");
        }
        self.iface.poll(now, &mut self.link, &mut self.sockets);
        self.link.flush();
        let mut poll = libc::pollfd {
            fd: self.link.fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut poll, 1, 2) };
    }

    /// Keeps sockets in LISTEN for a burst of SYNs.
    fn listen(&mut self) {
        let sockets = &mut self.sockets;
        let mut index = 0;
        while index < self.listening.len() {
            let handle = self.listening[index];
            if sockets.get::<tcp::Socket>(handle).is_listening() {
                index += 1;
            } else {
                self.listening.swap_remove(index);
                self.connections.push((handle, false));
                self.seen.accepted.fetch_add(1, Ordering::SeqCst);
            }
        }
        while self.listening.len() < 8 {
            let mut socket = tcp::Socket::new(
                tcp::SocketBuffer::new(vec![0; 65536]),
                tcp::SocketBuffer::new(vec![0; 65536]),
            );
            socket.listen(ECHO).expect("listen");
            self.listening.push(sockets.add(socket));
        }
    }

    /// Echoes, closes after the peer's FIN, counts resets.
    fn echo(&mut self) {
        let mut buf = [0; 8192];
        let sockets = &mut self.sockets;
        self.connections.retain_mut(|(handle, closed)| {
            let socket = sockets.get_mut::<tcp::Socket>(*handle);
            while socket.can_recv() && socket.can_send() {
                let room = (socket.send_capacity() - socket.send_queue()).min(buf.len());
                let n = socket.recv_slice(&mut buf[..room]).expect("recv");
                socket.send_slice(&buf[..n]).expect("send");
            }
            match socket.state() {
                tcp::State::Closed | tcp::State::TimeWait => {
                    // A peer's FIN leads to CLOSE-WAIT: closed before we
                    // closed means reset.
                    if !*closed {
                        self.seen.resets.fetch_add(1, Ordering::SeqCst);
                    }
                    sockets.remove(*handle);
                    return false;
                }
                tcp::State::SynReceived => return true,
                _ => {}
            }
            if !*closed && !socket.may_recv() {
                socket.close();
                *closed = true;
            }
            true
        });
    }
}

/// The fake guest on `setup`'s link, running until the returned flag is set.
fn with_guest(setup: &mut Setup) -> (Arc<AtomicBool>, Arc<Seen>, JoinHandle<()>) {
    let device = setup.device.try_clone().expect("dup");
    let stop = Arc::new(AtomicBool::new(false));
    let (seen, thread) = FakeGuest::start(device, stop.clone());
    (stop, seen, thread)
}

fn connect(at: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(at).expect("connect to the published port");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream
}

/// Sends `len` bytes, half-closes, and expects them all back, then EOF.
fn echo_with_half_close(at: SocketAddr, len: usize, seed: u8) {
    let mut stream = connect(at);
    let message: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(seed)).collect();
    let mut writer = stream.try_clone().expect("clone");
    let sender = std::thread::spawn(move || {
        writer.write_all(&message).expect("send");
        writer.shutdown(Shutdown::Write).expect("half-close");
        message
    });
    let mut echoed = Vec::new();
    stream.read_to_end(&mut echoed).expect("echo, then EOF");
    let message = sender.join().expect("sender");
    assert!(echoed == message, "{} bytes back of {}", echoed.len(), len);
}

fn udp_echo(at: SocketAddr) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut buf = [0; 64];
    for _ in 0..25 {
        socket.send_to(b"datagram", at).expect("send");
        if let Ok((n, from)) = socket.recv_from(&mut buf) {
            assert_eq!(&buf[..n], b"datagram");
            assert_eq!(from, at, "the reply comes from the published port");
            return;
        }
    }
    panic!("no UDP echo through {at}");
}

/// A connection to a guest port nothing listens on is reset.
fn refused(at: SocketAddr) {
    let mut stream = connect(at);
    let mut buf = [0; 16];
    let error = stream.read(&mut buf).expect_err("a reset");
    assert_eq!(error.kind(), ErrorKind::ConnectionReset);
}

/// Closes the device's end and waits for the forwarder to end and free
/// its ports.
fn finish(setup: Setup, guest: Option<(Arc<AtomicBool>, JoinHandle<()>)>) {
    if let Some((stop, thread)) = guest {
        stop.store(true, Ordering::SeqCst);
        thread.join().expect("fake guest");
    }
    let Setup {
        device,
        forwarder,
        echo,
        ..
    } = setup;
    drop(device);
    forwarder.join().expect("the forwarder ends with the link");
    std::net::TcpListener::bind(echo).expect("the port is free again");
}

#[test]
fn tcp_connections_carry_bytes_both_ways_and_half_close() {
    let mut setup = setup();
    let (stop, _, guest) = with_guest(&mut setup);
    let clients: Vec<_> = (1..=4)
        .map(|seed| {
            let at = setup.echo;
            std::thread::spawn(move || echo_with_half_close(at, 200_000, seed))
        })
        .collect();
    for client in clients {
        client.join().expect("client");
    }
    finish(setup, Some((stop, guest)));
}

#[test]
fn udp_datagrams_come_back_from_the_published_port() {
    let mut setup = setup();
    let (stop, _, guest) = with_guest(&mut setup);
    udp_echo(setup.udp);
    udp_echo(setup.udp);
    finish(setup, Some((stop, guest)));
}

#[test]
fn more_udp_peers_than_flows_evict_the_oldest_and_all_get_answers() {
    let mut setup = setup();
    let (stop, _, guest) = with_guest(&mut setup);
    for _ in 0..super::udp::MAX_FLOWS + 8 {
        udp_echo(setup.udp);
    }
    finish(setup, Some((stop, guest)));
}

#[test]
fn a_port_the_guest_does_not_serve_resets_the_host_connection() {
    let mut setup = setup();
    let (stop, _, guest) = with_guest(&mut setup);
    refused(setup.closed);
    finish(setup, Some((stop, guest)));
}

#[test]
fn a_reset_from_the_host_resets_the_guest_connection() {
    let mut setup = setup();
    let (stop, seen, guest) = with_guest(&mut setup);
    let mut stream = connect(setup.echo);
    stream.write_all(b"hello").expect("send");
    let mut buf = [0; 5];
    stream.read_exact(&mut buf).expect("echo");
    reset_on_close(&stream);
    drop(stream);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while seen.resets.load(Ordering::SeqCst) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the guest saw no reset"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    finish(setup, Some((stop, guest)));
}

#[test]
fn connections_beyond_the_bound_are_reset_and_the_rest_served() {
    let mut setup = setup();
    let (stop, _, guest) = with_guest(&mut setup);
    let open: Vec<TcpStream> = (0..MAX_CONNECTIONS)
        .map(|_| {
            let mut stream = connect(setup.echo);
            stream.write_all(b"!").expect("send");
            stream.read_exact(&mut [0; 1]).expect("echo");
            stream
        })
        .collect();
    for _ in 0..8 {
        let mut stream = connect(setup.echo);
        let error = stream.read(&mut [0; 1]).expect_err("a reset");
        assert_eq!(error.kind(), ErrorKind::ConnectionReset);
    }
    let mut first = &open[0];
    first.write_all(b"?").expect("send");
    let mut byte = [0; 1];
    first.read_exact(&mut byte).expect("still served");
    assert_eq!(&byte, b"?");
    drop(open);
    // The closes take a moment to go through: then there is room again.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let mut stream = connect(setup.echo);
        let echoed = stream
            .write_all(b"!")
            .and_then(|()| stream.read_exact(&mut [0; 1]));
        if echoed.is_ok() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no room again");
        std::thread::sleep(Duration::from_millis(20));
    }
    finish(setup, Some((stop, guest)));
}

#[test]
fn connections_the_guest_does_not_answer_wait_in_the_host_queue() {
    // No guest: handshakes stay under way, and only a few are let in.
    let setup = setup();
    let waiting: Vec<TcpStream> = (0..32).map(|_| connect(setup.echo)).collect();
    for mut stream in &waiting {
        stream
            .set_read_timeout(Some(Duration::from_millis(20)))
            .expect("timeout");
        // Other tests in this process arm the watchdog's SIGALRM, which
        // may land here.
        let error = loop {
            match stream.read(&mut [0; 1]) {
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                read => break read.expect_err("no answer yet"),
            }
        };
        assert_eq!(error.kind(), ErrorKind::WouldBlock, "waiting, not reset");
    }
    drop(waiting);
    finish(setup, None);
}

/// Frames a hostile guest might send: empty, truncated, wrong lengths and
/// offsets in every header, oversized, and noise.
fn garbage() -> Vec<Vec<u8>> {
    let eth = |ethertype: [u8; 2], payload: &[u8]| {
        let mut frame = GATEWAY_MAC.to_vec();
        frame.extend_from_slice(&DEFAULT_MAC);
        frame.extend_from_slice(&ethertype);
        frame.extend_from_slice(payload);
        frame
    };
    let ipv4 = |ihl_len: u8, total: u16, protocol: u8, payload: &[u8]| {
        let mut packet = vec![ihl_len, 0];
        packet.extend_from_slice(&total.to_be_bytes());
        packet.extend_from_slice(&[0, 0, 0x40, 0, 64, protocol, 0, 0]);
        packet.extend_from_slice(&[10, 0, 2, 15, 10, 0, 2, 2]);
        packet.extend_from_slice(payload);
        packet
    };
    let tcp_header = |offset: u8, flags: u8| {
        let mut segment = vec![0x30, 0x39, 0xc0, 0x00, 0, 0, 0, 1, 0, 0, 0, 0];
        segment.extend_from_slice(&[offset << 4, flags, 0xff, 0xff, 0, 0, 0, 0]);
        segment
    };
    let mut frames = vec![
        Vec::new(),
        vec![0],
        vec![0xff; 13],
        eth([0x08, 0x06], &[]),
        eth([0x08, 0x06], &[0, 1, 0x08, 0, 6, 4, 0, 9]),
        eth([0x08, 0x06], &[0, 1, 0x08, 0, 200, 200, 0, 1, 1, 2, 3]),
        eth([0x08, 0x00], &[]),
        eth([0x08, 0x00], &ipv4(0x4f, 60, 6, &[])),
        eth([0x08, 0x00], &ipv4(0x45, 65535, 6, &[0; 20])),
        eth([0x08, 0x00], &ipv4(0x45, 10, 6, &[0; 20])),
        eth([0x08, 0x00], &ipv4(0x41, 40, 6, &[0; 20])),
        eth([0x08, 0x00], &ipv4(0x65, 40, 6, &[0; 20])),
        eth([0x08, 0x00], &ipv4(0x45, 40, 6, &tcp_header(15, 0x02))),
        eth([0x08, 0x00], &ipv4(0x45, 40, 6, &tcp_header(0, 0x3f))),
        eth([0x08, 0x00], &ipv4(0x45, 28, 17, &[0, 7, 0, 7, 0, 3, 0, 0])),
        eth(
            [0x08, 0x00],
            &ipv4(0x45, 28, 17, &[0, 7, 0, 7, 0xff, 0xff, 0, 0]),
        ),
        eth([0x08, 0x00], &ipv4(0x45, 28, 1, &[8, 0, 0, 0, 0, 0, 0, 0])),
        eth([0x86, 0xdd], &[0x60; 60]),
        eth([0x08, 0x00], &vec![0x45; 9000]),
        vec![0xa5; 65536 + 14],
    ];
    // Noise, from a fixed generator: every byte value in every field.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for len in (0..2000).step_by(7) {
        let mut frame = eth([0x08, if len % 2 == 0 { 0x00 } else { 0x06 }], &[]);
        for _ in 0..len {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            frame.push(state as u8);
        }
        if frame.len() > 20 {
            // Mostly well-formed IPv4 headers, to reach the layers above.
            frame[14] = 0x45;
        }
        frames.push(frame);
    }
    frames
}

#[test]
fn garbage_from_the_guest_leaves_the_forwarder_serving() {
    let mut setup = setup();
    let mut device = std::os::unix::net::UnixStream::from(setup.device.try_clone().expect("dup"));
    for frame in garbage() {
        device
            .write_all(&(frame.len() as u32).to_be_bytes())
            .expect("prefix");
        device.write_all(&frame).expect("frame");
    }
    // What the forwarder answered, the announcement first.
    let mut prefix = [0; 4];
    device.read_exact(&mut prefix).expect("a frame");
    let mut frame = vec![0; u32::from_be_bytes(prefix) as usize];
    device.read_exact(&mut frame).expect("the announcement");
    assert_eq!(frame[12..14], [0x08, 0x06], "an ARP request first");
    // Whatever else it answered (ICMP, resets) the fake guest ignores.
    drop(device);
    let (stop, _, guest) = with_guest(&mut setup);
    echo_with_half_close(setup.echo, 10_000, 3);
    udp_echo(setup.udp);
    finish(setup, Some((stop, guest)));
}

/// The guest asking for the gateway's MAC, from the guest's MAC.
fn gateway_request() -> Vec<u8> {
    let addressing = Addressing::user_mode();
    let mut request = vec![0xff; 6];
    request.extend_from_slice(&DEFAULT_MAC);
    request.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
    request.extend_from_slice(&DEFAULT_MAC);
    request.extend_from_slice(&addressing.ipv4.octets());
    request.extend_from_slice(&[0; 6]);
    request.extend_from_slice(&addressing.gateway.octets());
    request
}

/// The next frame from the forwarder, if one is there already.
fn next_frame(device: &mut std::os::unix::net::UnixStream) -> Option<Vec<u8>> {
    let mut prefix = [0; 4];
    match device.read_exact(&mut prefix) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::WouldBlock => return None,
        Err(e) => panic!("reading the link: {e}"),
    }
    let mut frame = vec![0; u32::from_be_bytes(prefix) as usize];
    device.read_exact(&mut frame).expect("a whole frame");
    Some(frame)
}

/// A guest frame that arrives while a round serves the connections is
/// left for the next round, which the link's poll starts: were it taken
/// in as the round sends, it would wait for other traffic, unseen. A
/// connection's last bytes and FIN once waited so until TIME-WAIT ran
/// out, and the host got a reset instead of its echo.
#[test]
fn a_frame_that_comes_while_a_round_serves_waits_for_the_next_round() {
    let (device, theirs) = socket_pair().expect("socketpair");
    let ports = Listeners {
        tcp: Vec::new(),
        udp: Vec::new(),
    };
    let mut forwarder = Forwarder::new(theirs, &Addressing::user_mode(), GATEWAY_MAC, ports);
    let mut device = std::os::unix::net::UnixStream::from(device);
    forwarder.serve(Instant::ZERO);
    let request = gateway_request();
    device
        .write_all(&(request.len() as u32).to_be_bytes())
        .expect("prefix");
    device.write_all(&request).expect("the request");
    forwarder.send(Instant::ZERO);
    device.set_nonblocking(true).expect("non-blocking");
    let announcement = next_frame(&mut device).expect("the announcement");
    assert_eq!(announcement[21], 1, "an ARP request");
    assert!(
        next_frame(&mut device).is_none(),
        "the request was answered after the round's service"
    );
    forwarder.serve(Instant::ZERO);
    forwarder.send(Instant::ZERO);
    let reply = next_frame(&mut device).expect("the next round answers");
    assert_eq!(
        (&reply[12..14], reply[21]),
        (&[0x08, 0x06][..], 2),
        "an ARP reply"
    );
}

/// A connection the forwarder aborts itself (here for the host's reset)
/// is gone once the round that sent its RST ends: nothing else may come
/// to wake the loop, and until then it held its port and its rings.
#[test]
fn an_aborted_connection_is_dropped_in_the_round_that_resets_it() {
    let listeners = bind(&[PortForward {
        host_ip: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        host_port: 0,
        guest_port: ECHO,
        protocol: Protocol::Tcp,
    }])
    .expect("bind a loopback port");
    let echo = listeners.tcp[0].0.local_addr().expect("addr");
    let (device, theirs) = socket_pair().expect("socketpair");
    let mut forwarder = Forwarder::new(theirs, &Addressing::user_mode(), GATEWAY_MAC, listeners);
    let stop = Arc::new(AtomicBool::new(false));
    let (seen, guest) = FakeGuest::start(device, stop.clone());
    let mut stream = connect(echo);
    stream.write_all(b"hello").expect("send");
    stream.set_nonblocking(true).expect("non-blocking");
    let mut echoed = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while echoed.len() < 5 {
        assert!(std::time::Instant::now() < deadline, "no echo");
        forwarder.serve(Instant::ZERO);
        forwarder.send(Instant::ZERO);
        let mut buf = [0; 5];
        match stream.read(&mut buf) {
            Ok(n) => echoed.extend_from_slice(&buf[..n]),
            Err(error) if error.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(error) => panic!("reading the echo: {error}"),
        }
    }
    assert_eq!(forwarder.connections(), 1);
    reset_on_close(&stream);
    drop(stream);
    // Then the host's reset is surely in: this one wait sees it.
    std::thread::sleep(Duration::from_millis(50));
    forwarder.wait(Instant::ZERO);
    forwarder.serve(Instant::ZERO);
    forwarder.send(Instant::ZERO);
    assert_eq!(forwarder.connections(), 0, "dropped as its RST went out");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while seen.resets.load(Ordering::SeqCst) == 0 {
        assert!(std::time::Instant::now() < deadline, "the guest saw no RST");
        std::thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, Ordering::SeqCst);
    guest.join().expect("fake guest");
}

/// More frames in one write than a round takes in: the rest are handled
/// in the next rounds, not left for the next frame to come.
#[test]
fn a_burst_beyond_a_rounds_budget_is_answered_whole() {
    let setup = setup();
    let mut device = std::os::unix::net::UnixStream::from(setup.device.try_clone().expect("dup"));
    device
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let request = gateway_request();
    let burst = 3 * super::link::INGRESS_BUDGET / 2;
    let mut stream = Vec::new();
    for _ in 0..burst {
        stream.extend_from_slice(&(request.len() as u32).to_be_bytes());
        stream.extend_from_slice(&request);
    }
    device.write_all(&stream).expect("the burst");
    // The announcement, then one reply per request.
    for i in 0..=burst {
        let mut prefix = [0; 4];
        device
            .read_exact(&mut prefix)
            .unwrap_or_else(|e| panic!("frame {i} of {burst}: {e}"));
        let mut frame = vec![0; u32::from_be_bytes(prefix) as usize];
        device.read_exact(&mut frame).expect("a frame");
        assert_eq!(frame[12..14], [0x08, 0x06], "ARP");
        assert_eq!(
            frame[21],
            if i == 0 { 1 } else { 2 },
            "request, then replies"
        );
    }
    drop(device);
    finish(setup, None);
}

#[test]
fn the_forwarder_seccomp_program_allows_its_whole_path() {
    let test = "net::ports::tests::the_forwarder_seccomp_program_allows_its_whole_path";
    if !crate::test_support::in_child(test) {
        return;
    }
    let mut setup = setup();
    let (stop, seen, guest) = with_guest(&mut setup);
    echo_with_half_close(setup.echo, 100_000, 5);
    udp_echo(setup.udp);
    refused(setup.closed);
    let stream = connect(setup.echo);
    reset_on_close(&stream);
    drop(stream);
    while seen.accepted.load(Ordering::SeqCst) < 2 {
        std::thread::sleep(Duration::from_millis(5));
    }
    // The thread's exit, under its filter.
    finish(setup, Some((stop, guest)));
    assert!(seen.accepted.load(Ordering::SeqCst) >= 2);
}
