//! Character devices: `/dev/null`, `/dev/zero`, `/dev/full`, `/dev/random`,
//! `/dev/urandom` and `/dev/tty`, with Linux's device numbers and answers.

use kiln_abi::errno::{ENOSPC, ENXIO};

use crate::fs::{Errno, Result};

/// A device node's device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    /// Reads end at once, writes are swallowed.
    Null,
    /// Reads give zeros, writes are swallowed.
    Zero,
    /// Reads give zeros, writes fail with `ENOSPC`.
    Full,
    /// Random bytes (the generator `getrandom` uses); writes are accepted.
    Random,
    /// The same as `Random`, as on Linux since 5.6.
    Urandom,
    /// The controlling terminal: there is none (`ENXIO`), as in a
    /// container started without one.
    Tty,
}

impl Device {
    /// Every device, with its name under `/dev`.
    pub const ALL: [(&'static [u8], Device); 6] = [
        (b"null", Device::Null),
        (b"zero", Device::Zero),
        (b"full", Device::Full),
        (b"random", Device::Random),
        (b"urandom", Device::Urandom),
        (b"tty", Device::Tty),
    ];

    /// Linux's `st_rdev`: major 1 for the memory devices, 5,0 for the tty.
    pub fn rdev(self) -> u64 {
        let (major, minor) = match self {
            Device::Null => (1, 3),
            Device::Zero => (1, 5),
            Device::Full => (1, 7),
            Device::Random => (1, 8),
            Device::Urandom => (1, 9),
            Device::Tty => (5, 0),
        };
        // glibc's `makedev` for small numbers.
        (major << 8) | minor
    }

    /// Whether it may be opened.
    pub fn open(self) -> Result<()> {
        match self {
            Device::Tty => Err(Errno(ENXIO)),
            _ => Ok(()),
        }
    }

    /// `read(2)` into `buf`.
    pub fn read(self, buf: &mut [u8]) -> usize {
        match self {
            Device::Null | Device::Tty => 0,
            Device::Zero | Device::Full => {
                buf.fill(0);
                buf.len()
            }
            Device::Random | Device::Urandom => {
                crate::random::fill(buf);
                buf.len()
            }
        }
    }

    /// `write(2)` of `len` bytes.
    pub fn write(self, len: usize) -> Result<usize> {
        match self {
            Device::Full => Err(Errno(ENOSPC)),
            _ => Ok(len),
        }
    }
}
