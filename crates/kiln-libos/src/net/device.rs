//! The virtio-net device as smoltcp's `phy::Device`: the `virtio-drivers`
//! crate's raw queue API on the monitor's virtio-mmio window.
//!
//! Receive buffers are posted once and re-posted after smoltcp has read
//! them; every frame the monitor has put in them is taken in one poll.
//! Transmitted frames complete as soon as the monitor has seen the
//! `QueueNotify`, so their buffers are reclaimed right away and reused.

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;
use core::ptr::NonNull;

use kiln_abi::net::{MMIO_SIZE, NetConfig, QUEUE_SIZE};
use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use virtio_drivers::device::net::VirtIONetRaw;
use virtio_drivers::transport::mmio::{MmioTransport, VirtIOHeader};
use virtio_drivers::transport::{DeviceType, Transport};

use super::hal::Identity;

/// Receive buffers kept posted: frames that can arrive between two polls.
const RX_BUFFERS: usize = 64;

/// Ethernet header bytes in front of the IP packet.
const ETHERNET_HEADER: usize = 14;

/// `virtio_net_hdr_v1`, in front of every frame in a buffer.
const VIRTIO_HEADER: usize = 12;

/// The largest IP packet the guest sends or expects. A larger link MTU
/// would make every receive buffer larger; TCP peers follow the MSS this
/// gives, which is what matters for throughput here.
const MAX_MTU: usize = 1500;

/// The smallest MTU IPv4 allows.
const MIN_MTU: usize = 576;

type Raw = VirtIONetRaw<Identity, MmioTransport<'static>, { QUEUE_SIZE as usize }>;

/// The queues and the buffers the device holds.
struct Queues {
    raw: Raw,
    /// Posted receive buffers, by the token the driver gave them.
    rx: Vec<Option<Box<[u8]>>>,
    /// Frames being transmitted, by token.
    tx: Vec<Option<Vec<u8>>>,
    /// Transmit buffers to reuse.
    spare: Vec<Vec<u8>>,
}

/// The network device.
pub struct Device {
    queues: Queues,
    /// Receive buffers smoltcp has read, to post again.
    recycled: Vec<Box<[u8]>>,
    mtu: usize,
}

impl Device {
    /// The device the monitor describes in `config`, or `None` when the VM
    /// has none (nothing is probed then) or it does not answer as a
    /// virtio-net device.
    pub fn open(config: &NetConfig) -> Option<Self> {
        if config.mmio_base == 0 {
            return None;
        }
        let header = NonNull::new(config.mmio_base as *mut VirtIOHeader)?;
        // SAFETY: the monitor maps the device's register window (MMIO_SIZE
        // bytes, header and config space) at `mmio_base` for the VM's whole
        // life; nothing else in the guest uses it.
        let transport = unsafe { MmioTransport::new(header, MMIO_SIZE as usize) }.ok()?;
        if transport.device_type() != DeviceType::Network {
            return None;
        }
        let raw = Raw::new(transport).ok()?;
        let mtu = match config.mtu as usize {
            0 => MAX_MTU,
            mtu => mtu.clamp(MIN_MTU, MAX_MTU),
        };
        let mut device = Self {
            queues: Queues {
                raw,
                rx: (0..QUEUE_SIZE).map(|_| None).collect(),
                tx: (0..QUEUE_SIZE).map(|_| None).collect(),
                spare: Vec::new(),
            },
            recycled: (0..RX_BUFFERS)
                .map(|_| vec![0; Self::buffer_len()].into_boxed_slice())
                .collect(),
            mtu,
        };
        device.repost();
        Some(device)
    }

    /// Bytes of a receive buffer: a header and the largest frame.
    fn buffer_len() -> usize {
        VIRTIO_HEADER + ETHERNET_HEADER + MAX_MTU
    }

    /// Hands the buffers smoltcp has finished with back to the device.
    pub fn repost(&mut self) {
        while let Some(mut buffer) = self.recycled.pop() {
            // SAFETY: the buffer is kept in `rx` under its token, untouched,
            // until the device has used it (`receive`).
            match unsafe { self.queues.raw.receive_begin(&mut buffer) } {
                Ok(token) => self.queues.rx[usize::from(token)] = Some(buffer),
                Err(_) => {
                    self.recycled.push(buffer);
                    return;
                }
            }
        }
    }
}

impl Queues {
    /// Takes back the buffers of frames the device has sent.
    fn reap(&mut self) {
        while let Some(token) = self.raw.poll_transmit() {
            let Some(buffer) = self.tx.get_mut(usize::from(token)).and_then(Option::take) else {
                return;
            };
            // SAFETY: the buffer `transmit_begin` was given for this token.
            let _ = unsafe { self.raw.transmit_complete(token, &buffer) };
            self.spare.push(buffer);
        }
    }
}

impl phy::Device for Device {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        let Self {
            queues, recycled, ..
        } = self;
        let token = queues.raw.poll_receive()?;
        let mut buffer = queues.rx.get_mut(usize::from(token))?.take()?;
        // SAFETY: the buffer `receive_begin` was given for this token.
        match unsafe { queues.raw.receive_complete(token, &mut buffer) } {
            Ok((start, len)) if start + len <= buffer.len() => Some((
                RxToken {
                    buffer,
                    start,
                    len,
                    recycled,
                },
                TxToken { queues },
            )),
            // A used length the buffer cannot hold (a monitor bug): the
            // frame is dropped, the buffer reused.
            _ => {
                recycled.push(buffer);
                None
            }
        }
    }

    fn transmit(&mut self, _now: Instant) -> Option<TxToken<'_>> {
        self.queues.reap();
        self.queues.raw.can_send().then_some(TxToken {
            queues: &mut self.queues,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = self.mtu + ETHERNET_HEADER;
        caps
    }
}

/// A received frame.
pub struct RxToken<'a> {
    buffer: Box<[u8]>,
    start: usize,
    len: usize,
    recycled: &'a mut Vec<Box<[u8]>>,
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let result = f(&self.buffer[self.start..self.start + self.len]);
        self.recycled.push(self.buffer);
        result
    }
}

/// Room to send a frame.
pub struct TxToken<'a> {
    queues: &'a mut Queues,
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let queues = self.queues;
        let mut buffer = queues.spare.pop().unwrap_or_default();
        buffer.clear();
        buffer.resize(VIRTIO_HEADER + len, 0);
        let result = f(&mut buffer[VIRTIO_HEADER..]);
        // The header stays all zero: no offloads were negotiated. A full
        // queue drops the frame, as a NIC would; TCP sends it again.
        // SAFETY: the buffer is kept in `tx` under its token, untouched,
        // until the device has used it (`reap`).
        if let Ok(token) = unsafe { queues.raw.transmit_begin(&buffer) } {
            queues.tx[usize::from(token)] = Some(buffer);
        } else {
            queues.spare.push(buffer);
        }
        queues.reap();
        result
    }
}
