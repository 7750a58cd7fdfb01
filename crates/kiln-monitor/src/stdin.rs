//! The guest's stdin: the monitor's own (a pipe, a file or a terminal), or
//! an empty one.
//!
//! The monitor never waits in `read`: it reads only what `poll` says is
//! there, so a guest thread reading stdin does not stop the guest's other
//! threads. A guest that must wait for stdin says so in the `Block`
//! hypercall, where stdin is one more descriptor in the `ppoll`. Terminal
//! input is taken as the terminal gives it (canonical mode, no raw mode).
//! A closed host stdin never reaches here: Rust's runtime opens
//! `/dev/null` on a closed descriptor 0 before `main`, so it reads as end
//! of file.

use std::os::fd::RawFd;

const STDIN: RawFd = 0;

/// The host side of the guest's stdin.
#[derive(Debug, Clone, Copy)]
pub struct HostStdin {
    /// Whether the guest reads the host's stdin; without it, end of file at once.
    attached: bool,
}

impl HostStdin {
    /// The host's stdin when `attached` (a foreground `kiln run`), else an
    /// empty one (background instances, `kiln serve`).
    pub fn new(attached: bool) -> Self {
        Self { attached }
    }

    /// Whether the guest's stdin is a terminal (`isatty(0)`).
    pub fn is_terminal(&self) -> bool {
        // SAFETY: `isatty` only inspects the descriptor.
        self.attached && unsafe { libc::isatty(STDIN) } == 1
    }

    /// The descriptor a `Block` waiting for stdin polls, if any: an empty
    /// stdin is always ready, so there is nothing to wait for.
    pub fn wait_fd(&self) -> Option<RawFd> {
        self.attached.then_some(STDIN)
    }

    /// Reads what stdin holds now into `buf`, never waiting. Returns the
    /// byte count (0 at end of file) or `-errno` (`-EAGAIN`: nothing yet),
    /// and the `poll` bits seen before the read.
    ///
    /// # Safety
    /// `buf` must be valid for writes of `len` bytes.
    pub unsafe fn read(&self, buf: *mut u8, len: usize) -> (i64, u32) {
        if !self.attached {
            return (0, libc::POLLIN as u32);
        }
        let revents = poll_now();
        if revents == 0 {
            return (-i64::from(libc::EAGAIN), 0);
        }
        // SAFETY: the caller guarantees `buf` is writable for `len` bytes.
        let n = unsafe { libc::read(STDIN, buf.cast(), len) };
        if n >= 0 {
            return (n as i64, revents);
        }
        let errno = std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO);
        // Someone else (another reader of a shared pipe) took the bytes
        // first, the host descriptor is non-blocking, or a signal came: the
        // guest waits again, as a blocking read would have.
        let errno = match errno {
            libc::EINTR | libc::EWOULDBLOCK => libc::EAGAIN,
            other => other,
        };
        (-i64::from(errno), revents)
    }
}

/// stdin's `poll` bits now (0 if nothing is ready).
fn poll_now() -> u32 {
    let mut fd = libc::pollfd {
        fd: STDIN,
        events: libc::POLLIN,
        revents: 0,
    };
    let zero = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: one valid pollfd and a valid timespec; no signal mask.
    let ready = unsafe { libc::ppoll(&mut fd, 1, &zero, std::ptr::null()) };
    if ready > 0 {
        (fd.revents & (libc::POLLIN | libc::POLLERR | libc::POLLHUP | libc::POLLNVAL)) as u32
    } else {
        0
    }
}

/// Waits until `fd` is readable, a frame source `extra` is, or host
/// `CLOCK_MONOTONIC` reaches `deadline_ns` (`u64::MAX`: no deadline), or a
/// signal arrives. Returns which of the two became ready.
pub fn wait(stdin: Option<RawFd>, extra: Option<RawFd>, deadline_ns: u64) -> (bool, bool) {
    let mut fds = [stdin, extra].map(|fd| libc::pollfd {
        // A negative descriptor is skipped by `ppoll`.
        fd: fd.unwrap_or(-1),
        events: libc::POLLIN,
        revents: 0,
    });
    let now = crate::clock::host_now_ns(libc::CLOCK_MONOTONIC);
    if deadline_ns <= now {
        return (false, false);
    }
    let wait = deadline_ns - now;
    let timeout = libc::timespec {
        tv_sec: (wait / 1_000_000_000).min(i64::MAX as u64) as libc::time_t,
        tv_nsec: (wait % 1_000_000_000) as libc::c_long,
    };
    let timeout = if deadline_ns == u64::MAX {
        std::ptr::null()
    } else {
        &raw const timeout
    };
    // SAFETY: two valid pollfds, a valid timespec or none; no signal mask.
    let ready = unsafe { libc::ppoll(fds.as_mut_ptr(), 2, timeout, std::ptr::null()) };
    if ready <= 0 {
        return (false, false);
    }
    let [stdin, extra] = fds.map(|fd| fd.revents != 0);
    (stdin, extra)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::fd::AsRawFd;

    use super::*;
    use crate::clock::host_now_ns;

    #[test]
    fn a_wait_ends_when_the_descriptor_is_readable_or_at_the_deadline() {
        let (reader, mut writer) = std::io::pipe().expect("pipe");
        let soon = host_now_ns(libc::CLOCK_MONOTONIC) + 20_000_000;
        assert_eq!(wait(Some(reader.as_raw_fd()), None, soon), (false, false));
        assert!(
            host_now_ns(libc::CLOCK_MONOTONIC) >= soon,
            "waited until the deadline"
        );
        writer.write_all(b"x").expect("write");
        assert_eq!(
            wait(Some(reader.as_raw_fd()), None, u64::MAX),
            (true, false)
        );
        assert_eq!(
            wait(None, Some(reader.as_raw_fd()), u64::MAX),
            (false, true)
        );
        let past = host_now_ns(libc::CLOCK_MONOTONIC) - 1;
        assert_eq!(wait(Some(reader.as_raw_fd()), None, past), (false, false));
    }

    #[test]
    fn an_empty_stdin_is_at_end_of_file_and_never_waited_for() {
        let stdin = HostStdin::new(false);
        assert_eq!(stdin.wait_fd(), None);
        assert!(!stdin.is_terminal());
        let mut buf = [0u8; 8];
        // SAFETY: `buf` is writable for its length.
        let (result, revents) = unsafe { stdin.read(buf.as_mut_ptr(), buf.len()) };
        assert_eq!((result, revents), (0, libc::POLLIN as u32));
    }
}
