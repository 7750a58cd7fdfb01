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

#[cfg(test)]
mod tests {
    use super::*;

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
