//! Loopback networking as a program meets it with no network at all (a
//! Linux network namespace with only `lo` up): a TCP echo server thread and
//! its client on 127.0.0.1 and on ::1, UDP on both, a refused connection,
//! a non-blocking connect waited for with `poll`, a read waited for with
//! `epoll`, `shutdown`, `SO_REUSEADDR`, and the addresses nobody routes.
//! Ports are the kernel's choice, so lines show addresses and whether
//! ports match, never the ports themselves.

use std::io::{Read, Write};
use std::net::{
    IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs,
    UdpSocket,
};
use std::os::fd::AsRawFd;
use std::thread;

/// An error as `kind (errno)`, or `ok`.
fn outcome<T>(result: std::io::Result<T>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(e) => format!("{:?} ({})", e.kind(), e.raw_os_error().unwrap_or(0)),
    }
}

/// A server thread echoing every byte of one connection until the client
/// shuts its writing half, then saying how many it echoed; the client
/// sends `total` bytes of a pattern and checks what comes back, so the
/// windows fill and each side waits on the other.
fn echo(ip: IpAddr, total: usize) {
    let listener = TcpListener::bind((ip, 0)).expect("bind");
    let address = listener.local_addr().expect("local address");
    let server = thread::spawn(move || {
        let (mut stream, peer) = listener.accept().expect("accept");
        let local = stream.local_addr().expect("local address");
        let mut buf = [0u8; 8192];
        let mut echoed = 0;
        loop {
            let n = stream.read(&mut buf).expect("server read");
            if n == 0 {
                break;
            }
            stream.write_all(&buf[..n]).expect("server write");
            echoed += n;
        }
        stream
            .write_all(format!("echoed {echoed}").as_bytes())
            .expect("server summary");
        (peer, local)
    });
    let mut stream = TcpStream::connect(address).expect("connect");
    let client_local = stream.local_addr().expect("local address");
    let client_peer = stream.peer_addr().expect("peer address");
    let pattern = |i: usize| (i % 251) as u8;
    let mut reader = stream.try_clone().expect("clone");
    // Checked as it comes, not kept: the guest's memory is small.
    let receiver = thread::spawn(move || {
        let mut buf = [0u8; 8192];
        let (mut received, mut intact, mut rest) = (0, true, Vec::new());
        loop {
            let n = reader.read(&mut buf).expect("client read");
            if n == 0 {
                return (received.min(total), intact, rest);
            }
            for &byte in &buf[..n] {
                if received < total {
                    intact &= byte == pattern(received);
                } else {
                    rest.push(byte);
                }
                received += 1;
            }
        }
    });
    let data: Vec<u8> = (0..total).map(pattern).collect();
    stream.write_all(&data).expect("client write");
    stream.shutdown(Shutdown::Write).expect("shutdown");
    let (received, intact, summary) = receiver.join().expect("receiver");
    let (peer, server_local) = server.join().expect("server");
    println!(
        "tcp {ip}: {received} bytes back intact: {intact}, then {:?}",
        String::from_utf8_lossy(&summary)
    );
    println!(
        "tcp {ip}: server sees peer {} local {}, ports match: {}",
        peer.ip(),
        server_local.ip(),
        peer == client_local && server_local == client_peer && client_peer == address
    );
}

/// Two UDP sockets on `ip` trading datagrams, one of them the largest an
/// IPv4 or IPv6 datagram can be, and one larger still.
fn udp(ip: IpAddr) {
    let a = UdpSocket::bind((ip, 0)).expect("bind a");
    let b = UdpSocket::bind((ip, 0)).expect("bind b");
    let b_address = b.local_addr().expect("address b");
    a.send_to(b"ping", b_address).expect("send ping");
    let mut buf = vec![0u8; 70_000];
    let (n, from) = b.recv_from(&mut buf).expect("recv ping");
    println!(
        "udp {ip}: got {:?} from {}, port matches: {}",
        String::from_utf8_lossy(&buf[..n]),
        from.ip(),
        from == a.local_addr().expect("address a")
    );
    b.send_to(b"pong", from).expect("send pong");
    let (n, from) = a.recv_from(&mut buf).expect("recv pong");
    println!(
        "udp {ip}: got {:?} back from {}",
        String::from_utf8_lossy(&buf[..n]),
        from.ip()
    );
    a.connect(b_address).expect("connect");
    println!(
        "udp {ip}: connected, local {} peer {}",
        a.local_addr().expect("local").ip(),
        a.peer_addr().expect("peer").ip()
    );
    if ip.is_ipv4() {
        let largest = vec![7u8; 65_507];
        println!("udp {ip}: 65507 bytes: {}", outcome(a.send(&largest)));
        let n = b.recv(&mut buf).expect("recv largest");
        println!("udp {ip}: received {n} bytes");
        println!("udp {ip}: 65508 bytes: {}", outcome(a.send(&[7u8; 65_508])));
    }
}

/// A port nobody listens on now: one the kernel just gave a listener,
/// which is closed.
fn closed_port(ip: IpAddr) -> SocketAddr {
    TcpListener::bind((ip, 0))
        .expect("bind")
        .local_addr()
        .expect("address")
}

/// A non-blocking TCP socket of `to`'s family, connecting to `to`; the
/// `connect` answer and the socket.
fn connect_nonblocking(to: SocketAddr) -> (String, libc::c_int) {
    // SAFETY: plain socket calls on a descriptor this function hands back;
    // the addresses are valid for the lengths given.
    unsafe {
        let (family, address, len) = sockaddr(to);
        let fd = libc::socket(family, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0);
        assert!(fd >= 0, "socket");
        let rc = libc::connect(fd, (&raw const address).cast(), len);
        let answer = if rc == 0 {
            "ok".to_string()
        } else {
            outcome::<()>(Err(std::io::Error::last_os_error()))
        };
        (answer, fd)
    }
}

/// `to` as a C socket address: its family, the bytes, and their length.
fn sockaddr(to: SocketAddr) -> (libc::c_int, libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero bytes are a valid `sockaddr_storage`, and it is large
    // and aligned enough for either address written into it.
    unsafe {
        let mut storage: libc::sockaddr_storage = std::mem::zeroed();
        match to {
            SocketAddr::V4(v4) => {
                let sin = (&raw mut storage).cast::<libc::sockaddr_in>();
                (*sin).sin_family = libc::AF_INET as u16;
                (*sin).sin_port = v4.port().to_be();
                (*sin).sin_addr.s_addr = u32::from(*v4.ip()).to_be();
                let len = size_of::<libc::sockaddr_in>() as libc::socklen_t;
                (libc::AF_INET, storage, len)
            }
            SocketAddr::V6(v6) => {
                let sin6 = (&raw mut storage).cast::<libc::sockaddr_in6>();
                (*sin6).sin6_family = libc::AF_INET6 as u16;
                (*sin6).sin6_port = v6.port().to_be();
                (*sin6).sin6_addr.s6_addr = v6.ip().octets();
                let len = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
                (libc::AF_INET6, storage, len)
            }
        }
    }
}

/// Waits (at most 10 s) for `fd` to be writable, then says what `poll` and
/// `SO_ERROR` answered.
fn poll_connect(fd: libc::c_int) -> String {
    let mut pollfd = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    let mut error: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: one valid `pollfd`; `error` and `len` are valid for writing.
    let (ready, rc) = unsafe {
        let ready = libc::poll(&mut pollfd, 1, 10_000);
        let rc = libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&raw mut error).cast(),
            &mut len,
        );
        (ready, rc)
    };
    format!(
        "poll {ready} revents {:#x}, SO_ERROR {rc} {error}",
        pollfd.revents
    )
}

/// Non-blocking connects, to a listener and to a closed port, finished
/// with `poll`.
fn nonblocking(ip: IpAddr) {
    let listener = TcpListener::bind((ip, 0)).expect("bind");
    let (answer, fd) = connect_nonblocking(listener.local_addr().expect("address"));
    println!("nonblocking {ip}: connect {answer}, {}", poll_connect(fd));
    let (stream, _) = listener.accept().expect("accept");
    drop(stream);
    // SAFETY: the descriptor `connect_nonblocking` opened, closed once.
    unsafe { libc::close(fd) };
    let (answer, fd) = connect_nonblocking(closed_port(ip));
    println!(
        "nonblocking {ip} closed port: connect {answer}, {}",
        poll_connect(fd)
    );
    // SAFETY: as above.
    unsafe { libc::close(fd) };
}

/// A server thread that waits for its connection's bytes with `epoll`.
fn epoll_read(ip: IpAddr) {
    let listener = TcpListener::bind((ip, 0)).expect("bind");
    let address = listener.local_addr().expect("address");
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        stream.set_nonblocking(true).expect("nonblocking");
        let mut buf = [0u8; 16];
        let early = outcome(stream.read(&mut buf));
        // SAFETY: a fresh epoll descriptor watching a valid socket, with a
        // valid event buffer; both closed by their owners below.
        let (ready, events) = unsafe {
            let epoll = libc::epoll_create1(libc::EPOLL_CLOEXEC);
            let mut event = libc::epoll_event {
                events: libc::EPOLLIN as u32,
                u64: 7,
            };
            libc::epoll_ctl(epoll, libc::EPOLL_CTL_ADD, stream.as_raw_fd(), &mut event);
            let mut out = [libc::epoll_event { events: 0, u64: 0 }];
            let ready = libc::epoll_wait(epoll, out.as_mut_ptr(), 1, 10_000);
            libc::close(epoll);
            (ready, out[0])
        };
        let n = stream.read(&mut buf).expect("read after epoll");
        let (mask, token) = (events.events, events.u64);
        format!(
            "before: {early}; epoll {ready} events {mask:#x} token {token}; read {:?}",
            String::from_utf8_lossy(&buf[..n])
        )
    });
    let mut stream = TcpStream::connect(address).expect("connect");
    thread::sleep(std::time::Duration::from_millis(50));
    stream.write_all(b"wake").expect("write");
    println!("epoll {ip}: {}", server.join().expect("server"));
}

/// A thread already waiting in `epoll_wait` (without a timeout) when a
/// connection that is writable at once is added to its set: the addition
/// wakes it, as on Linux (a loopback connection is made before the program
/// registers it, as tokio's are).
fn epoll_add_ready(ip: IpAddr) {
    let listener = TcpListener::bind((ip, 0)).expect("bind");
    // SAFETY: a fresh epoll descriptor, closed at the end.
    let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    assert!(epoll >= 0, "epoll_create1");
    let waiter = thread::spawn(move || {
        let mut out = [libc::epoll_event { events: 0, u64: 0 }];
        // SAFETY: a valid epoll descriptor and event buffer.
        let ready = unsafe { libc::epoll_wait(epoll, out.as_mut_ptr(), 1, -1) };
        let (mask, token) = (out[0].events, out[0].u64);
        format!("epoll {ready} events {mask:#x} token {token}")
    });
    thread::sleep(std::time::Duration::from_millis(50));
    // As tokio connects: the handshake is over before the registration.
    let (answer, fd) = connect_nonblocking(listener.local_addr().expect("address"));
    let _accepted = listener.accept().expect("accept");
    // The waiter looks (the connection woke it) and waits again, and the
    // stack's timers (a delayed ACK) are over.
    thread::sleep(std::time::Duration::from_millis(300));
    let mut event = libc::epoll_event {
        events: (libc::EPOLLOUT | libc::EPOLLET) as u32,
        u64: 9,
    };
    // SAFETY: valid descriptors and event.
    let rc = unsafe { libc::epoll_ctl(epoll, libc::EPOLL_CTL_ADD, fd, &mut event) };
    let waited = waiter.join().expect("waiter");
    println!("epoll add ready {ip}: connect {answer}, ctl {rc}, {waited}");
    // SAFETY: the descriptors this function opened, closed once.
    unsafe {
        libc::close(fd);
        libc::close(epoll);
    }
}

/// Tokio's multi-threaded runtime serving and making connections on `ip`:
/// its connect registers a socket whose handshake is over already (the
/// loopback answers within the `connect` call), and a worker waiting in
/// `epoll_wait` must still see it. Many rounds, since whether the worker
/// waits first depends on the scheduling.
fn tokio_rounds(ip: IpAddr) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let echoed = runtime.block_on(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind((ip, 0)).await.expect("bind");
        let address = listener.local_addr().expect("address");
        let server = tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.expect("accept");
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    let n = stream.read(&mut buf).await.expect("server read");
                    stream.write_all(&buf[..n]).await.expect("server write");
                });
            }
        });
        let mut echoed = 0;
        for round in 0..20u8 {
            let mut stream = tokio::net::TcpStream::connect(address)
                .await
                .expect("connect");
            stream.write_all(&[round; 8]).await.expect("write");
            let mut buf = [0u8; 8];
            stream.read_exact(&mut buf).await.expect("read");
            echoed += usize::from(buf == [round; 8]);
        }
        server.abort();
        echoed
    });
    println!("tokio {ip}: {echoed} of 20 rounds echoed");
}

/// A listener's port is free again for a new listener (std sets
/// `SO_REUSEADDR`) even while a closed connection on it lingers.
fn reuse(ip: IpAddr) {
    let listener = TcpListener::bind((ip, 0)).expect("bind");
    let address = listener.local_addr().expect("address");
    let client = TcpStream::connect(address).expect("connect");
    let (server_side, _) = listener.accept().expect("accept");
    // The server closes first: its end of the connection lingers.
    drop(server_side);
    drop(client);
    drop(listener);
    println!(
        "reuse {ip}: bind again {}",
        outcome(TcpListener::bind(address))
    );
}

fn main() {
    let v4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    for ip in [v4, v6] {
        echo(ip, 256 * 1024);
        udp(ip);
        println!(
            "closed port {ip}: {}",
            outcome(TcpStream::connect(closed_port(ip)))
        );
        nonblocking(ip);
        epoll_read(ip);
        epoll_add_ready(ip);
        tokio_rounds(ip);
        reuse(ip);
    }
    for to in ["10.1.2.3:80", "[2001:db8::1]:80", "[::ffff:10.1.2.3]:80"] {
        let to: SocketAddr = to.parse().expect("address");
        println!("connect {to}: {}", outcome(TcpStream::connect(to)));
        let (answer, fd) = connect_nonblocking(to);
        // SAFETY: the descriptor `connect_nonblocking` opened, closed once.
        unsafe { libc::close(fd) };
        println!("nonblocking connect {to}: {answer}");
        let any = if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
        let udp = UdpSocket::bind(any).expect("bind");
        println!("udp send_to {to}: {}", outcome(udp.send_to(b"x", to)));
        println!("udp connect {to}: {}", outcome(udp.connect(to)));
    }
    println!(
        "bind 10.0.2.15: {}",
        outcome(TcpListener::bind("10.0.2.15:0"))
    );
    // Nobody can answer a DNS query: glibc's "temporary failure".
    let lookup = match "kiln-loopback.invalid:80".to_socket_addrs() {
        Ok(addresses) => format!("{:?}", addresses.collect::<Vec<_>>()),
        Err(e) => e.to_string(),
    };
    println!("lookup kiln-loopback.invalid: {lookup}");
}
