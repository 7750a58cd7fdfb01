//! `/etc/hosts`: names the image (or the program) pins to addresses, which
//! glibc consults before DNS.

use alloc::vec::Vec;
use core::net::Ipv4Addr;

use crate::fs::{self, flags};

/// The IPv4 addresses `/etc/hosts` gives `name` (canonical name or alias,
/// compared without case, as glibc does), in file order; empty when there
/// is no such file or line. IPv6 lines are skipped: the stack is IPv4-only.
pub fn lookup(name: &str) -> Vec<Ipv4Addr> {
    let Some(text) = read() else {
        return Vec::new();
    };
    let name = name.strip_suffix('.').unwrap_or(name);
    text.split(|&b| b == b'\n')
        .filter_map(|line| {
            let line = line.split(|&b| b == b'#').next().unwrap_or_default();
            let mut fields = line
                .split(|b| b.is_ascii_whitespace())
                .filter(|f| !f.is_empty());
            let address = core::str::from_utf8(fields.next()?).ok()?.parse().ok()?;
            fields
                .any(|alias| alias.eq_ignore_ascii_case(name.as_bytes()))
                .then_some(address)
        })
        .collect()
}

/// The whole file, or `None` when it cannot be read.
fn read() -> Option<Vec<u8>> {
    let fd = fs::open(
        flags::AT_FDCWD,
        b"/etc/hosts",
        flags::O_RDONLY | flags::O_CLOEXEC,
        0,
    )
    .ok()?;
    let mut text = Vec::new();
    let mut chunk = [0; 1024];
    let complete = loop {
        match fs::read(fd, &mut chunk, None) {
            Ok(0) => break true,
            Ok(n) => text.extend_from_slice(&chunk[..n]),
            Err(_) => break false,
        }
    };
    let _ = fs::close(fd);
    complete.then_some(text)
}
