//! Advisory locks on the guest's own files (memory and baked), with
//! Linux's rules:
//!
//! - `flock` locks belong to an open file description: two descriptions
//!   of one file exclude each other, duplicated descriptors share one;
//! - record locks (`fcntl`) belong to the process (`F_SETLK`, one process
//!   here, so they never conflict with each other) or to an open file
//!   description (`F_OFD_SETLK`); the two kinds conflict with each other,
//!   and neither with `flock` locks.
//!
//! A lock is a byte range `start..end` (`end` `u64::MAX`: to the end of
//! the file, however long it grows). Files on volumes are locked on the
//! host instead (see `volume`), so other processes see the locks.

use alloc::vec::Vec;

use kiln_abi::errno::{EAGAIN, EBADF, EINVAL, EOVERFLOW};
use kiln_abi::file::{self, FileLock};

use super::flags::{O_ACCMODE, O_RDONLY, O_WRONLY};
use super::tree::Ino;
use super::{Errno, Fs, Object, Result, volume, with};
use crate::sched;

/// Who holds a lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// The program, for POSIX record locks.
    Process,
    /// An open file description (its index), for `flock` and OFD locks.
    Description(usize),
}

/// Which lock family: the two never conflict with each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Flock,
    Record,
}

/// A held lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Held {
    pub owner: Owner,
    pub exclusive: bool,
    pub start: u64,
    pub end: u64,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    ino: Ino,
    family: Family,
    held: Held,
}

/// Every lock on the guest's own files.
#[derive(Default)]
pub struct Locks {
    entries: Vec<Entry>,
}

impl Locks {
    /// The first lock that keeps `wanted` from being taken on `ino`.
    pub fn conflict(&self, ino: Ino, family: Family, wanted: &Held) -> Option<Held> {
        self.entries
            .iter()
            .filter(|e| e.ino == ino && e.family == family && e.held.owner != wanted.owner)
            .map(|e| e.held)
            .find(|held| {
                (held.exclusive || wanted.exclusive)
                    && held.start < wanted.end
                    && wanted.start < held.end
            })
    }

    /// Sets `owner`'s lock on `start..end` of `ino` (`None`: unlocks it),
    /// splitting or trimming what the owner held there before, as Linux
    /// does. The caller has checked for conflicts.
    pub fn set(
        &mut self,
        ino: Ino,
        family: Family,
        owner: Owner,
        range: (u64, u64),
        exclusive: Option<bool>,
    ) {
        let (start, end) = range;
        let mut kept = Vec::with_capacity(self.entries.len() + 2);
        for entry in self.entries.drain(..) {
            let mine = entry.ino == ino && entry.family == family && entry.held.owner == owner;
            let held = entry.held;
            if !mine || held.end <= start || end <= held.start {
                kept.push(entry);
                continue;
            }
            // The parts of the old lock outside the new range stay.
            if held.start < start {
                kept.push(Entry {
                    held: Held { end: start, ..held },
                    ..entry
                });
            }
            if end < held.end {
                kept.push(Entry {
                    held: Held { start: end, ..held },
                    ..entry
                });
            }
        }
        if let Some(exclusive) = exclusive {
            kept.push(Entry {
                ino,
                family,
                held: Held {
                    owner,
                    exclusive,
                    start,
                    end,
                },
            });
        }
        self.entries = kept;
    }

    /// Drops every lock `owner` holds on `ino` (any file, with `None`);
    /// whether there were any.
    pub fn release(&mut self, owner: Owner, ino: Option<Ino>) -> bool {
        let before = self.entries.len();
        self.entries
            .retain(|e| e.held.owner != owner || ino.is_some_and(|ino| e.ino != ino));
        self.entries.len() != before
    }
}

/// Linux's `flock` operations.
mod op {
    pub const LOCK_SH: i32 = 1;
    pub const LOCK_EX: i32 = 2;
    pub const LOCK_NB: i32 = 4;
    pub const LOCK_UN: i32 = 8;
    /// Obsolete "mandatory" locks: Linux accepts and ignores them.
    pub const LOCK_MAND: i32 = 32;
}

/// Linux's record-lock types and `fcntl` commands.
#[allow(missing_docs)]
pub mod record {
    pub const F_RDLCK: i16 = 0;
    pub const F_WRLCK: i16 = 1;
    pub const F_UNLCK: i16 = 2;
    pub const F_GETLK: i32 = 5;
    pub const F_SETLK: i32 = 6;
    pub const F_SETLKW: i32 = 7;
    pub const F_OFD_GETLK: i32 = 36;
    pub const F_OFD_SETLK: i32 = 37;
    pub const F_OFD_SETLKW: i32 = 38;
}

/// The program's pid, as the C library's `getpid` answers: what `F_OFD_GETLK`
/// reports as the holder of a POSIX lock.
const PROCESS_ID: i32 = 1;

/// How long a waiter for a lock held outside the guest (on a volume's host
/// file) sleeps between attempts: the monitor never waits on the host, and
/// the holder is another process, which no guest event announces.
const HOST_RETRY_NS: u64 = 10_000_000;

/// Threads waiting for a lock on the guest's own files wait on this key.
static KEY: u8 = 0;

fn key() -> usize {
    &raw const KEY as usize
}

/// Wakes the threads waiting for a lock: one may now be free.
pub(super) fn wake_waiters() {
    sched::wake(key(), usize::MAX);
}

/// One attempt at a lock.
enum Attempt {
    Done(Result<()>),
    /// Held by another description in the guest, or by someone on the host.
    Conflict {
        host: bool,
    },
}

/// Makes attempts until one is done; a conflict fails at once (`EAGAIN`,
/// which is `EWOULDBLOCK`) when `nonblocking`.
fn attempt_until_done(
    nonblocking: bool,
    mut attempt: impl FnMut(&mut Fs) -> Attempt,
) -> Result<()> {
    sched::until_done(|| match with(&mut attempt) {
        Attempt::Done(result) => sched::Try::Done(result),
        Attempt::Conflict { .. } if nonblocking => sched::Try::Done(Err(Errno(EAGAIN))),
        Attempt::Conflict { host: false } => sched::Try::Wait {
            key: key(),
            deadline: u64::MAX,
        },
        // A lock held on the host wakes nobody here: look again shortly.
        Attempt::Conflict { host: true } => sched::Try::Wait {
            key: 0,
            deadline: crate::clock::Instant::now()
                .as_nanos_since_boot()
                .saturating_add(HOST_RETRY_NS),
        },
    })
}

/// `flock(2)`.
pub fn flock(fd: i32, operation: i32) -> Result<()> {
    let nonblocking = operation & op::LOCK_NB != 0;
    attempt_until_done(nonblocking, |fs| fs.try_flock(fd, operation & !op::LOCK_NB))
}

/// The record-lock commands of `fcntl(2)`; `lock` is Linux's `struct flock`.
pub fn record_lock(fd: i32, command: i32, lock: &mut FileLock) -> Result<()> {
    use record::*;
    let (ofd, query, wait) = match command {
        F_GETLK => (false, true, false),
        F_SETLK => (false, false, false),
        F_SETLKW => (false, false, true),
        F_OFD_GETLK => (true, true, false),
        F_OFD_SETLK => (true, false, false),
        F_OFD_SETLKW => (true, false, true),
        _ => return Err(Errno(EINVAL)),
    };
    attempt_until_done(!wait, |fs| fs.try_record_lock(fd, ofd, query, lock))
}

impl Fs {
    fn try_flock(&mut self, fd: i32, operation: i32) -> Attempt {
        let index = match self.fd(fd) {
            Ok(entry) => entry.description,
            Err(e) => return Attempt::Done(Err(e)),
        };
        let exclusive = match operation {
            _ if operation & op::LOCK_MAND != 0 => return Attempt::Done(Ok(())),
            op::LOCK_SH => Some(false),
            op::LOCK_EX => Some(true),
            op::LOCK_UN => None,
            _ => return Attempt::Done(Err(Errno(EINVAL))),
        };
        let description = self.descriptions[index]
            .as_ref()
            .expect("descriptors refer to live descriptions");
        let ino = match description.object {
            Object::Volume { handle } => {
                let operation = match exclusive {
                    Some(false) => file::LOCK_SH,
                    Some(true) => file::LOCK_EX,
                    None => file::LOCK_UN,
                };
                return match volume::flock(handle, operation) {
                    Err(Errno(EAGAIN)) => Attempt::Conflict { host: true },
                    result => Attempt::Done(result),
                };
            }
            Object::File(ino) | Object::Dir { ino, .. } => ino,
            // Nothing else can be opened twice by one program.
            _ => return Attempt::Done(Ok(())),
        };
        let owner = Owner::Description(index);
        let whole = Held {
            owner,
            exclusive: exclusive.unwrap_or(false),
            start: 0,
            end: u64::MAX,
        };
        let holds = |locks: &Locks, exclusive| {
            locks.entries.iter().any(|e| {
                e.ino == ino && e.family == Family::Flock && e.held == Held { exclusive, ..whole }
            })
        };
        if exclusive.is_some_and(|exclusive| holds(&self.locks, exclusive)) {
            return Attempt::Done(Ok(()));
        }
        // As Linux: a conversion first lets go of the lock held, and a
        // conflict then leaves none.
        self.locks
            .set(ino, Family::Flock, owner, (0, u64::MAX), None);
        wake_waiters();
        if let Some(exclusive) = exclusive {
            if self.locks.conflict(ino, Family::Flock, &whole).is_some() {
                return Attempt::Conflict { host: false };
            }
            self.locks
                .set(ino, Family::Flock, owner, (0, u64::MAX), Some(exclusive));
        }
        Attempt::Done(Ok(()))
    }

    fn try_record_lock(&mut self, fd: i32, ofd: bool, query: bool, lock: &mut FileLock) -> Attempt {
        use record::*;
        let index = match self.fd(fd) {
            Ok(entry) => entry.description,
            Err(e) => return Attempt::Done(Err(e)),
        };
        let description = self.descriptions[index]
            .as_ref()
            .expect("descriptors refer to live descriptions");
        if let Object::Volume { handle } = description.object {
            let command = match (ofd, query) {
                (false, true) => file::F_GETLK,
                (false, false) => file::F_SETLK,
                (true, true) => file::F_OFD_GETLK,
                (true, false) => file::F_OFD_SETLK,
            };
            return match volume::lock(handle, command, lock) {
                Err(Errno(EAGAIN)) if !query => Attempt::Conflict { host: true },
                result => Attempt::Done(result),
            };
        }
        // Linux's checks, in its order.
        if query && lock.kind != F_RDLCK && lock.kind != F_WRLCK {
            return Attempt::Done(Err(Errno(EINVAL)));
        }
        let size = match description.object {
            Object::File(ino) => self.tree.contents(ino).len() as u64,
            _ => 0,
        };
        let range = match byte_range(lock, description.offset, size) {
            Ok(range) => range,
            Err(e) => return Attempt::Done(Err(e)),
        };
        let exclusive = match lock.kind {
            F_RDLCK => Some(false),
            F_WRLCK => Some(true),
            F_UNLCK => None,
            _ => return Attempt::Done(Err(Errno(EINVAL))),
        };
        let access = description.status & O_ACCMODE;
        if !query
            && ((exclusive == Some(false) && access == O_WRONLY)
                || (exclusive == Some(true) && access == O_RDONLY))
        {
            return Attempt::Done(Err(Errno(EBADF)));
        }
        if ofd && lock.pid != 0 {
            return Attempt::Done(Err(Errno(EINVAL)));
        }
        let ino = match description.object {
            Object::File(ino) | Object::Dir { ino, .. } => ino,
            // Nothing else can be opened twice by one program.
            _ => {
                if query {
                    lock.kind = F_UNLCK;
                }
                return Attempt::Done(Ok(()));
            }
        };
        let owner = if ofd {
            Owner::Description(index)
        } else {
            Owner::Process
        };
        let wanted = Held {
            owner,
            exclusive: exclusive.unwrap_or(false),
            start: range.0,
            end: range.1,
        };
        let conflict = self.locks.conflict(ino, Family::Record, &wanted);
        if query {
            match conflict {
                Some(held) => {
                    lock.kind = if held.exclusive { F_WRLCK } else { F_RDLCK };
                    lock.whence = 0;
                    lock.start = held.start as i64;
                    lock.len = if held.end == u64::MAX {
                        0
                    } else {
                        (held.end - held.start) as i64
                    };
                    lock.pid = match held.owner {
                        Owner::Process => PROCESS_ID,
                        Owner::Description(_) => -1,
                    };
                }
                None => lock.kind = F_UNLCK,
            }
            return Attempt::Done(Ok(()));
        }
        if exclusive.is_some() && conflict.is_some() {
            return Attempt::Conflict { host: false };
        }
        self.locks.set(ino, Family::Record, owner, range, exclusive);
        wake_waiters();
        Attempt::Done(Ok(()))
    }
}

/// The bytes `lock` covers, `start..end` (`end` `u64::MAX`: to the end of
/// the file), from a description at `offset` of a file of `size` bytes,
/// checked as Linux checks them.
fn byte_range(lock: &FileLock, offset: u64, size: u64) -> Result<(u64, u64)> {
    let base = match lock.whence {
        0 => 0,
        1 => offset as i64,
        2 => size as i64,
        _ => return Err(Errno(EINVAL)),
    };
    let start = base.checked_add(lock.start).ok_or(Errno(EOVERFLOW))?;
    if start < 0 {
        return Err(Errno(EINVAL));
    }
    match lock.len {
        0 => Ok((start as u64, u64::MAX)),
        len if len > 0 => {
            let last = start.checked_add(len - 1).ok_or(Errno(EOVERFLOW))?;
            Ok((start as u64, last as u64 + 1))
        }
        len => {
            let first = start + len;
            if first < 0 {
                return Err(Errno(EINVAL));
            }
            Ok((first as u64, start as u64))
        }
    }
}
