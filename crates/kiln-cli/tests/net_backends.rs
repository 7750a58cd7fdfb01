//! The network device's two host backends, end to end with `net-echo`
//! (a `std::net` TCP and UDP echo server): user mode through `-p`
//! (passt), and a TAP device inside a network namespace the test creates,
//! where it also sends the guest a burst of malformed frames.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{image, in_namespace, ip, kiln, require_kvm};

/// Starts `net-echo` with `flags` and waits for it to listen.
fn start_echo(echo: &Path, flags: &[&str]) -> Child {
    require_kvm();
    let mut child = kiln()
        .args(["run", "--memory", "64M", "--timeout", "60s"])
        .args(flags)
        .arg(echo)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start kiln");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout
        .read_line(&mut line)
        .expect("read the guest's first line");
    assert!(line.contains("listening on port 7"), "guest said {line:?}");
    // Keep reading: the guest logs each connection, and a closed pipe
    // would make its println! panic.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    child
}

/// Connects to `at`, retrying while the listener comes up (passt binds
/// the published port a few milliseconds after the guest starts).
fn connect(at: SocketAddr) -> TcpStream {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match TcpStream::connect_timeout(&at, Duration::from_secs(1)) {
            Ok(stream) => return stream,
            Err(e) if Instant::now() > deadline => panic!("cannot connect to {at}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Bytes each client sends after its name: many segments, more than one
/// batch of receive buffers.
const PAYLOAD: usize = 20_000;

/// Several clients at once, each getting back exactly what it sent.
fn tcp_echo_from_clients(at: SocketAddr, clients: usize) {
    let threads: Vec<_> = (0..clients)
        .map(|i| {
            std::thread::spawn(move || {
                let mut stream = connect(at);
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .expect("timeout");
                let message: Vec<u8> = format!("client {i}: ")
                    .bytes()
                    .chain((0..PAYLOAD).map(|n| (n % 251) as u8))
                    .collect();
                stream.write_all(&message).expect("send");
                let mut echoed = vec![0; message.len()];
                stream.read_exact(&mut echoed).expect("echo");
                assert!(echoed == message, "client {i} got other bytes back");
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("client");
    }
}

fn udp_echo(at: SocketAddr) {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut buf = [0; 64];
    for _ in 0..25 {
        socket.send_to(b"datagram", at).expect("send");
        if let Ok((n, _)) = socket.recv_from(&mut buf) {
            assert_eq!(&buf[..n], b"datagram");
            return;
        }
    }
    panic!("no UDP echo from {at}");
}

fn stop(mut child: Child) {
    assert!(
        child.try_wait().expect("poll kiln").is_none(),
        "the guest should still be serving"
    );
    child.kill().expect("stop kiln");
    child.wait().expect("reap kiln");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

#[test]
fn published_ports_reach_a_std_net_server_in_user_mode() {
    let echo = image("examples/net-echo", false);
    let port = free_port();
    let tcp = format!("127.0.0.1:{port}:7");
    let udp = format!("127.0.0.1:{port}:7/udp");
    let child = start_echo(&echo, &["-p", &tcp, "-p", &udp]);
    let at: SocketAddr = ([127, 0, 0, 1], port).into();
    tcp_echo_from_clients(at, 4);
    udp_echo(at);
    stop(child);
    // passt goes with the monitor, even one killed with SIGKILL.
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpListener::bind(at).is_err() {
        assert!(Instant::now() < deadline, "port {port} still held");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The TAP device the test makes in its network namespace.
const TAP: &str = "kilntap0";

#[test]
fn a_tap_device_in_a_namespace_reaches_the_guest_and_survives_garbage() {
    let test = "a_tap_device_in_a_namespace_reaches_the_guest_and_survives_garbage";
    let echo = image("examples/net-echo", false);
    // A fresh network namespace: the TAP device, its addresses and the
    // guest are gone when the child exits.
    if !in_namespace(test, &["--net"]) {
        return;
    }
    ip(&[
        &["link", "set", "lo", "up"],
        &["tuntap", "add", "dev", TAP, "mode", "tap"],
        &["addr", "add", "10.0.3.1/24", "dev", TAP],
        &["link", "set", TAP, "up"],
    ]);
    let net = format!("tap:{TAP}");
    let child = start_echo(
        &echo,
        &[
            "--net",
            &net,
            "--ip",
            "10.0.3.2/24",
            "--gateway",
            "10.0.3.1",
        ],
    );
    let at: SocketAddr = ([10, 0, 3, 2], 7).into();
    tcp_echo_from_clients(at, 4);
    udp_echo(at);
    send_garbage(TAP);
    tcp_echo_from_clients(at, 2);
    assert!(
        answers_arp_for(TAP, [10, 0, 3, 2]),
        "the guest answers ARP for its address"
    );
    assert!(
        !answers_arp_for(TAP, [127, 0, 0, 1]),
        "a loopback address is not reachable from the link"
    );
    stop(child);
}

/// Whether the guest answers, within half a second, an ARP request from
/// the link for `target`.
fn answers_arp_for(interface: &str, target: [u8; 4]) -> bool {
    const ETH_P_ALL: u16 = 0x0003;
    let name = std::ffi::CString::new(interface).expect("name");
    let source_mac = [0x02, 0, 0, 0, 0, 0x99];
    let mut request = vec![0xff; 6];
    request.extend_from_slice(&source_mac);
    // ARP: Ethernet, IPv4, 6- and 4-byte addresses, a request.
    request.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
    request.extend_from_slice(&source_mac);
    request.extend_from_slice(&[10, 0, 3, 1]);
    request.extend_from_slice(&[0; 6]);
    request.extend_from_slice(&target);
    // SAFETY: plain socket calls on a descriptor this function owns;
    // `address`, the request and `frame` are valid for the lengths given.
    unsafe {
        let index = libc::if_nametoindex(name.as_ptr());
        assert_ne!(index, 0, "no interface {interface}");
        let fd = libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW,
            i32::from(ETH_P_ALL.to_be()),
        );
        assert!(fd >= 0, "AF_PACKET: {}", std::io::Error::last_os_error());
        let mut address: libc::sockaddr_ll = std::mem::zeroed();
        address.sll_family = libc::AF_PACKET as u16;
        address.sll_protocol = ETH_P_ALL.to_be();
        address.sll_ifindex = index as i32;
        address.sll_halen = 6;
        address.sll_addr[..6].fill(0xff);
        let size = size_of::<libc::sockaddr_ll>() as u32;
        assert_eq!(libc::bind(fd, (&raw const address).cast(), size), 0);
        libc::sendto(
            fd,
            request.as_ptr().cast(),
            request.len(),
            0,
            (&raw const address).cast(),
            size,
        );
        let deadline = Instant::now() + Duration::from_millis(500);
        let mut answered = false;
        while !answered && Instant::now() < deadline {
            let mut poll = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            if libc::poll(&mut poll, 1, 50) <= 0 {
                continue;
            }
            let mut frame = [0u8; 2048];
            let n = libc::recv(fd, frame.as_mut_ptr().cast(), frame.len(), 0);
            // An ARP reply to us, from the address asked for.
            answered = n >= 42
                && frame[12..14] == [0x08, 0x06]
                && frame[20..22] == [0, 2]
                && frame[28..32] == target
                && frame[32..38] == source_mac;
        }
        libc::close(fd);
        answered
    }
}

/// A burst of malformed frames into the TAP device, as a hostile host-side
/// peer could send: runts, random bytes, broken IPv4 and ARP headers.
fn send_garbage(interface: &str) {
    let name = std::ffi::CString::new(interface).expect("name");
    // SAFETY: plain socket calls on a descriptor this function owns;
    // `address` and each frame are valid for the lengths given.
    unsafe {
        let index = libc::if_nametoindex(name.as_ptr());
        assert_ne!(index, 0, "no interface {interface}");
        let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0);
        assert!(
            fd >= 0,
            "AF_PACKET socket: {}",
            std::io::Error::last_os_error()
        );
        let mut address: libc::sockaddr_ll = std::mem::zeroed();
        address.sll_family = libc::AF_PACKET as u16;
        address.sll_ifindex = index as i32;
        address.sll_halen = 6;
        address.sll_addr[..6].fill(0xff);
        let mut seed = 0x1234_5678_u32;
        let mut random = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed as u8
        };
        for i in 0..2000usize {
            let len = match i % 4 {
                0 => i % 14,
                1 => 14 + i % 40,
                _ => 60 + i % 1454,
            };
            let mut frame: Vec<u8> = (0..len).map(|_| random()).collect();
            if len >= 14 {
                frame[..6].fill(0xff);
                // Half claim to be IPv4, a quarter ARP, the rest random.
                match i % 4 {
                    0 | 2 => frame[12..14].copy_from_slice(&[0x08, 0x00]),
                    1 => frame[12..14].copy_from_slice(&[0x08, 0x06]),
                    _ => {}
                }
            }
            libc::sendto(
                fd,
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&raw const address).cast(),
                size_of::<libc::sockaddr_ll>() as u32,
            );
        }
        libc::close(fd);
    }
}
