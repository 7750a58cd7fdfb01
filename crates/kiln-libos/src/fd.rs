//! The descriptor layer that files ([`crate::fs`]) and sockets
//! ([`crate::net`]) both build on: Linux's error numbers, `poll`'s event
//! bits, the wake-ups that end `poll` and epoll waits, and the sockets'
//! entry points.
//!
//! The descriptor table (in `fs`) refers to sockets by [`SocketId`] and
//! reaches the network stack only through [`socket_hooks`], which the first
//! `socket()` installs: imports flow one way (`fs` → `fd` ← `net`), and a
//! program that never opens a socket does not link the stack (smoltcp and
//! the driver, about 100 KiB), because nothing the linker can follow leads
//! to it.

use core::net::SocketAddr;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::preempt::Lock;
use crate::sched;

/// A Linux error number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub i32);

/// The result of a file or socket operation.
pub type Result<T> = core::result::Result<T, Errno>;

/// `poll` event bits.
#[allow(missing_docs)]
pub mod events {
    pub const POLLIN: i16 = 0x1;
    pub const POLLOUT: i16 = 0x4;
    pub const POLLERR: i16 = 0x8;
    pub const POLLHUP: i16 = 0x10;
    pub const POLLNVAL: i16 = 0x20;
    pub const POLLRDHUP: i16 = 0x2000;
}

/// Threads waiting in `poll` or epoll wait on this key.
static POLL_KEY: u8 = 0;

/// Wake-ups of `poll`'s waiters so far: an epoll wait that saw none since
/// it checked its descriptors may sleep.
static CHANGES: AtomicU64 = AtomicU64::new(0);

/// Waits until a descriptor may have changed or `deadline` (ns since boot)
/// passes, for `poll` and epoll: unless one has changed since [`changes`]
/// returned `seen`, which the caller read before it looked at them.
pub fn wait_for_change(seen: u64, deadline: u64) {
    sched::wait_if(&raw const POLL_KEY as usize, deadline, &|| {
        changes() == seen
    });
}

/// Wakes the threads waiting in `poll` and epoll: a descriptor may have
/// changed.
pub fn wake_pollers() {
    CHANGES.fetch_add(1, Ordering::SeqCst);
    sched::wake(&raw const POLL_KEY as usize, usize::MAX);
}

/// How many times [`wake_pollers`] has run.
pub fn changes() -> u64 {
    CHANGES.load(Ordering::SeqCst)
}

/// A socket, as the descriptor table names it.
pub type SocketId = usize;

/// What a socket's `recv` gives: the bytes' count and their sender.
pub type Received = (usize, Option<SocketAddr>);

/// The network stack's entry points for the descriptor table and the
/// scheduler.
pub struct SocketHooks {
    /// Receives: the socket, the buffer, whether to peek, whether not to wait.
    pub recv: fn(SocketId, &mut [u8], bool, bool) -> Result<Received>,
    /// Sends: the socket, the bytes, the destination, whether not to wait.
    pub send: fn(SocketId, &[u8], Option<SocketAddr>, bool) -> Result<usize>,
    /// The socket's `poll` bits among those wanted.
    pub poll_ready: fn(SocketId, i16) -> i16,
    /// Releases a socket (its last descriptor was closed).
    pub close: fn(SocketId),
    /// Polls the stack when the vCPU would idle.
    pub idle: fn() -> crate::sched::Idle,
    /// Whether received frames wait for the stack, without polling it (an
    /// idle vCPU looking for work asks).
    pub frames_waiting: fn() -> bool,
    /// Sends what is queued, before the program ends.
    pub flush: fn(),
}

static ACTIVE: Lock<Option<&'static SocketHooks>> = Lock::new(None);

/// The network stack's entry points, once a socket has been created.
pub fn socket_hooks() -> Option<&'static SocketHooks> {
    *ACTIVE.lock()
}

/// Puts the network stack's entry points in place (its first socket).
pub fn install_socket_hooks(hooks: &'static SocketHooks) {
    *ACTIVE.lock() = Some(hooks);
}

/// Whether the VM has a network device, so traffic can arrive that no
/// thread of the program sent (on the loopback alone, only their own calls
/// wake each other). Reads the boot info only.
pub fn network_device_present() -> bool {
    crate::platform::boot_info().net.mmio_base != 0
}
