//! The control socket of a background instance's monitor: a Unix socket
//! in the instance's directory (mode 0600, so only its owner reaches it),
//! where `kiln debug NAME --gdb` attaches gdb to the running guest.
//!
//! One client at a time, on the gdb thread ([`crate::gdb`]), under its
//! seccomp program. A client sends one line naming what it wants; the only
//! request is `gdb`, after which the socket carries gdb's remote protocol
//! (the CLI relays gdb's TCP connection). The guest stops when gdb
//! attaches, and runs on when it detaches or its connection ends.

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};

use crate::clock::host_now_ns;
use crate::gdb::Debugger;
use crate::gdb::session::{self, SessionEnd};
use crate::gdb::threads::Guest;

/// The request that attaches gdb.
pub const GDB_REQUEST: &[u8] = b"gdb\n";

/// The longest a client may take to say what it wants.
const REQUEST_NS: u64 = 5_000_000_000;

/// Serves the control socket's clients until the VM ends (then the boot
/// vCPU's thread signals the debugger's eventfd: an idle instance's
/// thread sleeps until a client or the end).
pub fn serve(listener: &UnixListener, debugger: &Debugger, guest: &Guest<'_>) {
    loop {
        let [ready, _] = crate::wait::until(
            [Some(listener.as_raw_fd()), Some(debugger.parked_fd())],
            u64::MAX,
        );
        if guest.vcpus.stopping() {
            return;
        }
        if !ready {
            debugger.take_parked();
            continue;
        }
        // A client that went away before it was taken is no error.
        let Ok((mut client, _)) = listener.accept() else {
            continue;
        };
        match read_request(&client) {
            Ok(true) => tell(&session::serve(client, debugger, *guest)),
            Ok(false) => {
                let _ = client.write_all(b"unknown request\n");
            }
            Err(_) => {}
        }
    }
}

/// Reads the client's request line; true if it is [`GDB_REQUEST`].
fn read_request(mut client: &UnixStream) -> io::Result<bool> {
    let deadline = host_now_ns(libc::CLOCK_MONOTONIC) + REQUEST_NS;
    let mut line = Vec::new();
    let mut byte = [0u8];
    // Byte by byte: what follows the line is gdb's, not the request's.
    while line.len() < GDB_REQUEST.len() {
        if !crate::wait::until([Some(client.as_raw_fd())], deadline)[0] {
            return Err(io::ErrorKind::TimedOut.into());
        }
        if client.read(&mut byte)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        line.push(byte[0]);
        if byte[0] == b'\n' {
            break;
        }
    }
    Ok(line == GDB_REQUEST)
}

/// Says how a session ended, when that needs saying: the guest runs on.
pub fn tell(end: &SessionEnd) {
    if let SessionEnd::Failed(error) = end {
        let _ = writeln!(
            io::stderr(),
            "kiln: gdb session ended: {error}; the guest runs on without gdb"
        );
    }
}
