//! A TLS client on the system's OpenSSL (libssl-dev).
use std::io::{Read, Write};

fn main() {
    let connector = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls())
        .unwrap()
        .build();
    let stream = std::net::TcpStream::connect("127.0.0.1:8443").unwrap();
    let mut tls = connector.connect("localhost", stream).unwrap();
    tls.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out);
    println!("{}", out.len());
}
