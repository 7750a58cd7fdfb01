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
    slots: Vec<Option<OwnedFd>>,
}

impl Handles {
    /// Takes `fd` and returns its handle.
    pub(super) fn insert(&mut self, fd: OwnedFd) -> Result<u64, Errno> {
        let slot = match self.slots.iter().position(Option::is_none) {
            Some(free) => free,
            None if self.slots.len() < MAX_HANDLES => {
                self.slots.push(None);
                self.slots.len() - 1
            }
            None => return Err(Errno(libc::EMFILE)),
        };
        self.slots[slot] = Some(fd);
        Ok(slot as u64)
    }

    /// The descriptor behind `handle` (`EBADF` if none).
    pub(super) fn get(&self, handle: u64) -> Result<BorrowedFd<'_>, Errno> {
        usize::try_from(handle)
            .ok()
            .and_then(|slot| self.slots.get(slot)?.as_ref())
            .map(AsFd::as_fd)
            .ok_or(Errno(libc::EBADF))
    }

    /// Gives up `handle`'s descriptor (`EBADF` if none).
    pub(super) fn remove(&mut self, handle: u64) -> Result<OwnedFd, Errno> {
        usize::try_from(handle)
            .ok()
            .and_then(|slot| self.slots.get_mut(slot)?.take())
            .ok_or(Errno(libc::EBADF))
    }
}
