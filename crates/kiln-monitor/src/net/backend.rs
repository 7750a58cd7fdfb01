//! Where the device's frames go: a host-side backend.
//!
//! Both backends move whole Ethernet frames (no virtio header) through one
//! file descriptor, which the `Block` hypercall polls. Receiving is a peek
//! and a consume, so a frame the guest has no buffer for stays in the
//! backend (in the kernel's socket or TAP queue, which bounds it) until
//! the guest posts one.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// The largest frame either side accepts: a 64 KiB IP packet with its
/// Ethernet header. Frames are much smaller at the MTU the guest is given.
pub const MAX_FRAME: usize = 65536 + 14;

/// A host-side link for the device's frames.
pub trait Backend: Send {
    /// The descriptor that becomes readable when a frame arrives.
    fn fd(&self) -> RawFd;
    /// Sends one frame, or queues it until [`flush`](Self::flush). A frame
    /// the host cannot take now is dropped, as a NIC drops frames on a full
    /// link; errors mean the link is gone.
    fn send(&mut self, frame: &[u8]) -> io::Result<()>;
    /// Sends what [`send`](Self::send) queued: the device calls it once
    /// per `QueueNotify`, so a backend that can batch frames makes one
    /// system call for all of them.
    fn flush(&mut self) -> io::Result<()>;
    /// The next received frame, without consuming it; `None` when none
    /// has arrived. Never blocks.
    fn peek(&mut self) -> io::Result<Option<&[u8]>>;
    /// Drops the frame [`peek`](Self::peek) returned.
    fn consume(&mut self);
    /// Whether the host side is ready to carry traffic: the guest sees the
    /// link down until then.
    fn ready(&self) -> bool {
        true
    }
    /// Takes in what the host has sent, up to the backend's own bound,
    /// while the guest has no buffer for it: a sender that cannot wait (passt
    /// drops what it cannot write) must not find the link full.
    fn prefetch(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes all of `parts` to `fd` as one gathered write, finishing a write a
/// signal cut short (the watchdog's `SIGALRM` may land mid-frame).
pub fn write_all(fd: &OwnedFd, parts: &[&[u8]]) -> io::Result<()> {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    let mut done = 0;
    while done < total {
        let mut skip = done;
        let mut iov = Vec::with_capacity(parts.len());
        for part in parts {
            if skip >= part.len() {
                skip -= part.len();
                continue;
            }
            let rest = &part[skip..];
            skip = 0;
            iov.push(libc::iovec {
                iov_base: rest.as_ptr() as *mut libc::c_void,
                iov_len: rest.len(),
            });
        }
        // SAFETY: every iovec points into a live slice of `parts`; writev
        // only reads them.
        let n = unsafe { libc::writev(fd.as_raw_fd(), iov.as_ptr(), iov.len() as libc::c_int) };
        if n < 0 {
            let error = io::Error::last_os_error();
            if error.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(error);
        }
        done += n as usize;
    }
    Ok(())
}
