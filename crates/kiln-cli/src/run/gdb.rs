//! `kiln run --gdb [ADDR:]PORT`: listen for gdb, on loopback unless an
//! address is given, and hand its connection to the monitor before the
//! boot (the guest starts stopped; see the monitor's `gdb` module). And the
//! control socket an instance's monitor listens on for `kiln debug`.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::sync::Arc;

use crate::exit_code::{Failure, HOST, UNAVAILABLE};

/// `--gdb`'s value: a port (on 127.0.0.1), or an address and a port
/// (`0.0.0.0:1234`, `[::1]:1234`). Port 0 picks a free one, which the
/// waiting line names.
pub fn parse_address(text: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    }
    text.parse::<SocketAddr>()
        .map_err(|_| format!("expected PORT or ADDR:PORT (e.g. 1234, 0.0.0.0:1234), not {text:?}"))
}

/// Listens on `address` and waits for gdb's connection, saying how to
/// connect with the image's symbols.
pub fn wait_for_gdb(address: SocketAddr, image: &Path) -> Result<Arc<TcpStream>, Failure> {
    let listener = TcpListener::bind(address).map_err(|e| {
        Failure::new(
            UNAVAILABLE,
            format!("cannot listen for gdb on {address}: {e}"),
        )
    })?;
    let bound = listener.local_addr().unwrap_or(address);
    tell!(
        "kiln: waiting for gdb on {bound}: gdb {} -ex 'target remote {bound}'",
        image.display()
    );
    let (stream, _) = listener.accept().map_err(|e| {
        Failure::new(
            UNAVAILABLE,
            format!("cannot accept gdb's connection on {bound}: {e}"),
        )
    })?;
    // Replies are small packets, each awaited by gdb.
    let _ = stream.set_nodelay(true);
    Ok(Arc::new(stream))
}

/// Listens on the control socket at `path` (replacing one a previous run
/// left), readable and writable by its owner only.
pub fn control_socket(path: &Path) -> Result<Arc<UnixListener>, Failure> {
    let failed = |e: std::io::Error| {
        Failure::new(
            HOST,
            format!(
                "cannot listen on the control socket {}: {e}",
                path.display()
            ),
        )
    };
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(failed(e)),
        _ => {}
    }
    let listener = UnixListener::bind(path).map_err(failed)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(failed)?;
    Ok(Arc::new(listener))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_port_is_loopback_and_an_address_is_kept() {
        assert_eq!(
            parse_address("1234"),
            Ok("127.0.0.1:1234".parse().expect("an address"))
        );
        assert_eq!(
            parse_address("0.0.0.0:99"),
            Ok("0.0.0.0:99".parse().expect("an address"))
        );
        assert_eq!(
            parse_address("[::1]:7"),
            Ok("[::1]:7".parse().expect("an address"))
        );
        for bad in ["", "x", "70000", "1.2.3.4", "host:1"] {
            assert!(parse_address(bad).is_err(), "{bad}");
        }
    }
}
