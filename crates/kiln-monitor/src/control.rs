//! The control socket of a background instance's monitor: a Unix socket
//! in the instance's directory (mode 0600, so only its owner reaches it),
//! where `kiln debug NAME --gdb` attaches gdb to the running guest.
//!
//! One client at a time, on the gdb thread ([`crate::gdb`]), under its
//! seccomp program. A client sends one line naming what it wants:
//!
//! - `gdb`: the socket then carries gdb's remote protocol (the CLI relays
//!   gdb's TCP connection). The guest stops when gdb attaches, and runs on
//!   when it detaches or its connection ends.
//! - `profile HZ SECONDS` (`kiln profile`): the vCPUs' stacks are sampled
//!   for that long ([`LiveProfile`]), then the answer is `ok SAMPLES` and
//!   the folded stacks, one per line (`error MESSAGE` for a bad request).
//!   A client that hangs up ends the profile early.

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};

use crate::clock::host_now_ns;
use crate::gdb::Debugger;
use crate::gdb::connection::POLL_NS;
use crate::gdb::session::{self, SessionEnd};
use crate::gdb::threads::Guest;
use crate::profile::LiveProfile;

/// The request that attaches gdb.
pub const GDB_REQUEST: &[u8] = b"gdb\n";

/// The longest a client may take to say what it wants.
const REQUEST_NS: u64 = 5_000_000_000;

/// The longest request line.
const REQUEST_MAX: usize = 64;

/// The longest live profile, in seconds.
pub const PROFILE_SECONDS_MAX: u64 = 3600;

/// What a client asks for.
#[derive(Debug, PartialEq, Eq)]
enum Request {
    Gdb,
    Profile { hz: u32, seconds: u64 },
}

impl Request {
    /// A request line, without its newline.
    fn parse(line: &[u8]) -> Result<Self, String> {
        let line = std::str::from_utf8(line).map_err(|_| "a request is text".to_owned())?;
        let words: Vec<&str> = line.split(' ').collect();
        match words.as_slice() {
            ["gdb"] => Ok(Self::Gdb),
            ["profile", hz, seconds] => {
                let hz = hz
                    .parse()
                    .ok()
                    .filter(|hz| (1..=1000).contains(hz))
                    .ok_or("the rate is 1 to 1000 samples per second")?;
                let seconds = seconds
                    .parse()
                    .ok()
                    .filter(|s| (1..=PROFILE_SECONDS_MAX).contains(s))
                    .ok_or(format!(
                        "a profile lasts 1 to {PROFILE_SECONDS_MAX} seconds"
                    ))?;
                Ok(Self::Profile { hz, seconds })
            }
            _ => Err("unknown request".to_owned()),
        }
    }
}

/// Serves the control socket's clients until the VM ends (then the boot
/// vCPU's thread signals the debugger's eventfd: an idle instance's
/// thread sleeps until a client or the end).
pub fn serve(
    listener: &UnixListener,
    debugger: &Debugger,
    guest: &Guest<'_>,
    live: Option<&LiveProfile>,
    image: &[u8],
) {
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
        let Ok(line) = read_line(&client) else {
            continue;
        };
        // The answers go to a client that may have left: nothing to do then.
        match (Request::parse(&line), live) {
            (Ok(Request::Gdb), _) => tell(&session::serve(client, debugger, *guest)),
            (Ok(Request::Profile { hz, seconds }), Some(live)) => {
                let _ = profile(&mut client, live, guest, image, hz, seconds);
            }
            (Ok(Request::Profile { .. }), None) => {
                let _ = client.write_all(b"error this monitor samples its own profile\n");
            }
            (Err(error), _) => {
                let _ = writeln!(client, "error {error}");
            }
        }
    }
}

/// Reads the client's request line, without its newline.
fn read_line(mut client: &UnixStream) -> io::Result<Vec<u8>> {
    let deadline = host_now_ns(libc::CLOCK_MONOTONIC) + REQUEST_NS;
    let mut line = Vec::new();
    let mut byte = [0u8];
    // Byte by byte: what follows the line is gdb's, not the request's.
    while line.len() < REQUEST_MAX {
        if !crate::wait::until([Some(client.as_raw_fd())], deadline)[0] {
            return Err(io::ErrorKind::TimedOut.into());
        }
        if client.read(&mut byte)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if byte[0] == b'\n' {
            return Ok(line);
        }
        line.push(byte[0]);
    }
    Err(io::ErrorKind::InvalidData.into())
}

/// Samples the running guest's stacks for `seconds` (less if the client
/// hangs up or the VM ends), then answers with the folded stacks.
fn profile(
    client: &mut UnixStream,
    live: &LiveProfile,
    guest: &Guest<'_>,
    image: &[u8],
    hz: u32,
    seconds: u64,
) -> io::Result<()> {
    live.start(hz);
    // A vCPU running the guest without exits learns of it now.
    guest.vcpus.interrupt();
    let deadline = host_now_ns(libc::CLOCK_MONOTONIC) + seconds * 1_000_000_000;
    while host_now_ns(libc::CLOCK_MONOTONIC) < deadline && !guest.vcpus.stopping() {
        let wait = deadline.min(host_now_ns(libc::CLOCK_MONOTONIC) + POLL_NS);
        // Readable early: the client hung up (it sends nothing more).
        if crate::wait::until([Some(client.as_raw_fd())], wait)[0] {
            break;
        }
    }
    let profile = live.stop();
    let mut answer = format!("ok {}\n", profile.samples());
    for line in profile.folded(image) {
        answer.push_str(&line);
        answer.push('\n');
    }
    client.write_all(answer.as_bytes())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_checked() {
        assert_eq!(Request::parse(b"gdb"), Ok(Request::Gdb));
        assert_eq!(
            Request::parse(b"profile 99 5"),
            Ok(Request::Profile { hz: 99, seconds: 5 })
        );
        for bad in [
            &b"profile 0 5"[..],
            b"profile 1001 5",
            b"profile 99 0",
            b"profile 99 3601",
            b"profile 99",
            b"profile x y",
            b"gdb ",
            b"",
            b"\xff",
        ] {
            assert!(Request::parse(bad).is_err(), "{bad:?}");
        }
    }
}
