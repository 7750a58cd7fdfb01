//! An echo server (RFC 862) written against `std::net` only: TCP, one
//! thread per connection, and UDP on the same port. The port is the first
//! argument (default 7).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::thread;

fn main() {
    let port: u16 = match std::env::args().nth(1) {
        Some(arg) => match arg.parse() {
            Ok(port) => port,
            Err(_) => {
                eprintln!("net-echo: not a port number: {arg}");
                std::process::exit(2);
            }
        },
        None => 7,
    };
    let listener = match TcpListener::bind(("0.0.0.0", port)) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("net-echo: cannot listen on TCP port {port}: {e}");
            std::process::exit(1);
        }
    };
    match UdpSocket::bind(("0.0.0.0", port)) {
        Ok(socket) => {
            thread::spawn(move || udp_echo(&socket));
        }
        Err(e) => eprintln!("net-echo: no UDP echo on port {port}: {e}"),
    }
    println!("net-echo: listening on port {port}");
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                thread::spawn(move || tcp_echo(stream));
            }
            Err(e) => eprintln!("net-echo: accept: {e}"),
        }
    }
}

/// Sends back what the client sends, until it closes its side.
fn tcp_echo(mut stream: TcpStream) {
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let _ = stream.set_nodelay(true);
    let mut buf = [0u8; 16 * 1024];
    let mut total = 0u64;
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if let Err(e) = stream.write_all(&buf[..n]) {
                    eprintln!("net-echo: {peer}: write: {e}");
                    return;
                }
                total += n as u64;
            }
            Err(e) => {
                eprintln!("net-echo: {peer}: read: {e}");
                return;
            }
        }
    }
    println!("net-echo: {peer}: echoed {total} bytes");
}

/// Sends each datagram back to where it came from.
fn udp_echo(socket: &UdpSocket) {
    let mut buf = [0u8; 64 * 1024];
    loop {
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => {
                let _ = socket.send_to(&buf[..n], from);
            }
            Err(e) => {
                eprintln!("net-echo: UDP: {e}");
                return;
            }
        }
    }
}
