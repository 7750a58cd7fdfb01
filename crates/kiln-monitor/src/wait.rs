//! The `Block` hypercall's wait: until one of a few descriptors is
//! readable (the network backend, stdin, the vCPU's wake eventfd) or a
//! deadline passes, in one `ppoll`.

use std::os::fd::RawFd;

/// Waits until one of `fds` is readable, host `CLOCK_MONOTONIC` reaches
/// `deadline_ns` (`u64::MAX`: no deadline), or a signal arrives. Returns
/// which descriptors became ready (`None` entries are skipped and never
/// ready).
pub fn until<const N: usize>(fds: [Option<RawFd>; N], deadline_ns: u64) -> [bool; N] {
    let mut polled = fds.map(|fd| libc::pollfd {
        // A negative descriptor is skipped by `ppoll`.
        fd: fd.unwrap_or(-1),
        events: libc::POLLIN,
        revents: 0,
    });
    let now = crate::clock::host_now_ns(libc::CLOCK_MONOTONIC);
    if deadline_ns <= now {
        return [false; N];
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
    // SAFETY: N valid pollfds, a valid timespec or none; no signal mask.
    let ready = unsafe {
        libc::ppoll(
            polled.as_mut_ptr(),
            N as libc::nfds_t,
            timeout,
            std::ptr::null(),
        )
    };
    if ready <= 0 {
        return [false; N];
    }
    polled.map(|fd| fd.revents != 0)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::fd::AsRawFd;

    use super::*;
    use crate::clock::host_now_ns;

    #[test]
    fn a_wait_ends_when_a_descriptor_is_readable_or_at_the_deadline() {
        let (reader, mut writer) = std::io::pipe().expect("pipe");
        let fd = Some(reader.as_raw_fd());
        let soon = host_now_ns(libc::CLOCK_MONOTONIC) + 20_000_000;
        assert_eq!(until([fd, None], soon), [false, false]);
        assert!(
            host_now_ns(libc::CLOCK_MONOTONIC) >= soon,
            "waited until the deadline"
        );
        writer.write_all(b"x").expect("write");
        assert_eq!(until([fd, None, None], u64::MAX), [true, false, false]);
        assert_eq!(until([None, None, fd], u64::MAX), [false, false, true]);
        let past = host_now_ns(libc::CLOCK_MONOTONIC) - 1;
        assert_eq!(until([fd], past), [false]);
    }
}
