//! The guest's open files: small integer handles into a table of host
//! descriptors, with a limit so a guest cannot exhaust the monitor's.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use super::Errno;

/// The most files a guest may have open at once (then `EMFILE`).
pub const MAX_HANDLES: usize = 1024;

/// Open files by handle; a closed handle's slot is reused, lowest first, as
/// Linux reuses descriptors.
#[derive(Debug, Default)]
pub(super) struct Handles {
    slots: Vec<Option<Handle>>,
}

/// An open file and whether its volume is read-only.
#[derive(Debug)]
struct Handle {
    fd: OwnedFd,
    read_only: bool,
}

impl Handles {
    /// Takes `fd`, opened on a volume that is `read_only` or not, and
    /// returns its handle.
    pub(super) fn insert(&mut self, fd: OwnedFd, read_only: bool) -> Result<u64, Errno> {
        let slot = match self.slots.iter().position(Option::is_none) {
            Some(free) => free,
            None if self.slots.len() < MAX_HANDLES => {
                self.slots.push(None);
                self.slots.len() - 1
            }
            None => return Err(Errno(libc::EMFILE)),
        };
        self.slots[slot] = Some(Handle { fd, read_only });
        Ok(slot as u64)
    }

    /// The descriptor behind `handle` (`EBADF` if none).
    pub(super) fn get(&self, handle: u64) -> Result<BorrowedFd<'_>, Errno> {
        usize::try_from(handle)
            .ok()
            .and_then(|slot| self.slots.get(slot)?.as_ref())
            .map(|handle| handle.fd.as_fd())
            .ok_or(Errno(libc::EBADF))
    }

    /// As [`Handles::get`], for a change to the file's metadata: `EROFS`
    /// on a read-only volume, whatever the descriptor's access mode.
    pub(super) fn get_writable(&self, handle: u64) -> Result<BorrowedFd<'_>, Errno> {
        match usize::try_from(handle)
            .ok()
            .and_then(|slot| self.slots.get(slot)?.as_ref())
        {
            Some(Handle {
                read_only: true, ..
            }) => Err(Errno(libc::EROFS)),
            Some(handle) => Ok(handle.fd.as_fd()),
            None => Err(Errno(libc::EBADF)),
        }
    }

    /// Gives up `handle`'s descriptor (`EBADF` if none).
    pub(super) fn remove(&mut self, handle: u64) -> Result<OwnedFd, Errno> {
        usize::try_from(handle)
            .ok()
            .and_then(|slot| self.slots.get_mut(slot)?.take())
            .map(|handle| handle.fd)
            .ok_or(Errno(libc::EBADF))
    }
}
