//! The virtio-mmio register file (virtio 1.2, section 4.2.2), version 2.
//!
//! Registers are 32-bit and must be accessed as aligned 4-byte reads or
//! writes; the device-specific configuration (the MAC address and the
//! link status) may be read at any width. Accesses the specification does not define (an unknown
//! offset, a write to a read-only register, a wrong width) are
//! [`Misuse`]: the device cannot guess what a driver meant, and a clear
//! stop beats a guest that hangs waiting for a device that ignored it.

use kiln_abi::net::QUEUE_SIZE;

use super::queue::QueueSetup;

/// "virt", little-endian.
const MAGIC: u32 = 0x7472_6976;
/// The modern (virtio 1.x) transport.
const VERSION: u32 = 2;
/// Device type 1: network card.
const DEVICE_NET: u32 = 1;
/// The vendor id: "KILN" would do; QEMU's is "QEMU". Drivers ignore it.
const VENDOR: u32 = 0x4e4c_494b;

/// `VIRTIO_NET_F_MAC`: the config space holds the MAC address.
const F_MAC: u64 = 1 << 5;
/// `VIRTIO_NET_F_STATUS`: the config space holds the link status.
const F_STATUS: u64 = 1 << 16;
/// `VIRTIO_F_VERSION_1`: the modern interface, required by this transport.
const F_VERSION_1: u64 = 1 << 32;
/// What the device offers.
pub const FEATURES: u64 = F_VERSION_1 | F_MAC | F_STATUS;

/// `VIRTIO_NET_S_LINK_UP` in the config space's status word (offset 6).
const LINK_UP: u8 = 1;

/// Device status bits the device itself looks at.
pub const STATUS_FEATURES_OK: u32 = 8;
/// The driver is ready; queues may be used.
pub const STATUS_DRIVER_OK: u32 = 4;

/// Number of queues: receive (0) and transmit (1).
pub const QUEUES: usize = 2;

/// Where the device-specific configuration starts.
const CONFIG: u64 = 0x100;

/// An access the register file does not accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a {size}-byte {kind} at register offset {offset:#x} {why}")]
pub struct Misuse {
    /// Offset in the window.
    pub offset: u64,
    /// Access width.
    pub size: usize,
    /// "read" or "write".
    pub kind: &'static str,
    /// What is wrong with it.
    pub why: &'static str,
}

/// What a register write asks of the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing beyond the stored value.
    None,
    /// `QueueNotify` with this queue index.
    Notify(u32),
    /// The driver set `QueueReady` for this queue: check and start it.
    Start(usize),
    /// The driver wrote 0 to `Status`: forget everything.
    Reset,
}

/// The registers' state.
#[derive(Clone, Debug, Default)]
pub struct Registers {
    device_features_sel: u32,
    driver_features_sel: u32,
    /// The features the driver accepted.
    pub driver_features: u64,
    queue_sel: u32,
    /// Each queue's setup and whether it is ready.
    pub queues: [(QueueSetup, bool); QUEUES],
    /// `Status`.
    pub status: u32,
    /// The MAC address and the link status word.
    config: [u8; 8],
    /// `ConfigGeneration`: changes with the configuration (the link).
    generation: u32,
}

impl Registers {
    /// A freshly reset device with `mac` in its configuration.
    pub fn new(mac: [u8; 6]) -> Self {
        let mut config = [0; 8];
        config[..6].copy_from_slice(&mac);
        Self {
            config,
            ..Self::default()
        }
    }

    /// Resets every register but the configuration.
    pub fn reset(&mut self) {
        *self = Self {
            config: self.config,
            generation: self.generation,
            ..Self::default()
        };
    }

    /// Sets the link status the driver reads.
    pub fn set_link(&mut self, up: bool) {
        let status = if up { LINK_UP } else { 0 };
        if self.config[6] != status {
            self.config[6] = status;
            self.generation = self.generation.wrapping_add(1);
        }
    }

    /// Serves a read of `data.len()` bytes at `offset`.
    pub fn read(&self, offset: u64, data: &mut [u8]) -> Result<(), Misuse> {
        let misuse = |why| Misuse {
            offset,
            size: data.len(),
            kind: "read",
            why,
        };
        if offset >= CONFIG {
            let start = offset - CONFIG;
            for (i, byte) in data.iter_mut().enumerate() {
                // Past the status word reads as zero.
                *byte = usize::try_from(start)
                    .ok()
                    .and_then(|s| s.checked_add(i))
                    .and_then(|at| self.config.get(at))
                    .copied()
                    .unwrap_or(0);
            }
            return Ok(());
        }
        check_register(offset, data.len()).map_err(misuse)?;
        let queue = self.selected();
        let value = match offset {
            0x000 => MAGIC,
            0x004 => VERSION,
            0x008 => DEVICE_NET,
            0x00c => VENDOR,
            0x010 => match self.device_features_sel {
                0 => FEATURES as u32,
                1 => (FEATURES >> 32) as u32,
                _ => 0,
            },
            // 0 means "no such queue", which is what a driver must see.
            0x034 => queue.map_or(0, |_| u32::from(QUEUE_SIZE)),
            0x044 => queue.map_or(0, |q| u32::from(q.1)),
            // No interrupts, so nothing ever pends.
            0x060 => 0,
            0x070 => self.status,
            0x0fc => self.generation,
            _ => return Err(misuse("is not a readable register")),
        };
        data.copy_from_slice(&value.to_le_bytes());
        Ok(())
    }

    /// Serves a write of `data` at `offset`.
    pub fn write(&mut self, offset: u64, data: &[u8]) -> Result<Action, Misuse> {
        let misuse = |why| Misuse {
            offset,
            size: data.len(),
            kind: "write",
            why,
        };
        check_register(offset, data.len()).map_err(misuse)?;
        let value = u32::from_le_bytes(data.try_into().map_err(|_| misuse("is not 4 bytes"))?);
        let sel = self.queue_sel as usize;
        match offset {
            0x014 => self.device_features_sel = value,
            0x020 => {
                let shift = match self.driver_features_sel {
                    0 => 0,
                    1 => 32,
                    _ => return Ok(Action::None),
                };
                self.driver_features =
                    (self.driver_features & !(0xffff_ffff << shift)) | (u64::from(value) << shift);
            }
            0x024 => self.driver_features_sel = value,
            0x030 => self.queue_sel = value,
            0x050 => return Ok(Action::Notify(value)),
            // Nothing to acknowledge without interrupts.
            0x064 => {}
            0x070 => {
                if value == 0 {
                    return Ok(Action::Reset);
                }
                let mut status = value;
                // The device accepts only features it offered, and needs
                // the modern interface; otherwise FEATURES_OK does not stick
                // and the driver knows to give up.
                if self.driver_features & !FEATURES != 0 || self.driver_features & F_VERSION_1 == 0
                {
                    status &= !STATUS_FEATURES_OK;
                }
                self.status = status;
            }
            0x038 | 0x044 | 0x080 | 0x084 | 0x090 | 0x094 | 0x0a0 | 0x0a4 => {
                let Some((setup, ready)) = self.queues.get_mut(sel) else {
                    return Err(misuse("configures a queue that does not exist"));
                };
                if offset == 0x044 {
                    return Ok(match (value != 0, *ready) {
                        (true, false) => Action::Start(sel),
                        (false, _) => {
                            *ready = false;
                            Action::None
                        }
                        (true, true) => Action::None,
                    });
                }
                if *ready {
                    return Err(misuse("changes a queue that is in use"));
                }
                let low = |field: &mut u64| *field = (*field & !0xffff_ffff) | u64::from(value);
                let high = |field: &mut u64| {
                    *field = (*field & 0xffff_ffff) | (u64::from(value) << 32);
                };
                match offset {
                    0x038 => setup.size = u16::try_from(value).unwrap_or(u16::MAX),
                    0x080 => low(&mut setup.desc),
                    0x084 => high(&mut setup.desc),
                    0x090 => low(&mut setup.driver),
                    0x094 => high(&mut setup.driver),
                    0x0a0 => low(&mut setup.device),
                    _ => high(&mut setup.device),
                }
            }
            _ => return Err(misuse("is not a writable register")),
        }
        Ok(Action::None)
    }

    /// Marks queue `index` ready.
    pub fn set_ready(&mut self, index: usize) {
        if let Some(queue) = self.queues.get_mut(index) {
            queue.1 = true;
        }
    }

    fn selected(&self) -> Option<&(QueueSetup, bool)> {
        self.queues.get(self.queue_sel as usize)
    }
}

fn check_register(offset: u64, size: usize) -> Result<(), &'static str> {
    if size != 4 {
        return Err("is not 4 bytes (registers are 32-bit)");
    }
    if !offset.is_multiple_of(4) {
        return Err("is not 4-byte aligned");
    }
    Ok(())
}
