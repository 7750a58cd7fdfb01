//! `net-client [--send-only] URL`: fetches an `http://HOST[:PORT]/PATH`
//! URL with a plain HTTP/1.1 GET over `std::net` and prints the status
//! line and the body. HOST may be a name (resolved with the C library's
//! `getaddrinfo`). With `--send-only` it exits as soon as the request is
//! written, as a program that reports something and ends would.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1).peekable();
    let send_only = args.next_if(|arg| arg == "--send-only").is_some();
    let url = args
        .next()
        .ok_or("usage: net-client [--send-only] http://HOST[:PORT]/PATH")?;
    let rest = url
        .strip_prefix("http://")
        .ok_or("only http:// URLs are supported")?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, port.parse()?),
        None => (authority, 80),
    };
    let address = (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or("the host has no address")?;
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(10))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nUser-Agent: kiln-net-client\r\n\r\n"
    )?;
    if send_only {
        return Ok(());
    }
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    println!("{}", head.lines().next().unwrap_or(""));
    print!("{body}");
    Ok(())
}
