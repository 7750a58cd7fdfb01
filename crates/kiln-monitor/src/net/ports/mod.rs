//! `--net ports`: published ports forwarded by the monitor itself.
//!
//! passt gives a guest full user-mode networking, but costs ~19 MiB and
//! ~12 ms per instance here, which a VM that only serves published ports
//! does not need. This backend is a thread of the monitor: the guest's
//! gateway, written with smoltcp, that owns the host's listeners and
//! forwards what arrives on them to the guest's ports. The guest reaches
//! nothing else: there is no NAT, no DNS, and a connection to any other
//! address goes unanswered (or is refused, for the gateway itself), as on
//! an isolated network.
//!
//! The thread speaks passt's stream protocol on a socket pair, so the
//! device's side is [`Passt::on_socket`], unchanged. It blocks every
//! signal (the `--timeout` alarm is the vCPU's), installs its own seccomp
//! filter before it reads a guest frame, and ends when the socket closes:
//! when the VM ends.
//!
//! - [`forwarder`]: the event loop and smoltcp's interface;
//! - [`link`]: the frame socket as smoltcp's device;
//! - [`tcp`]: a host connection spliced to a guest connection;
//! - [`udp`]: a published UDP port, one flow per host peer;
//! - [`ephemeral`]: the gateway's ports towards the guest.

mod ephemeral;
mod forwarder;
mod link;
mod tcp;
#[cfg(test)]
mod tests;
mod udp;

use std::io;
use std::net::{IpAddr, Ipv4Addr, TcpListener, UdpSocket};
use std::thread::JoinHandle;

use super::passt::{Passt, socket_pair};
use super::spec::{Addressing, PortForward, Protocol};
use forwarder::{Forwarder, Listeners};

pub use forwarder::MAX_CONNECTIONS;

/// The gateway's MAC address: locally administered, unicast.
pub const GATEWAY_MAC: [u8; 6] = [0x02, 0xfc, 0, 0, 0, 1];

/// Binds `forwards` and starts the forwarder for a guest with
/// `addressing`; returns the device's end of its link. The ports are bound
/// when this returns, so they are reachable before the guest boots (a
/// connection waits for the guest to answer).
pub fn start(addressing: &Addressing, forwards: &[PortForward]) -> io::Result<Passt> {
    let (ours, theirs) = socket_pair()?;
    let forwarder = Forwarder::new(theirs, addressing, GATEWAY_MAC, bind(forwards)?);
    // Not joined: it ends with the VM, and the monitor exits right after.
    spawn(forwarder)?;
    Ok(Passt::on_socket(ours))
}

/// Runs `forwarder` on a thread of its own, with every signal blocked.
fn spawn(forwarder: Forwarder) -> io::Result<JoinHandle<()>> {
    // SAFETY: sigset_t is plain data; sigfillset initialises it.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above, for the mask to restore.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid sigset pointers. A new thread inherits its creator's
    // mask, so blocking here for the spawn means no signal can reach it,
    // not even before its first instruction: `SIGALRM` from `--timeout`
    // must interrupt the vCPU thread.
    unsafe {
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
    }
    let spawned = std::thread::Builder::new()
        .name("kiln-ports".into())
        .spawn(move || {
            // Its own credentials (they are per thread): it needs none of
            // root's powers to serve sockets it already has.
            let confined =
                crate::privileges::confine_thread(crate::privileges::needed(false), None)
                    .and_then(|()| crate::seccomp::restrict_forwarder());
            if let Err(error) = confined {
                // Unconfined it would serve the guest: the link stays down.
                eprintln!("kiln: cannot confine the port forwarder: {error}");
                return;
            }
            forwarder.run();
        });
    // SAFETY: restores the mask saved above.
    unsafe {
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
    }
    spawned
}

/// Binds every published port, non-blocking.
fn bind(forwards: &[PortForward]) -> io::Result<Listeners> {
    let mut listeners = Listeners {
        tcp: Vec::new(),
        udp: Vec::new(),
    };
    for forward in forwards {
        let ip = forward.host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let at = (ip, forward.host_port);
        let context = |error: io::Error| {
            let protocol = match forward.protocol {
                Protocol::Tcp => "tcp",
                Protocol::Udp => "udp",
            };
            io::Error::new(
                error.kind(),
                format!("host port {ip}:{}/{protocol}: {error}", forward.host_port),
            )
        };
        match forward.protocol {
            Protocol::Tcp => {
                let listener = TcpListener::bind(at).map_err(context)?;
                listener.set_nonblocking(true).map_err(context)?;
                listeners.tcp.push((listener, forward.guest_port));
            }
            Protocol::Udp => {
                let socket = UdpSocket::bind(at).map_err(context)?;
                socket.set_nonblocking(true).map_err(context)?;
                listeners.udp.push((socket, forward.guest_port));
            }
        }
    }
    Ok(listeners)
}
