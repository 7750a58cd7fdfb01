//! The TAP backend: an existing TAP device, for bridges and the fastest path.
//!
//! The device must exist (created by the host's administrator, e.g.
//! `ip tuntap add dev kiln0 mode tap user $USER`); attaching to it needs no
//! privilege beyond its owner. Each `read` is one frame and each `write`
//! sends one, with no packet-information prefix (`IFF_NO_PI`). The
//! descriptor is non-blocking: a full transmit queue drops the frame.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::backend::{Backend, MAX_FRAME, write_all};

/// `TUNSETIFF`: `_IOW('T', 202, int)`.
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;

/// An attached TAP device.
pub struct Tap {
    fd: OwnedFd,
    buf: Vec<u8>,
    /// Length of the frame waiting in `buf`, if one does.
    held: Option<usize>,
}

/// Whether a network interface called `name` exists in this process's
/// network namespace (`/sys/class/net` may show another one's). That it is
/// a TAP device is checked when attaching: `TUNSETIFF` refuses others.
pub fn exists(name: &str) -> bool {
    let Ok(name) = std::ffi::CString::new(name) else {
        return false;
    };
    // SAFETY: a valid NUL-terminated string; the call only reads it.
    unsafe { libc::if_nametoindex(name.as_ptr()) != 0 }
}

impl Tap {
    /// Attaches to the TAP device `name`.
    pub fn open(name: &str) -> io::Result<Self> {
        let mut ifr = [0u8; 40]; // struct ifreq: name[16], flags at 16
        if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains('\0') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("'{name}' is not a network interface name"),
            ));
        }
        ifr[..name.len()].copy_from_slice(name.as_bytes());
        let flags = (libc::IFF_TAP | libc::IFF_NO_PI) as u16;
        ifr[16..18].copy_from_slice(&flags.to_ne_bytes());
        // SAFETY: a NUL-terminated path; the flags ask for a new descriptor.
        let raw = unsafe {
            libc::open(
                c"/dev/net/tun".as_ptr(),
                libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: open succeeded; the descriptor is ours alone.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: `ifr` is a 40-byte `struct ifreq` the ioctl reads and
        // writes in place.
        if unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF, ifr.as_mut_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self {
            fd,
            buf: vec![0; MAX_FRAME],
            held: None,
        })
    }
}

impl Backend for Tap {
    fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        match write_all(&self.fd, &[frame]) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            other => other,
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        // Each frame is its own write: a TAP device takes one per call.
        Ok(())
    }

    fn peek(&mut self) -> io::Result<Option<&[u8]>> {
        if self.held.is_none() {
            // SAFETY: `buf` is a valid writable buffer of the given length.
            let n = unsafe {
                libc::read(
                    self.fd.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                )
            };
            if n < 0 {
                let error = io::Error::last_os_error();
                return match error.kind() {
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
                    _ => Err(error),
                };
            }
            self.held = Some(n as usize);
        }
        Ok(self.held.map(|len| &self.buf[..len]))
    }

    fn consume(&mut self) {
        self.held = None;
    }
}
