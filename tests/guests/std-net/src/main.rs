//! `std::net` edge cases, each printed as `name: outcome` for the test to
//! compare with what Linux answers. Run on a VM with a network device;
//! with a port as argument, it also connects out to that port of the host
//! (the gateway, through passt), prints what the host answers, and then
//! what a connection the host resets gives.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

fn outcome<T>(result: std::io::Result<T>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(e) => format!("{:?} ({})", e.kind(), e.raw_os_error().unwrap_or(0)),
    }
}

fn main() {
    let listener = TcpListener::bind("0.0.0.0:0").expect("bind an ephemeral port");
    let port = listener.local_addr().expect("local address").port();
    println!(
        "ephemeral port in range: {}",
        (32768..=60999).contains(&port)
    );
    println!(
        "same port again: {}",
        outcome(TcpListener::bind(("0.0.0.0", port)))
    );
    println!(
        "foreign address: {}",
        outcome(TcpListener::bind("10.9.9.9:80"))
    );

    listener.set_nonblocking(true).expect("nonblocking");
    println!("accept with nobody: {}", outcome(listener.accept()));

    let start = Instant::now();
    println!(
        "connect to loopback: {}",
        outcome(TcpStream::connect("127.0.0.1:9"))
    );
    println!("  at once: {}", start.elapsed() < Duration::from_secs(1));
    // Non-blocking, then poll and SO_ERROR: the refusal must survive them.
    let nine = SocketAddr::from((Ipv4Addr::LOCALHOST, 9));
    println!(
        "connect_timeout to loopback: {}",
        outcome(TcpStream::connect_timeout(&nine, Duration::from_secs(1)))
    );

    // The program talking to itself over the loopback address.
    let local = TcpListener::bind("127.0.0.1:0").expect("bind the loopback address");
    let at = local.local_addr().expect("local address");
    let server = std::thread::spawn(move || {
        use std::io::{BufRead, BufReader, Write};
        let (mut stream, peer) = local.accept().expect("accept over loopback");
        let mut line = String::new();
        let _ = BufReader::new(&stream).read_line(&mut line);
        let _ = stream.write_all(format!("echo: {line}").as_bytes());
        peer.ip()
    });
    let reply = TcpStream::connect(at).and_then(|mut stream| {
        use std::io::{Read, Write};
        stream.write_all(b"ping\n")?;
        let mut reply = String::new();
        stream.read_to_string(&mut reply)?;
        Ok(reply)
    });
    let peer = server.join().expect("loopback server");
    println!("loopback tcp: {reply:?} from {peer}");
    let (a, b) = (
        UdpSocket::bind("127.0.0.1:0").expect("udp on loopback"),
        UdpSocket::bind("127.0.0.1:0").expect("udp on loopback"),
    );
    let _ = a.send_to(b"hi", b.local_addr().expect("address"));
    b.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut datagram = [0u8; 8];
    let received = b.recv_from(&mut datagram).map(|(n, from)| {
        (
            datagram[..n].to_vec(),
            from == a.local_addr().expect("address"),
        )
    });
    println!("loopback udp: {received:?}");

    let udp = UdpSocket::bind("0.0.0.0:0").expect("udp bind");
    println!(
        "udp bound: {}",
        udp.local_addr().map(|a| a.port() != 0).unwrap_or(false)
    );
    udp.set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    let start = Instant::now();
    let mut buf = [0u8; 16];
    println!("udp recv timeout: {}", outcome(udp.recv_from(&mut buf)));
    println!("  waited: {}", start.elapsed() >= Duration::from_millis(50));
    println!("udp without peer: {}", outcome(udp.send(b"x")));

    if let Some(port) = std::env::args().nth(1).and_then(|p| p.parse::<u16>().ok()) {
        let host = SocketAddr::from((Ipv4Addr::new(10, 0, 2, 2), port));
        match TcpStream::connect_timeout(&host, Duration::from_secs(5)) {
            Ok(mut stream) => {
                use std::io::{Read, Write};
                println!("connect to the host: ok");
                let _ = stream.write_all(b"hello host\n");
                let mut back = String::new();
                let _ = stream.read_to_string(&mut back);
                println!("host said: {back:?}");
            }
            Err(e) => println!("connect to the host: {}", outcome::<()>(Err(e))),
        }
        // The host answers a line on the second connection, then resets it.
        if let Ok(mut stream) = TcpStream::connect_timeout(&host, Duration::from_secs(5)) {
            use std::io::{Read, Write};
            let _ = stream.write_all(b"reset me\n");
            // Both the answer and the reset are in before the first read.
            std::thread::sleep(Duration::from_millis(400));
            let mut buf = [0u8; 16];
            let answer = stream.read(&mut buf);
            println!(
                "read before the reset: {:?}",
                answer
                    .map(|n| String::from_utf8_lossy(&buf[..n]).into_owned())
                    .map_err(|e| e.kind())
            );
            println!("read after a reset: {}", outcome(stream.read(&mut buf)));
            println!(
                "  and again: {:?}",
                stream.read(&mut buf).map_err(|e| e.kind())
            );
            println!("  write: {}", outcome(stream.write(b"x")));
        }
    }
}
