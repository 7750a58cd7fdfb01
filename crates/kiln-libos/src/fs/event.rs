//! Event descriptors: `epoll` instances and `eventfd` counters.
//!
//! An epoll instance holds its interest list; a wait asks each registered
//! descriptor's readiness ([`super::poll_ready`]) and, with nothing to
//! report, waits in the scheduler until a socket, pipe or eventfd changes
//! (the key `poll` waits on) or the timeout passes.
//!
//! Edge-triggered registrations (`EPOLLET`, as mio makes them) report a
//! readiness once, then again only when a bit newly appears or the
//! descriptor has changed since: a pipe or an eventfd counts its own reads
//! and writes (so a write to a readable eventfd is a new edge, as on
//! Linux); a socket uses a count of every wake of `poll`'s waiters, since
//! the stack only says that some socket may have changed. That may report
//! a socket's edge Linux would not, never misses one, and a program written
//! for edge triggering reads until `EAGAIN` and takes a spare report in
//! its stride.

/// `epoll_event.events` bits.
#[allow(missing_docs)]
pub mod bits {
    pub const EPOLLIN: u32 = 0x1;
    pub const EPOLLPRI: u32 = 0x2;
    pub const EPOLLOUT: u32 = 0x4;
    pub const EPOLLERR: u32 = 0x8;
    pub const EPOLLHUP: u32 = 0x10;
    pub const EPOLLRDNORM: u32 = 0x40;
    pub const EPOLLWRNORM: u32 = 0x100;
    pub const EPOLLRDHUP: u32 = 0x2000;
    pub const EPOLLEXCLUSIVE: u32 = 1 << 28;
    pub const EPOLLWAKEUP: u32 = 1 << 29;
    pub const EPOLLONESHOT: u32 = 1 << 30;
    pub const EPOLLET: u32 = 1 << 31;
    pub const EPOLL_CTL_ADD: i32 = 1;
    pub const EPOLL_CTL_DEL: i32 = 2;
    pub const EPOLL_CTL_MOD: i32 = 3;
}

/// One event `epoll_wait` reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Event {
    /// The ready `EPOLL*` bits.
    pub events: u32,
    /// The registration's user data.
    pub data: u64,
}

/// A registration in an epoll instance's interest list.
#[derive(Clone)]
pub(super) struct Interest {
    pub fd: i32,
    /// The description `fd` referred to when registered: closing it (its
    /// last descriptor) removes the registration, as on Linux.
    pub description: usize,
    pub events: u32,
    pub data: u64,
    /// Edge-triggered: the bits last reported, and the descriptor's change
    /// count then (see `Fs::generation`).
    pub reported: u32,
    pub epoch: u64,
}

/// The `poll` bits asked for registration `events` (the values match).
pub(super) fn poll_wanted(events: u32) -> i16 {
    (events & (bits::EPOLLIN | bits::EPOLLPRI | bits::EPOLLOUT | bits::EPOLLRDHUP)) as i16
}

impl Interest {
    /// What to report for readiness `ready` (`poll` bits) with the
    /// descriptor at change count `now`, updating the edge state; 0 for nothing.
    pub fn report(&mut self, ready: i16, now: u64) -> u32 {
        let ready = ready as u16 as u32
            & (self.events | bits::EPOLLERR | bits::EPOLLHUP)
            & !(bits::EPOLLET | bits::EPOLLONESHOT);
        if self.events & bits::EPOLLET != 0 {
            let fresh = ready & !self.reported != 0 || (ready != 0 && self.epoch != now);
            self.reported = ready;
            if !fresh {
                return 0;
            }
            self.epoch = now;
        }
        if ready != 0 && self.events & bits::EPOLLONESHOT != 0 {
            // Disabled until `EPOLL_CTL_MOD` arms it again.
            self.events &= bits::EPOLLET | bits::EPOLLONESHOT;
        }
        ready
    }
}

/// The largest value an eventfd's counter holds.
pub(super) const EVENTFD_MAX: u64 = u64::MAX - 1;
