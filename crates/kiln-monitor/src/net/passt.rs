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
        Ok(self
            .incoming
            .peek(self.socket.as_raw_fd())?
            .map(|frame| &*acknowledge_reset(frame)))
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

/// Sets the ACK flag on a TCP reset that names an acknowledgment number
/// but lacks the flag, and returns the frame.
///
/// passt (Debian 12's, 2023-03) answers a guest's SYN to a closed host port
/// with such a reset. In SYN-SENT a reset counts only when it acknowledges
/// the SYN (RFC 9293 3.10.7.3; Linux's guests and smoltcp both ignore this
/// one), so the guest's connect would wait out its retries (a minute and
/// more) where a program on the host is refused at once. passt's
/// acknowledgment number is the one the SYN needs; setting the flag, with
/// the checksum updated to match (RFC 1624), makes it the reset it meant.
/// A reset whose acknowledgment number is zero is left alone.
fn acknowledge_reset(frame: &mut [u8]) -> &mut [u8] {
    const ETHERNET: usize = 14;
    const RST: u8 = 0x04;
    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;
    let ipv4 = frame.get(12..14) == Some(&[0x08, 0x00]);
    let Some(&version_ihl) = frame.get(ETHERNET) else {
        return frame;
    };
    let header = usize::from(version_ihl & 0x0f) * 4;
    let tcp = ETHERNET + header;
    if !ipv4 || version_ihl >> 4 != 4 || frame.get(ETHERNET + 9) != Some(&6) {
        return frame;
    }
    let Some(segment) = frame.get_mut(tcp..tcp + 20) else {
        return frame;
    };
    let flags = segment[13];
    let acknowledges = segment[8..12] != [0; 4];
    if flags & (RST | SYN | ACK) != RST || !acknowledges {
        return frame;
    }
    let old_word = u16::from_be_bytes([segment[12], flags]);
    segment[13] = flags | ACK;
    let new_word = u16::from_be_bytes([segment[12], flags | ACK]);
    let checksum = u16::from_be_bytes([segment[16], segment[17]]);
    // RFC 1624, eqn. 3: HC' = ~(~HC + ~m + m'), in ones' complement.
    let mut sum = u32::from(!checksum) + u32::from(!old_word) + u32::from(new_word);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    segment[16..18].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    frame
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

#[cfg(test)]
mod tests {
    use super::acknowledge_reset;

    /// The reset passt sent for a SYN to a closed host port (10.0.2.2:39999
    /// to the guest 10.0.2.15), captured from its socket.
    const PASST_RESET: [u8; 54] = [
        0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x02, 0xfc, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0x45,
        0x00, 0x00, 0x28, 0x00, 0x00, 0x00, 0x00, 0xff, 0x06, 0xa3, 0xbf, 0x0a, 0x00, 0x02, 0x02,
        0x0a, 0x00, 0x02, 0x0f, 0x9c, 0x3f, 0xbd, 0x01, 0x78, 0x4a, 0x4f, 0xda, 0x6a, 0x1b, 0x2e,
        0x22, 0x50, 0x04, 0xff, 0xff, 0xde, 0x2c, 0x00, 0x00,
    ];

    /// The TCP checksum over the pseudo-header and segment: 0 when valid.
    fn tcp_checksum(frame: &[u8]) -> u16 {
        let segment = &frame[34..];
        let mut sum: u32 = 0;
        let mut add = |bytes: &[u8]| {
            for pair in bytes.chunks(2) {
                sum += u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]));
            }
        };
        add(&frame[26..34]);
        add(&[0, 6]);
        add(&(segment.len() as u16).to_be_bytes());
        add(segment);
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    #[test]
    fn passts_reset_to_a_syn_gets_its_ack_flag_and_a_valid_checksum() {
        let mut frame = PASST_RESET;
        assert_eq!(tcp_checksum(&frame), 0, "the capture is valid as sent");
        acknowledge_reset(&mut frame);
        assert_eq!(frame[47], 0x14, "RST and ACK");
        assert_eq!(tcp_checksum(&frame), 0);
        assert_eq!(frame[..47], PASST_RESET[..47]);
        // Done once: a second look (peek then consume) changes nothing.
        let fixed = frame;
        acknowledge_reset(&mut frame);
        assert_eq!(frame, fixed);
    }

    #[test]
    fn other_segments_and_frames_are_left_alone() {
        let mut zero_ack = PASST_RESET;
        zero_ack[42..46].copy_from_slice(&[0; 4]);
        let mut syn = PASST_RESET;
        syn[47] = 0x02;
        let mut udp = PASST_RESET;
        udp[23] = 17;
        let mut short = PASST_RESET[..40].to_vec();
        for frame in [
            &mut zero_ack[..],
            &mut syn[..],
            &mut udp[..],
            &mut short[..],
            &mut [],
        ] {
            let before = frame.to_vec();
            acknowledge_reset(frame);
            assert_eq!(frame, &before[..]);
        }
    }
}
