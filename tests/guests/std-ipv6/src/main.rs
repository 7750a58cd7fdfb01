//! IPv6 sockets as a program meets them: dual-stack listeners on `[::]`
//! (what many servers bind by default), `::1`, IPv4-mapped peers,
//! `IPV6_V6ONLY`, UDP, and the errors. Every line is host-independent, so
//! Linux prints exactly the same.

use std::io::{ErrorKind, Read, Write};
use std::net::{
    Ipv6Addr, SocketAddr, SocketAddrV6, TcpListener, TcpStream, ToSocketAddrs, UdpSocket,
};
use std::os::fd::{AsRawFd, FromRawFd};

/// An error as `kind (errno)`, or `ok`.
fn outcome<T>(result: std::io::Result<T>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(e) => format!("{:?} ({})", e.kind(), e.raw_os_error().unwrap_or(0)),
    }
}

/// Accepts one connection, echoes one line back prefixed, and says who the
/// peer and the local end were (ports left out: they are the kernel's).
fn echo_once(listener: &TcpListener) -> String {
    let (mut stream, peer) = listener.accept().expect("accept");
    let local = stream.local_addr().expect("local address");
    let mut buf = [0u8; 4];
    stream.read_exact(&mut buf).expect("read");
    stream.write_all(b"echo").expect("write");
    format!("peer {} local {}", peer.ip(), local.ip())
}

/// Connects to `to`, sends a line, and reads the echo.
fn talk(to: SocketAddr) -> String {
    let mut stream = TcpStream::connect(to).expect("connect");
    stream.write_all(b"ping").expect("write");
    let mut buf = [0u8; 4];
    stream.read_exact(&mut buf).expect("read");
    let local = stream.local_addr().expect("local address");
    format!("{} from {}", String::from_utf8_lossy(&buf), local.ip())
}

/// A fresh IPv6 TCP socket with `IPV6_V6ONLY` set, through libc.
fn v6only_socket() -> std::io::Result<TcpListener> {
    // SAFETY: plain socket calls on a descriptor this function owns; the
    // option is valid for the length given.
    unsafe {
        let fd = libc::socket(libc::AF_INET6, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let socket = TcpListener::from_raw_fd(fd);
        let one: libc::c_int = 1;
        let rc = libc::setsockopt(
            fd,
            libc::IPPROTO_IPV6,
            libc::IPV6_V6ONLY,
            (&raw const one).cast(),
            size_of::<libc::c_int>() as u32,
        );
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(socket)
    }
}

/// `sockaddr_in6` for `ip` and `port`.
fn sockaddr(ip: Ipv6Addr, port: u16) -> libc::sockaddr_in6 {
    // SAFETY: all-zero bytes are a valid `sockaddr_in6`.
    let mut address: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    address.sin6_family = libc::AF_INET6 as u16;
    address.sin6_port = port.to_be();
    address.sin6_addr.s6_addr = ip.octets();
    address
}

/// A TCP listener on `[::]:port` with `IPV6_V6ONLY` set.
fn v6only_listener(port: u16) -> std::io::Result<TcpListener> {
    let listener = v6only_socket()?;
    let address = sockaddr(Ipv6Addr::UNSPECIFIED, port);
    // SAFETY: a valid socket; the address is valid for its length.
    let rc = unsafe {
        libc::bind(
            listener.as_raw_fd(),
            (&raw const address).cast(),
            size_of::<libc::sockaddr_in6>() as u32,
        )
    };
    // SAFETY: a valid socket.
    if rc != 0 || unsafe { libc::listen(listener.as_raw_fd(), 8) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(listener)
}

/// `IPV6_V6ONLY` as `getsockopt` reads it.
fn v6only(socket: &impl AsRawFd) -> i32 {
    let mut value: libc::c_int = -1;
    let mut len = size_of::<libc::c_int>() as u32;
    // SAFETY: a valid descriptor; `value` and `len` are valid for writes.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_V6ONLY,
            (&raw mut value).cast(),
            &raw mut len,
        )
    };
    if rc == 0 { value } else { -errno() }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn main() {
    // A dual-stack listener: IPv4 clients appear at mapped addresses.
    let dual = TcpListener::bind("[::]:0").expect("bind [::]:0");
    let port = dual.local_addr().expect("local address").port();
    println!(
        "dual-stack bound: {}",
        dual.local_addr().expect("address").ip()
    );
    println!("dual-stack v6only: {}", v6only(&dual));
    let client = std::thread::spawn(move || talk(SocketAddr::from(([127, 0, 0, 1], port))));
    println!("dual-stack from 127.0.0.1: {}", echo_once(&dual));
    println!("  client: {}", client.join().expect("client"));
    let client = std::thread::spawn(move || talk(SocketAddr::from((Ipv6Addr::LOCALHOST, port))));
    println!("dual-stack from ::1: {}", echo_once(&dual));
    println!("  client: {}", client.join().expect("client"));
    let mapped = SocketAddr::from(SocketAddrV6::new(
        "::ffff:127.0.0.1".parse().expect("mapped"),
        port,
        0,
        0,
    ));
    let client = std::thread::spawn(move || talk(mapped));
    println!("dual-stack from a mapped address: {}", echo_once(&dual));
    println!("  client: {}", client.join().expect("client"));
    println!(
        "IPv4 on the dual-stack port: {}",
        outcome(TcpListener::bind(("0.0.0.0", port)))
    );
    println!(
        "IPv6 on the dual-stack port: {}",
        outcome(TcpListener::bind(("::", port)))
    );
    drop(dual);

    // IPv6 only: IPv4 is refused, and the IPv4 wildcard can share the port.
    let only = v6only_listener(0).expect("v6only listener");
    let port = only.local_addr().expect("local address").port();
    println!("v6only v6only: {}", v6only(&only));
    println!(
        "v6only from 127.0.0.1: {}",
        outcome(TcpStream::connect(("127.0.0.1", port)))
    );
    let client = std::thread::spawn(move || talk(SocketAddr::from((Ipv6Addr::LOCALHOST, port))));
    println!("v6only from ::1: {}", echo_once(&only));
    println!("  client: {}", client.join().expect("client"));
    let four = TcpListener::bind(("0.0.0.0", port));
    println!("IPv4 beside v6only: {}", outcome(four));

    // ::1 itself, and the errors.
    let local = TcpListener::bind("[::1]:0").expect("bind [::1]:0");
    let port = local.local_addr().expect("local address").port();
    println!("::1 bound: {}", local.local_addr().expect("address").ip());
    let client = std::thread::spawn(move || talk(SocketAddr::from((Ipv6Addr::LOCALHOST, port))));
    println!("::1 from ::1: {}", echo_once(&local));
    println!("  client: {}", client.join().expect("client"));
    println!(
        "::1 from 127.0.0.1: {}",
        outcome(TcpStream::connect(("127.0.0.1", port)))
    );
    println!(
        "foreign IPv6 address: {}",
        outcome(TcpListener::bind("[2001:db8::1]:0"))
    );
    println!("nobody on ::1: {}", outcome(TcpStream::connect("[::1]:9")));
    let only = v6only_socket().expect("v6only socket");
    let address = sockaddr("::ffff:127.0.0.1".parse().expect("mapped"), port);
    // SAFETY: a valid socket; the address is valid for its length.
    let rc = unsafe {
        libc::connect(
            only.as_raw_fd(),
            (&raw const address).cast(),
            size_of::<libc::sockaddr_in6>() as u32,
        )
    };
    println!("v6only to a mapped address: {rc} errno {}", errno());
    println!(
        "IPV6_V6ONLY on IPv4: {}",
        v6only(&TcpListener::bind("127.0.0.1:0").expect("bind"))
    );

    // UDP over ::1 and dual-stack.
    let udp = UdpSocket::bind("[::1]:0").expect("udp ::1");
    let to = udp.local_addr().expect("address");
    udp.send_to(b"hi", to).expect("send");
    let mut buf = [0u8; 8];
    let (n, from) = udp.recv_from(&mut buf).expect("receive");
    println!("udp ::1: {:?} from {}", &buf[..n], from.ip());
    let dual = UdpSocket::bind("[::]:0").expect("udp [::]");
    let port = dual.local_addr().expect("address").port();
    let four = UdpSocket::bind("127.0.0.1:0").expect("udp v4");
    four.send_to(b"v4", ("127.0.0.1", port)).expect("send");
    let (n, from) = dual.recv_from(&mut buf).expect("receive");
    println!("udp dual-stack: {:?} from {}", &buf[..n], from.ip());
    dual.send_to(b"back", from).expect("send back");
    let (n, from) = four.recv_from(&mut buf).expect("receive");
    println!("udp answer: {:?} from {}", &buf[..n], from.ip());

    // Names.
    let numeric: Vec<SocketAddr> = "[::1]:80".to_socket_addrs().expect("numeric").collect();
    println!("resolve [::1]:80: {numeric:?}");
    let wildcard: Vec<SocketAddr> = ("::", 8080).to_socket_addrs().expect("wildcard").collect();
    println!("resolve (::, 8080): {wildcard:?}");
    let kind = TcpStream::connect("[::1]:9").map_err(|e| e.kind());
    println!("done: {}", kind.err() == Some(ErrorKind::ConnectionRefused));
}
