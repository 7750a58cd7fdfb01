//! The device side of a split virtqueue (virtio 1.2, section 2.7).
//!
//! Every ring and descriptor lives in guest memory the guest may rewrite at
//! any time, so nothing read from it is trusted: the queue's own positions
//! (`next_avail`, `next_used`) are kept here, every index is reduced modulo
//! the queue size or range-checked, every descriptor's buffer is checked
//! against guest memory, and a chain longer than the queue (a loop) or
//! larger than a frame is refused. The device only runs while the vCPU is
//! stopped in an exit, so no memory barriers are needed on this side.

use kiln_abi::net::QUEUE_SIZE;

use crate::memory::{GuestAccessError, GuestMemory};

/// `VIRTQ_DESC_F_NEXT`: the chain continues at `next`.
const DESC_NEXT: u16 = 1;
/// `VIRTQ_DESC_F_WRITE`: the device writes this buffer.
const DESC_WRITE: u16 = 2;
/// `VIRTQ_DESC_F_INDIRECT`: a table of descriptors (not offered).
const DESC_INDIRECT: u16 = 4;

/// `VIRTQ_USED_F_NO_NOTIFY`: the driver need not notify the device.
const USED_NO_NOTIFY: u16 = 1;

/// The most bytes one chain may hold that the device reads or writes:
/// a 12-byte header and a 64 KiB frame, with room to spare.
pub const MAX_CHAIN_BYTES: u64 = 128 * 1024;

/// A queue's setup, as the driver wrote it to the registers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueSetup {
    /// Entries (`QueueNum`).
    pub size: u16,
    /// The descriptor table.
    pub desc: u64,
    /// The available ("driver") ring.
    pub driver: u64,
    /// The used ("device") ring.
    pub device: u64,
}

/// A queue the guest has set up wrongly or filled with garbage.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QueueError {
    /// `QueueNum` is 0, above the maximum or not a power of two.
    #[error("queue size {0} (must be a power of two up to {QUEUE_SIZE})")]
    BadSize(u16),
    /// A ring or table not aligned as the specification requires.
    #[error("{what} at {addr:#x} is not {align}-byte aligned")]
    Misaligned {
        /// Which area.
        what: &'static str,
        /// Its address.
        addr: u64,
        /// The alignment required.
        align: u64,
    },
    /// A ring, table or buffer outside guest memory.
    #[error("{what}: {error}")]
    Memory {
        /// Which area.
        what: &'static str,
        /// What was out of range.
        error: GuestAccessError,
    },
    /// The available ring's index ran more than a queue ahead.
    #[error("available index {avail} is more than {size} entries past {next}")]
    AvailOverrun {
        /// The guest's index.
        avail: u16,
        /// The device's position.
        next: u16,
        /// The queue size.
        size: u16,
    },
    /// A descriptor index past the table.
    #[error("descriptor index {index} is outside a table of {size}")]
    BadIndex {
        /// The index.
        index: u16,
        /// The queue size.
        size: u16,
    },
    /// A chain that visits more descriptors than the table has (a loop).
    #[error("descriptor chain from {head} is longer than the queue (a loop?)")]
    ChainLoop {
        /// The chain's head.
        head: u16,
    },
    /// A chain holding more bytes than any frame needs.
    #[error("descriptor chain from {head} holds more than {MAX_CHAIN_BYTES} bytes")]
    ChainTooLarge {
        /// The chain's head.
        head: u16,
    },
    /// An indirect descriptor, a feature the device does not offer.
    #[error("descriptor {index} is indirect, which was not negotiated")]
    Indirect {
        /// The descriptor.
        index: u16,
    },
    /// A buffer the device should write that is read-only, or the reverse.
    #[error("descriptor {index} is {found}; this queue's buffers must be {expected}")]
    Direction {
        /// The descriptor.
        index: u16,
        /// What it is.
        found: &'static str,
        /// What the queue needs.
        expected: &'static str,
    },
}

/// One buffer of a chain: guest-physical address and length, both checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Buffer {
    /// Guest-physical address.
    pub addr: u64,
    /// Bytes.
    pub len: u32,
}

/// A chain taken from the available ring.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Chain {
    /// Its head descriptor, which goes back in the used ring.
    pub head: u16,
    /// Its buffers in order.
    pub buffers: Vec<Buffer>,
    /// Their total length.
    pub len: u64,
}

/// One split virtqueue, ready for use.
#[derive(Debug)]
pub struct Queue {
    setup: QueueSetup,
    /// Buffers the device writes (receive) or reads (transmit).
    device_writes: bool,
    next_avail: u16,
    next_used: u16,
}

/// The raw descriptor (`struct virtq_desc`).
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
struct Descriptor {
    addr: u64,
    len: u32,
    flags: u16,
    next: u16,
}

// SAFETY: plain integers with no padding (8 + 4 + 2 + 2 bytes); any bit
// pattern is a valid value.
unsafe impl vm_memory::ByteValued for Descriptor {}

impl Queue {
    /// Checks `setup` (size, alignment, every ring inside guest memory)
    /// and starts the queue at position 0.
    pub fn new(
        memory: &GuestMemory,
        setup: QueueSetup,
        device_writes: bool,
    ) -> Result<Self, QueueError> {
        let size = setup.size;
        if size == 0 || size > QUEUE_SIZE || !size.is_power_of_two() {
            return Err(QueueError::BadSize(size));
        }
        let n = u64::from(size);
        for (what, addr, align, len) in [
            ("descriptor table", setup.desc, 16, 16 * n),
            ("available ring", setup.driver, 2, 6 + 2 * n),
            ("used ring", setup.device, 4, 6 + 8 * n),
        ] {
            if !addr.is_multiple_of(align) {
                return Err(QueueError::Misaligned { what, addr, align });
            }
            memory
                .check(addr, len)
                .map_err(|error| QueueError::Memory { what, error })?;
        }
        // The device looks for receive buffers at every exit, so a driver
        // that posts them need not spend an exit telling it; transmit
        // chains are carried out only on notification.
        let flags = if device_writes { USED_NO_NOTIFY } else { 0 };
        write(memory, flags, setup.device)?;
        Ok(Self {
            setup,
            device_writes,
            next_avail: 0,
            next_used: 0,
        })
    }

    /// Whether the driver has made a chain available that is not taken yet.
    pub fn has_available(&self, memory: &GuestMemory) -> Result<bool, QueueError> {
        Ok(self.avail_idx(memory)? != self.next_avail)
    }

    /// Takes the next available chain, checked, or `None` when the driver
    /// has made none available.
    pub fn pop(&mut self, memory: &GuestMemory) -> Result<Option<Chain>, QueueError> {
        let avail = self.avail_idx(memory)?;
        let pending = avail.wrapping_sub(self.next_avail);
        if pending == 0 {
            return Ok(None);
        }
        if pending > self.setup.size {
            return Err(QueueError::AvailOverrun {
                avail,
                next: self.next_avail,
                size: self.setup.size,
            });
        }
        let slot = u64::from(self.next_avail % self.setup.size);
        let head: u16 = read(memory, "available ring", self.setup.driver + 4 + 2 * slot)?;
        let chain = self.walk(memory, head)?;
        self.next_avail = self.next_avail.wrapping_add(1);
        Ok(Some(chain))
    }

    /// Puts the chain [`pop`](Self::pop) just returned back at the head of
    /// the available ring, unused.
    pub fn unpop(&mut self) {
        self.next_avail = self.next_avail.wrapping_sub(1);
    }

    /// Returns a chain to the driver with `written` bytes written into it.
    pub fn push_used(
        &mut self,
        memory: &GuestMemory,
        head: u16,
        written: u32,
    ) -> Result<(), QueueError> {
        let slot = u64::from(self.next_used % self.setup.size);
        let entry = self.setup.device + 4 + 8 * slot;
        write(memory, u32::from(head), entry)?;
        write(memory, written, entry + 4)?;
        self.next_used = self.next_used.wrapping_add(1);
        // The index last, so the driver never sees an entry half written
        // (it cannot run now, but this is the order the protocol defines).
        write(memory, self.next_used, self.setup.device + 2)
    }

    fn avail_idx(&self, memory: &GuestMemory) -> Result<u16, QueueError> {
        read(memory, "available ring", self.setup.driver + 2)
    }

    fn walk(&self, memory: &GuestMemory, head: u16) -> Result<Chain, QueueError> {
        let size = self.setup.size;
        let mut chain = Chain {
            head,
            ..Chain::default()
        };
        let mut index = head;
        loop {
            if index >= size {
                return Err(QueueError::BadIndex { index, size });
            }
            // A chain can name each descriptor at most once.
            if chain.buffers.len() >= usize::from(size) {
                return Err(QueueError::ChainLoop { head });
            }
            let desc: Descriptor = read(
                memory,
                "descriptor table",
                self.setup.desc + 16 * u64::from(index),
            )?;
            if desc.flags & DESC_INDIRECT != 0 {
                return Err(QueueError::Indirect { index });
            }
            let writable = desc.flags & DESC_WRITE != 0;
            if writable != self.device_writes {
                let name = |w: bool| if w { "device-writable" } else { "read-only" };
                return Err(QueueError::Direction {
                    index,
                    found: name(writable),
                    expected: name(self.device_writes),
                });
            }
            memory
                .check(desc.addr, u64::from(desc.len))
                .map_err(|error| QueueError::Memory {
                    what: "buffer",
                    error,
                })?;
            chain.len += u64::from(desc.len);
            if chain.len > MAX_CHAIN_BYTES {
                return Err(QueueError::ChainTooLarge { head });
            }
            chain.buffers.push(Buffer {
                addr: desc.addr,
                len: desc.len,
            });
            if desc.flags & DESC_NEXT == 0 {
                return Ok(chain);
            }
            index = desc.next;
        }
    }
}

fn read<T: vm_memory::ByteValued>(
    memory: &GuestMemory,
    what: &'static str,
    addr: u64,
) -> Result<T, QueueError> {
    memory
        .read_obj(addr)
        .map_err(|error| QueueError::Memory { what, error })
}

fn write<T: vm_memory::ByteValued>(
    memory: &GuestMemory,
    value: T,
    addr: u64,
) -> Result<(), QueueError> {
    memory
        .write_obj(value, addr)
        .map_err(|error| QueueError::Memory {
            what: "used ring",
            error,
        })
}
