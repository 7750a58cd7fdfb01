//! The std::net echo server (`examples/net-echo`) as a unikernel: reached
//! through `-p` (passt) from the host, several TCP clients at once and UDP;
//! and, without a network, listening on its loopback alone.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::thread;
use std::time::Duration;

use common::{
    Server, code, free_port, image, require_kvm, reset_on_close, run_image, run_native,
    start_server,
};

/// Boots net-echo with guest port 7 published on `port` (TCP and UDP) and
/// waits until it says it is listening.
fn start_echo(port: u16) -> Server {
    let image = image("examples/net-echo", true);
    let publish_tcp = format!("{port}:7");
    let publish_udp = format!("{port}:7/udp");
    let flags = [
        "--memory",
        "64M",
        "--timeout",
        "60s",
        "-p",
        &publish_tcp,
        "-p",
        &publish_udp,
    ];
    start_server(&image, &flags, "net-echo: listening on port 7")
}

/// Sixteen clients at once, 200 kB each: passt drops what it cannot write
/// to the monitor (and does not resend a SYN it forwards), so this fails if
/// the monitor stops reading passt while the guest's receive buffers are
/// full, or if passt's socket holds too little while the guest makes no
/// exit (a client whose SYN was dropped is reset 10 s later).
#[test]
fn net_echo_serves_concurrent_tcp_clients_and_udp_through_publish() {
    let port = free_port();
    let _server = start_echo(port);
    let clients: Vec<_> = (0..16u8)
        .map(|i| {
            thread::spawn(move || {
                let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
                stream
                    .set_read_timeout(Some(Duration::from_secs(20)))
                    .expect("timeout");
                let data: Vec<u8> = (0..200_000u32).map(|j| (j as u8).wrapping_add(i)).collect();
                let mut reader = stream.try_clone().expect("clone");
                let expected = data.len();
                let echo = thread::spawn(move || {
                    let mut back = Vec::with_capacity(expected);
                    let mut buf = [0u8; 65536];
                    while back.len() < expected {
                        match reader.read(&mut buf) {
                            Ok(0) => break,
                            Ok(n) => back.extend_from_slice(&buf[..n]),
                            Err(e) => panic!("client {i}: read: {e}"),
                        }
                    }
                    back
                });
                stream.write_all(&data).expect("write");
                let back = echo.join().expect("reader");
                assert!(
                    back == data,
                    "client {i}: {} bytes came back, not the same",
                    back.len()
                );
            })
        })
        .collect();
    for client in clients {
        client.join().expect("client");
    }

    let udp = UdpSocket::bind("127.0.0.1:0").expect("udp socket");
    udp.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    udp.send_to(b"ping over udp", ("127.0.0.1", port))
        .expect("send");
    let mut buf = [0u8; 64];
    let (n, _) = udp.recv_from(&mut buf).expect("udp echo");
    assert_eq!(&buf[..n], b"ping over udp");
}

/// Without a network device the guest still has its loopback, as Linux
/// with only `lo`: the server listens, and since nothing can ever reach it
/// (every thread waits, for nothing the monitor can deliver), Kiln reports
/// the deadlock instead of hanging.
#[test]
fn net_echo_without_a_network_listens_on_the_loopback_alone() {
    let image = image("examples/net-echo", true);
    let run = run_image(&image, &["--timeout", "60s"], &[]);
    assert_eq!(run.code, code::PANIC, "{}", run.stderr);
    assert_eq!(run.stdout, "net-echo: listening on port 7\n");
    assert!(
        run.stderr
            .starts_with("guest panicked: deadlock: every thread is waiting, none with a timeout"),
        "{}",
        run.stderr
    );
}

#[test]
fn std_net_calls_answer_as_linux_does_and_reach_the_host() {
    require_kvm();
    let image = image("tests/guests/std-net", false);
    let host = TcpListener::bind("127.0.0.1:0").expect("host listener");
    let host_port = host.local_addr().expect("address").port().to_string();
    let server = thread::spawn(move || {
        let (mut stream, _) = host.accept().expect("the guest connects");
        let mut line = [0u8; 11];
        stream.read_exact(&mut line).expect("the guest writes");
        stream.write_all(b"host got ").expect("write");
        stream.write_all(&line).expect("write");
        drop(stream);
        let (stream, _) = host.accept().expect("the guest connects again");
        let mut line = String::new();
        BufReader::new(&stream)
            .read_line(&mut line)
            .expect("the guest writes");
        (&stream).write_all(b"bye\n").expect("write");
        // The answer reaches the guest before the reset does (passt drops
        // what is unread when its socket is reset), and the guest reads it
        // only after both.
        thread::sleep(Duration::from_millis(100));
        reset_on_close(&stream);
    });
    let publish = format!("{}:7", free_port());
    let run = run_image(&image, &["-p", &publish], &[&host_port]);
    server.join().expect("host side");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "ephemeral port in range: true\n\
         same port again: AddrInUse (98)\n\
         foreign address: AddrNotAvailable (99)\n\
         accept with nobody: WouldBlock (11)\n\
         connect to loopback: ConnectionRefused (111)\n  at once: true\n\
         connect_timeout to loopback: ConnectionRefused (111)\n\
         loopback tcp: Ok(\"echo: ping\\n\") from 127.0.0.1\n\
         loopback udp: Ok(([104, 105], true))\n\
         udp bound: true\n\
         udp recv timeout: WouldBlock (11)\n  waited: true\n\
         udp without peer: Uncategorized (89)\n\
         connect to the host: ok\n\
         host said: \"host got hello host\\n\"\n\
         read before the reset: Ok(\"bye\\n\")\n\
         read after a reset: ConnectionReset (104)\n  and again: Ok(0)\n  \
         write: BrokenPipe (32)\n"
    );
}

/// `examples/net-client`: an outbound HTTP request from the guest to a
/// server this test runs on the host (10.0.2.2 is the host's loopback
/// through passt).
#[test]
fn net_client_fetches_from_a_server_on_the_host() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        let mut request = Vec::new();
        let mut byte = [0u8; 1];
        while !request.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).expect("request");
            request.push(byte[0]);
        }
        let body = "answered by the host\n";
        write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .expect("response");
        String::from_utf8_lossy(&request).into_owned()
    });
    let client = image("examples/net-client", false);
    let url = format!("http://10.0.2.2:{port}/hello");
    let run = run_image(&client, &["--net", "user", "--timeout", "30s"], &[&url]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "HTTP/1.1 200 OK\nanswered by the host\n");
    let request = server.join().expect("server thread");
    assert!(
        request.starts_with("GET /hello HTTP/1.1\r\n")
            && request.contains("User-Agent: kiln-net-client"),
        "{request}"
    );
}

/// A connection to a host port nobody listens on is refused at once, as it
/// is for a program on the host, not left to the client's own timeout.
#[test]
fn a_closed_host_port_refuses_the_guest_at_once_through_passt() {
    let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("address").port();
    drop(closed);
    let client = image("examples/net-client", false);
    let url = format!("http://10.0.2.2:{port}/");
    let started = std::time::Instant::now();
    let run = run_image(&client, &["--net", "user", "--timeout", "30s"], &[&url]);
    let took = started.elapsed();
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("ConnectionRefused"), "{}", run.stderr);
    // net-client gives up on its own after 10 s; a refusal takes a boot.
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

/// A program that writes to a socket and exits at once: its bytes leave
/// with the exit, though output is otherwise sent only when the program
/// idles (or every 200 µs while it keeps making socket calls).
#[test]
fn bytes_written_right_before_exit_reach_the_host() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let mut request = Vec::new();
        // Until EOF: passt closes the connection when the VM ends.
        let _ = stream.read_to_end(&mut request);
        String::from_utf8_lossy(&request).into_owned()
    });
    let client = image("examples/net-client", false);
    let url = format!("http://10.0.2.2:{port}/bye");
    let run = run_image(
        &client,
        &["--net", "user", "--timeout", "30s"],
        &["--send-only", &url],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let request = server.join().expect("server thread");
    assert!(
        request.starts_with("GET /bye HTTP/1.1\r\n") && request.ends_with("\r\n\r\n"),
        "the host got {request:?}"
    );
}

/// IPv6 as servers meet it: a dual-stack `[::]` listener takes IPv4
/// clients at mapped addresses, `::1` works for TCP and UDP,
/// `IPV6_V6ONLY` and the errors answer as on Linux: the same program run
/// natively prints exactly the same.
#[test]
fn ipv6_sockets_answer_as_linux_does() {
    // Kiln first: the native run leaves its connections' ports in
    // TIME_WAIT, and one of them could be the port published here.
    let image = image("tests/guests/std-ipv6", false);
    let publish = format!("{}:7", free_port());
    let run = run_image(&image, &["--net", "ports", "-p", &publish], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let linux = run_native("tests/guests/std-ipv6", &[], b"");
    assert_eq!(linux.code, 0, "natively: {}", linux.stderr);
    assert!(
        linux
            .stdout
            .contains("dual-stack from 127.0.0.1: peer ::ffff:127.0.0.1"),
        "{}",
        linux.stdout
    );
    assert_eq!(run.stdout, linux.stdout);
}
