//! The user-mode backend: a `passt` child process on a socket pair.
//!
//! passt (<https://passt.top>) gives a VM rootless networking: it NATs the
//! guest's connections through the host's own sockets, forwards published
//! host ports to the guest, answers ARP and DHCP, and forwards DNS. It
//! speaks QEMU's stream protocol on a connected socket handed over with
//! `--fd`: each Ethernet frame preceded by its length, 4 bytes big-endian.
//! It runs in the foreground as our child, sandboxes itself, and exits when
//! its end of the socket closes, which happens when the monitor exits for
//! any reason (a `SIGKILL` included); the parent-death signal is a second
//! guarantee.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

use super::backend::{Backend, write_all};
use super::framing::FrameReader;
use super::spec::{Addressing, PASST_DNS, PortForward, Protocol};

/// The passt binary, found on `PATH`.
pub const PASST: &str = "passt";

/// Queued outgoing bytes that trigger a write before the batch ends.
const BATCH_BYTES: usize = 256 * 1024;

/// Received bytes held for the guest while it has no receive buffer. passt
/// cannot wait for us: what it cannot write to the socket it drops (and a
/// SYN it forwards is not sent again), so the monitor keeps reading into
/// this much memory, on top of the kernel's socket buffer.
const RECEIVE_HOLD: usize = 4 << 20;

/// A running passt and our end of its socket.
pub struct Passt {
    socket: OwnedFd,
    /// Not waited for: closing `socket` makes passt exit, reaping it would
    /// need `wait4` under seccomp, and the monitor exits right after the
    /// VM, leaving the child to init, which reaps it.
    _child: Option<Child>,
    /// Frames to send, each behind its length: one write per batch.
    outgoing: Vec<u8>,
    /// What passt sends. Once it has sent anything it runs its event
    /// loop, so it has bound the published ports (it does that first) and
    /// serves them.
    incoming: FrameReader,
}

impl Passt {
    /// Starts passt for a guest with `addressing`, publishing `forwards`.
    pub fn spawn(addressing: &Addressing, forwards: &[PortForward]) -> io::Result<Self> {
        let (ours, theirs) = socket_pair()?;
        // The monitor reads passt's frames only at the guest's exits, which
        // a busy guest (or a host that preempts the vCPU) may not make for
        // milliseconds; what passt cannot write meanwhile it drops, and a
        // SYN it drops is never sent again (the client waits 10 s for a
        // reset). On a stream socket the sender's buffer bounds what waits.
        set_send_buffer(&theirs, SOCKET_BUFFER);
        set_send_buffer(&ours, SOCKET_BUFFER);
        let mut command = Command::new(PASST);
        command.args(arguments(addressing, forwards, theirs.as_raw_fd()));
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        let child_fd = theirs.as_raw_fd();
        // SAFETY: the closure runs in the forked child before exec and makes
        // only async-signal-safe calls (fcntl, prctl) on its own fd table
        // and process.
        unsafe {
            command.pre_exec(move || {
                // The socket was created close-on-exec so no other child
                // inherits it; passt's copy must survive the exec.
                if libc::fcntl(child_fd, libc::F_SETFD, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                // passt touches ~20 MiB at start, ~14 MiB of it frame
                // buffers it only zero-fills, the same in every passt: a
                // host that runs KSM (/sys/kernel/mm/ksm/run) may share
                // them. The flag survives exec; without KSM it does nothing,
                // and where it is refused passt runs as before.
                libc::prctl(libc::PR_SET_MEMORY_MERGE, 1, 0, 0, 0);
                Ok(())
            });
        }
        let child = command.spawn()?;
        drop(theirs);
        let mut link = Self::on_socket(ours);
        link._child = Some(child);
        // passt addresses frames to the guest's MAC, which it learns from
        // the guest's first frame; until then it sends to 00:00:00:00:00:00,
        // which the guest drops, so a connection to a published port made
        // before the guest has sent anything would hang. Announcing the
        // guest at once (a gratuitous ARP, as hypervisors send after a
        // migration) teaches passt the MAC before any traffic.
        link.send(&gratuitous_arp(addressing))?;
        // passt takes ~10 ms to start here; its answer to this request for
        // the gateway is the first sign that it serves (see `ready`). The
        // answer goes to the guest, which then knows the gateway already.
        link.send(&arp_request(addressing, addressing.gateway))?;
        link.flush()?;
        Ok(link)
    }

    /// The stream protocol on an already connected socket, with no child
    /// (what passt is handed, seen from our side).
    pub fn on_socket(socket: OwnedFd) -> Self {
        Self {
            socket,
            _child: None,
            outgoing: Vec::new(),
            incoming: FrameReader::new("passt", RECEIVE_HOLD),
        }
    }
}

impl Backend for Passt {
    fn fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }

    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        self.outgoing
            .extend_from_slice(&(frame.len() as u32).to_be_bytes());
        self.outgoing.extend_from_slice(frame);
        // A full queue of large frames would be megabytes: send in pieces.
        if self.outgoing.len() >= BATCH_BYTES {
            return self.flush();
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        let sent = write_all(&self.socket, &[&self.outgoing]);
        self.outgoing.clear();
        sent
    }

    fn peek(&mut self) -> io::Result<Option<&[u8]>> {
        self.incoming.peek(self.socket.as_raw_fd())
    }

    fn consume(&mut self) {
        self.incoming.consume();
    }

    fn prefetch(&mut self) -> io::Result<()> {
        while self.incoming.fill(self.socket.as_raw_fd())? {}
        Ok(())
    }

    fn ready(&self) -> bool {
        self.incoming.heard()
    }
}

/// An ARP announcement of the guest's address from its MAC.
pub fn gratuitous_arp(addressing: &Addressing) -> Vec<u8> {
    arp_request(addressing, addressing.ipv4)
}

/// An ARP request from the guest for `target`'s MAC address.
fn arp_request(addressing: &Addressing, target: Ipv4Addr) -> Vec<u8> {
    let mut frame = vec![0xff; 6]; // broadcast
    frame.extend_from_slice(&addressing.mac);
    frame.extend_from_slice(&[0x08, 0x06]); // ARP
    // Ethernet, IPv4, 6-byte and 4-byte addresses, a request.
    frame.extend_from_slice(&[0, 1, 0x08, 0, 6, 4, 0, 1]);
    frame.extend_from_slice(&addressing.mac);
    frame.extend_from_slice(&addressing.ipv4.octets());
    frame.extend_from_slice(&[0; 6]);
    frame.extend_from_slice(&target.octets());
    frame
}

/// passt's command line: foreground, quiet, IPv4 only, one client (it quits
/// when our end of the socket closes, however the monitor ends: its
/// parent-death signal does not survive the change to an unprivileged user
/// when started as root), the guest's fixed addressing, MTU, DNS forwarding
/// and the published ports.
pub fn arguments(addressing: &Addressing, forwards: &[PortForward], fd: RawFd) -> Vec<String> {
    let mut args: Vec<String> = [
        "--foreground",
        "--quiet",
        "--ipv4-only",
        "--one-off",
        "--fd",
    ]
    .map(String::from)
    .into();
    args.push(fd.to_string());
    let dotted = |a: Ipv4Addr| a.to_string();
    args.extend([
        "--address".into(),
        dotted(addressing.ipv4),
        "--netmask".into(),
        addressing.prefix_len.to_string(),
        "--gateway".into(),
        dotted(addressing.gateway),
        "--mtu".into(),
        addressing.mtu.to_string(),
    ]);
    // Queries to passt's resolver address go to the host's resolver. It
    // stays passt's even when `--dns` gives the guest another server,
    // which passt then reaches like any other address.
    args.extend(["--dns-forward".into(), dotted(PASST_DNS)]);
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        // passt refuses to keep root and says so on every start; naming
        // the user it switches to anyway keeps it quiet.
        args.extend(["--runas".into(), "nobody".into()]);
    }
    for forward in forwards {
        let flag = match forward.protocol {
            Protocol::Tcp => "--tcp-ports",
            Protocol::Udp => "--udp-ports",
        };
        args.extend([flag.into(), forward.passt_spec()]);
    }
    args
}

/// The send buffer asked for on each end of passt's socket; the kernel
/// caps it at `net.core.wmem_max` (4 MiB here, 208 KiB by default).
const SOCKET_BUFFER: libc::c_int = 4 << 20;

/// Sets `SO_SNDBUF`, as far as the host allows: a smaller buffer is not an
/// error, only more drops under load.
fn set_send_buffer(socket: &OwnedFd, bytes: libc::c_int) {
    // SAFETY: a valid socket and an int option of the size given.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&raw const bytes).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// A connected stream socket pair, both ends close-on-exec.
pub fn socket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors socketpair returns.
    let rc = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: socketpair succeeded, so both are open descriptors we own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}
