//! The host side of the guest console: the guest's standard-output ring
//! ([`kiln_abi::hypercall::ConsoleRing`]) and its direct writes, on their
//! way to the monitor's stdout and stderr.
//!
//! The guest appends standard output to a ring in its own memory, without
//! a VM exit; the monitor empties it ([`Console::drain`]) before every
//! other console write (so bytes reach the host in the order the guest
//! wrote them, stdout and stderr alike), before a vCPU idles, every
//! [`DRAIN_INTERVAL`] from a thread of its own ([`drain_periodically`]:
//! a line printed before a long computation still shows), and once the
//! vCPUs have stopped, whatever stopped them, before any crash report.
//!
//! No write to the host waits past a point its caller chooses (`give_up`):
//! each waits for the stream to be writable in short polls, then writes at
//! most [`PIPE_BUF`] bytes, which a pipe that polls writable takes without
//! blocking. So a reader that stops reading, or a full log disk, holds a
//! vCPU only until the VM stops (`--timeout`, another vCPU's ending); what
//! the ring still holds stays there for the last drain to try again.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

use kiln_abi::boot::BootInfo;
use kiln_abi::hypercall::{CONSOLE_RING_SIZE, ConsoleRing, Hypercall, stream};

use crate::hypercall::Violation;
use crate::layout::Layout;
use crate::memory::GuestMemory;
use crate::stats::LiveStats;

/// How often the monitor's console thread empties the ring while the
/// guest runs: a line printed just before a long computation appears
/// within this (Linux shows it at once; a terminal user does not see
/// 20 ms), and the thread's wake-ups stay cheap (50 a second).
pub const DRAIN_INTERVAL: Duration = Duration::from_millis(20);

/// The most bytes one `write` carries: a pipe that polls writable has room
/// for this many (one page), so the write never blocks there.
const PIPE_BUF: usize = libc::PIPE_BUF;

/// How long one poll for a writable stream lasts before `give_up` is asked
/// again.
const POLL_SLICE_MS: libc::c_int = 10;

/// The host side of the guest console.
#[derive(Debug, Default)]
pub struct Console {
    /// The ring's bytes on their way out.
    scratch: Vec<u8>,
    /// A `ConsoleWrite`'s bytes.
    call: Vec<u8>,
    /// Bytes written per stream (stdout, stderr).
    pub bytes: [u64; 2],
}

/// Where the console's bytes come from and are counted.
pub struct Guest<'a> {
    /// Guest memory.
    pub memory: &'a GuestMemory,
    /// This boot's layout (where the boot info is).
    pub layout: &'a Layout,
    /// Live counters for `kiln stats`.
    pub stats: &'a LiveStats,
}

impl Console {
    /// Writes what the guest's ring holds to the host's stdout and marks it
    /// written. Waits for a slow reader until `give_up` says to stop; the
    /// bytes not written then stay in the ring.
    pub fn drain(
        &mut self,
        guest: &Guest<'_>,
        give_up: &dyn Fn() -> bool,
    ) -> Result<(), Violation> {
        let Some(ring) = ring_address(guest)? else {
            return Ok(());
        };
        let memory = guest.memory;
        let bad = |error| Violation::BadAddress {
            call: Hypercall::ConsoleWrite,
            error,
        };
        let head = memory.load_u64(ring).map_err(bad)?;
        let mut tail = memory.load_u64(ring + 8).map_err(bad)?;
        let size = CONSOLE_RING_SIZE as u64;
        if head.wrapping_sub(tail) > size {
            return Err(Violation::ConsoleRing { head, tail });
        }
        while tail != head {
            let start = tail % size;
            let len = (head - tail).min(size - start);
            memory
                .read_bytes(ring + 16 + start, len, &mut self.scratch)
                .map_err(bad)?;
            let done = write_host(stdout(), &self.scratch, give_up) as u64;
            tail += done;
            memory.store_u64(tail, ring + 8).map_err(bad)?;
            self.count(guest.stats, 0, done);
            if done < len {
                break;
            }
        }
        Ok(())
    }

    /// Writes bytes the guest handed over in a call to `stream`, after
    /// what its ring holds: `read` fills a buffer with them.
    pub fn write(
        &mut self,
        guest: &Guest<'_>,
        stream: u32,
        read: impl FnOnce(&mut Vec<u8>) -> Result<(), Violation>,
        give_up: &dyn Fn() -> bool,
    ) -> Result<(), Violation> {
        let (index, fd) = match stream {
            stream::STDOUT => (0, stdout()),
            stream::STDERR => (1, stderr()),
            other => return Err(Violation::BadStream(other)),
        };
        read(&mut self.call)?;
        self.drain(guest, give_up)?;
        let done = write_host(fd, &self.call, give_up);
        self.count(guest.stats, index, done as u64);
        Ok(())
    }

    fn count(&mut self, stats: &LiveStats, index: usize, bytes: u64) {
        self.bytes[index] += bytes;
        stats.console(index, bytes);
    }
}

/// The guest's ring, checked to lie inside guest memory, or `None` before
/// the guest names one.
fn ring_address(guest: &Guest<'_>) -> Result<Option<u64>, Violation> {
    let field = guest.layout.boot_info.start + std::mem::offset_of!(BootInfo, console_ring) as u64;
    let bad = |error| Violation::BadAddress {
        call: Hypercall::ConsoleWrite,
        error,
    };
    let ring = guest.memory.load_u64(field).map_err(bad)?;
    if ring == 0 {
        return Ok(None);
    }
    guest
        .memory
        .check(ring, size_of::<ConsoleRing>() as u64)
        .map_err(bad)?;
    Ok(Some(ring))
}

/// The console thread: empties the ring every [`DRAIN_INTERVAL`] while a
/// vCPU runs the guest, and sleeps while `idle` waits (every vCPU idles in
/// `Block`, whose start empties the ring: an idle instance costs the host
/// no wake-ups), until `wait` or `idle` return true (the VM is stopping).
/// A ring the guest broke ends the VM through `fail`.
pub fn drain_periodically(
    console: &std::sync::Mutex<Console>,
    guest: &Guest<'_>,
    wait: &dyn Fn(Duration) -> bool,
    idle: &dyn Fn() -> bool,
    give_up: &dyn Fn() -> bool,
    fail: &dyn Fn(Violation),
) {
    while !idle() && !wait(DRAIN_INTERVAL) {
        let drained = crate::vcpus::lock(console).drain(guest, give_up);
        if let Err(violation) = drained {
            fail(violation);
            return;
        }
    }
}

fn stdout() -> BorrowedFd<'static> {
    // SAFETY: descriptor 1 stays open for the monitor's lifetime (writes
    // to a closed one fail, and the bytes are dropped).
    unsafe { BorrowedFd::borrow_raw(libc::STDOUT_FILENO) }
}

fn stderr() -> BorrowedFd<'static> {
    // SAFETY: as for `stdout`.
    unsafe { BorrowedFd::borrow_raw(libc::STDERR_FILENO) }
}

/// Writes `bytes` to `fd`, waiting for it to be writable until `give_up`
/// returns true; then writes only what it takes at once. Returns the bytes
/// done with: written, or dropped because the stream is gone or broken (a
/// closed pipe, a full disk), which the guest could do nothing about.
fn write_host(fd: BorrowedFd<'_>, bytes: &[u8], give_up: &dyn Fn() -> bool) -> usize {
    let mut done = 0;
    while done < bytes.len() {
        let waiting = !give_up();
        if !writable(fd, if waiting { POLL_SLICE_MS } else { 0 }) {
            if waiting {
                continue;
            }
            break;
        }
        let chunk = &bytes[done..bytes.len().min(done + PIPE_BUF)];
        // SAFETY: writes from `chunk`, which is valid for its length.
        let written = unsafe { libc::write(fd.as_raw_fd(), chunk.as_ptr().cast(), chunk.len()) };
        match usize::try_from(written) {
            Ok(n) => done += n,
            Err(_) => match io::Error::last_os_error().kind() {
                io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock => {}
                _ => return bytes.len(),
            },
        }
    }
    done
}

/// Whether `fd` can be written to now, waiting up to `timeout_ms`. An
/// error state (a reader gone, a closed descriptor) counts as writable:
/// the write then fails at once and says why.
fn writable(fd: BorrowedFd<'_>, timeout_ms: libc::c_int) -> bool {
    let mut polled = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    let timeout = libc::timespec {
        tv_sec: 0,
        tv_nsec: libc::c_long::from(timeout_ms) * 1_000_000,
    };
    // SAFETY: one valid pollfd and a valid timespec; no signal mask.
    let ready = unsafe { libc::ppoll(&mut polled, 1, &timeout, std::ptr::null()) };
    ready > 0
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::os::fd::AsFd;
    use std::time::Instant;

    use super::*;

    #[test]
    fn a_stream_nobody_reads_holds_a_write_only_until_give_up() {
        let (mut reader, writer) = std::io::pipe().expect("pipe");
        let bytes = vec![b'x'; 1 << 20];
        let start = Instant::now();
        let deadline = start + Duration::from_millis(100);
        let done = write_host(writer.as_fd(), &bytes, &|| Instant::now() >= deadline);
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
        assert!(
            done > 0 && done < bytes.len(),
            "a pipe's worth, not all: {done}"
        );
        let mut got = vec![0; done];
        reader
            .read_exact(&mut got)
            .expect("what was written is there");
        drop(writer);
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).expect("read");
        assert!(rest.is_empty(), "nothing past what was counted");
    }

    #[test]
    fn a_stream_without_a_reader_drops_the_bytes_at_once() {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        assert_eq!(write_host(writer.as_fd(), b"lost\n", &|| false), 5);
    }
}
