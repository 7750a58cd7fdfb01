//! Resolves names the way `std` programs do (`getaddrinfo` through
//! `ToSocketAddrs`), one step per argument, one output line per step:
//!
//! - `lookup:NAME`: the addresses, or std's error message;
//! - `numeric:NAME`: `getaddrinfo` with `AI_NUMERICHOST`, called directly;
//! - `fetch:HOST:PORT`: connects to the host by name and prints the line
//!   the server sends.

use std::ffi::{CStr, CString, c_char, c_int};
use std::io::Read;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// glibc's `struct addrinfo`.
#[repr(C)]
struct AddrInfo {
    flags: c_int,
    family: c_int,
    socktype: c_int,
    protocol: c_int,
    addrlen: u32,
    addr: *const [u8; 16],
    canonname: *mut c_char,
    next: *mut AddrInfo,
}

const AI_NUMERICHOST: c_int = 4;

unsafe extern "C" {
    fn getaddrinfo(
        node: *const c_char,
        service: *const c_char,
        hints: *const AddrInfo,
        res: *mut *mut AddrInfo,
    ) -> c_int;
    fn freeaddrinfo(res: *mut AddrInfo);
    fn gai_strerror(code: c_int) -> *const c_char;
}

fn lookup(name: &str) -> String {
    match (name, 0).to_socket_addrs() {
        Ok(addresses) => addresses
            .map(|a| a.ip().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        Err(e) => e.to_string(),
    }
}

fn numeric(name: &str) -> String {
    let node = CString::new(name).expect("no NUL in the name");
    let hints = AddrInfo {
        flags: AI_NUMERICHOST,
        family: 0,
        socktype: 0,
        protocol: 0,
        addrlen: 0,
        addr: std::ptr::null(),
        canonname: std::ptr::null_mut(),
        next: std::ptr::null_mut(),
    };
    let mut list = std::ptr::null_mut();
    // SAFETY: a C string, valid hints and an out pointer; the list is
    // read, then freed once.
    unsafe {
        let code = getaddrinfo(node.as_ptr(), std::ptr::null(), &hints, &mut list);
        if code != 0 {
            let message = CStr::from_ptr(gai_strerror(code)).to_string_lossy();
            return format!("{code} {message}");
        }
        // sockaddr_in: family, port, then the address.
        let sockaddr = *(*list).addr;
        freeaddrinfo(list);
        let [a, b, c, d] = [sockaddr[4], sockaddr[5], sockaddr[6], sockaddr[7]];
        format!("0 {a}.{b}.{c}.{d}")
    }
}

fn fetch(target: &str) -> String {
    let connected = TcpStream::connect(target).and_then(|mut stream| {
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut text = String::new();
        stream.read_to_string(&mut text)?;
        Ok(text)
    });
    match connected {
        Ok(text) => text.trim_end().to_string(),
        Err(e) => e.to_string(),
    }
}

fn main() {
    for step in std::env::args().skip(1) {
        let (kind, target) = step.split_once(':').expect("KIND:TARGET");
        let outcome = match kind {
            "lookup" => lookup(target),
            "numeric" => numeric(target),
            "fetch" => fetch(target),
            _ => panic!("unknown step {kind}"),
        };
        println!("{kind} {target}: {outcome}");
    }
}
