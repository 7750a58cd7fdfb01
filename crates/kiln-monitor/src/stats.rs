//! Live counters of a running VM, for `kiln stats`.
//!
//! The monitor publishes them in a small file it maps before the seccomp
//! filter goes on, and updates with plain memory writes: the run loop makes
//! no system call for them. Readers ([`read`]) see the page cache's copy.
//! The file holds little-endian `u64`s: a magic number, the VM exits by
//! kind ([`EXIT_KINDS`] order), console bytes (stdout, stderr), volume
//! bytes (read, written), network bytes (received, sent by the guest), and
//! each vCPU's host thread id (0: not running), from which a reader gets
//! each vCPU's CPU time (`/proc/PID/task/TID/stat`) without the run loop
//! ever asking the kernel for it.

use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use memmap2::MmapMut;

/// The kinds of VM exit counted, in the file's order.
pub const EXIT_KINDS: [&str; 18] = [
    "console write",
    "exit",
    "block",
    "panic",
    "trap",
    "file",
    "unknown hypercall",
    "io (unknown port)",
    "signal",
    "shutdown",
    "internal error",
    "other",
    "net register read",
    "net register write",
    "stdin read",
    "grow memory",
    "start vcpu",
    "wake vcpu",
];

const MAGIC: u64 = u64::from_le_bytes(*b"KILNSTAT");
const CONSOLE: usize = 1 + EXIT_KINDS.len();
const VOLUME: usize = CONSOLE + 2;
const NET: usize = VOLUME + 2;
const VCPU_THREADS: usize = NET + 2;
const SLOTS: usize = VCPU_THREADS + kiln_abi::boot::MAX_VCPUS;

/// The counters, published to a file or kept only in memory.
pub struct LiveStats {
    map: Option<MmapMut>,
}

impl LiveStats {
    /// Counters published at `path` (created or reset), or nowhere.
    pub fn publish(path: Option<&Path>) -> io::Result<Self> {
        let Some(path) = path else {
            return Ok(Self { map: None });
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            // Private as everything in the state directory.
            .mode(0o600)
            .open(path)?;
        file.set_len((SLOTS * 8) as u64)?;
        // SAFETY: the file is this monitor's own (a fresh, truncated file in
        // the instance directory); readers only read it.
        let map = unsafe { MmapMut::map_mut(&file)? };
        let stats = Self { map: Some(map) };
        stats.slot(0).inspect(|s| s.store(MAGIC, Ordering::Relaxed));
        Ok(stats)
    }

    fn slot(&self, index: usize) -> Option<&AtomicU64> {
        let map = self.map.as_ref()?;
        let bytes = map.get(index * 8..index * 8 + 8)?;
        // SAFETY: the mapping is page-aligned and `index * 8` a multiple of
        // 8, so the pointer is aligned for a u64; the bytes stay mapped as
        // long as `self`, and only atomic accesses touch them here.
        Some(unsafe { AtomicU64::from_ptr(bytes.as_ptr().cast_mut().cast()) })
    }

    fn add(&self, index: usize, n: u64) {
        if let Some(slot) = self.slot(index) {
            slot.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Counts one exit of `kind` (one of [`EXIT_KINDS`]).
    pub fn exit(&self, kind: &str) {
        if let Some(at) = EXIT_KINDS.iter().position(|k| *k == kind) {
            self.add(1 + at, 1);
        }
    }

    /// Counts console bytes on stream 0 (stdout) or 1 (stderr).
    pub fn console(&self, stream: usize, bytes: u64) {
        self.add(CONSOLE + stream.min(1), bytes);
    }

    /// Counts volume bytes read or written.
    pub fn volume(&self, written: bool, bytes: u64) {
        self.add(VOLUME + usize::from(written), bytes);
    }

    /// Publishes the host thread that runs vCPU `index`.
    pub fn vcpu_thread(&self, index: u32, tid: libc::pid_t) {
        if let Some(slot) = self.slot(VCPU_THREADS + index as usize) {
            slot.store(u64::from(tid.cast_unsigned()), Ordering::Relaxed);
        }
    }

    /// Publishes the network device's totals: frame bytes the guest
    /// received and sent.
    pub fn network(&self, totals: [u64; 2]) {
        for (i, total) in totals.into_iter().enumerate() {
            if let Some(slot) = self.slot(NET + i) {
                slot.store(total, Ordering::Relaxed);
            }
        }
    }
}

/// What a stats file says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Exits by kind, in [`EXIT_KINDS`] order.
    pub exits: Vec<(&'static str, u64)>,
    /// Console bytes: stdout, stderr.
    pub console: [u64; 2],
    /// Volume bytes: read, written.
    pub volume: [u64; 2],
    /// Network frame bytes: received, sent (by the guest).
    pub network: [u64; 2],
    /// The host threads of the running vCPUs: (vCPU, thread id).
    pub vcpu_threads: Vec<(u32, u32)>,
}

/// Reads the counters a monitor publishes at `path`.
pub fn read(path: &Path) -> io::Result<Snapshot> {
    let bytes = std::fs::read(path)?;
    let value = |index: usize| -> Option<u64> {
        let slot = bytes.get(index * 8..index * 8 + 8)?;
        Some(u64::from_le_bytes(slot.try_into().ok()?))
    };
    if value(0) != Some(MAGIC) || bytes.len() < SLOTS * 8 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a Kiln stats file",
        ));
    }
    let at = |index| value(index).unwrap_or(0);
    Ok(Snapshot {
        exits: EXIT_KINDS
            .iter()
            .enumerate()
            .map(|(i, kind)| (*kind, at(1 + i)))
            .collect(),
        console: [at(CONSOLE), at(CONSOLE + 1)],
        volume: [at(VOLUME), at(VOLUME + 1)],
        network: [at(NET), at(NET + 1)],
        vcpu_threads: (0..kiln_abi::boot::MAX_VCPUS as u32)
            .filter_map(|index| {
                let tid = u32::try_from(at(VCPU_THREADS + index as usize)).ok()?;
                (tid != 0).then_some((index, tid))
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_written_are_read_back() {
        let path = std::env::temp_dir().join(format!("kiln-stats-{}", std::process::id()));
        let stats = LiveStats::publish(Some(&path)).expect("publish");
        stats.exit("console write");
        stats.exit("console write");
        stats.exit("block");
        stats.exit("no such kind");
        stats.console(0, 12);
        stats.volume(true, 4096);
        stats.network([1514, 60]);
        stats.network([3028, 120]);
        stats.vcpu_thread(0, 4321);
        stats.vcpu_thread(2, 4323);
        let snapshot = read(&path).expect("read");
        assert_eq!(snapshot.exits[0], ("console write", 2));
        assert_eq!(snapshot.exits[2], ("block", 1));
        assert_eq!(snapshot.exits.iter().map(|e| e.1).sum::<u64>(), 3);
        assert_eq!((snapshot.console, snapshot.volume), ([12, 0], [0, 4096]));
        assert_eq!(snapshot.network, [3028, 120], "totals, not sums");
        assert_eq!(snapshot.vcpu_threads, [(0, 4321), (2, 4323)]);
        std::fs::write(&path, b"garbage").expect("write");
        assert!(read(&path).is_err());
    }
}
