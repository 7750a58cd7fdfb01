//! The virtio-net device as smoltcp's `phy::Device`: two `virtio-drivers`
//! virtqueues on the monitor's virtio-mmio window, driven in batches. In a
//! VM without one, the same `phy::Device` is the loopback alone: every
//! other frame has nowhere to go and is dropped (the socket layer refuses
//! such destinations first, with `ENETUNREACH`).
//!
//! Every exit costs ~30 µs here, so the device is rarely told about new
//! frames: the monitor sends what the transmit queue holds at every exit
//! the guest makes anyway (above all `Block`, when the program has nothing
//! left to do, and `Exit`). The stack asks for an exit of its own (a
//! `QueueNotify`, [`Device::kick`]) only when a busy program has not made
//! one for a while, and the device when its queue is full. Receive buffers
//! smoltcp has read are posted again together, and the monitor finds them
//! at its next exit without being told.
//!
//! Under a standard hypervisor (PVH) the device is QEMU's or Firecracker's
//! own virtio-net, which sees the transmit queue only when notified: the
//! stack notifies before the vCPU idles as well, and the platform's `Block`
//! looks at the receive queue while it waits. No interrupt is used.

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;
use core::net::Ipv4Addr;
use core::ptr::NonNull;

use kiln_abi::net::{NetConfig, QUEUE_SIZE};
use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use virtio_drivers::queue::VirtQueue;
use virtio_drivers::transport::mmio::{MmioTransport, VirtIOHeader};
use virtio_drivers::transport::{DeviceType, Transport};

use super::hal::Identity;
use super::loopback::Loopback;

bitflags::bitflags! {
    /// The feature bits Kiln's driver uses (virtio 1.x, 5.1.3).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct Features: u64 {
        /// The device has a MAC address (Kiln takes it from the boot info).
        const MAC = 1 << 5;
        /// The device reports its link status.
        const STATUS = 1 << 16;
        /// Virtio 1.x: the 12-byte header, little-endian rings.
        const VERSION_1 = 1 << 32;
    }
}

const RECEIVE: u16 = 0;
const TRANSMIT: u16 = 1;

/// Receive buffers kept posted: frames that can arrive between two polls.
const RX_BUFFERS: usize = 64;

/// Ethernet header bytes in front of the IP packet.
const ETHERNET_HEADER: usize = 14;

/// `virtio_net_hdr_v1`, in front of every frame in a buffer; all zero
/// both ways, since no offloads are negotiated.
const VIRTIO_HEADER: usize = 12;

/// The largest IP packet the guest sends or expects. A larger link MTU
/// would make every receive buffer larger; TCP peers follow the MSS this
/// gives, which is what matters for throughput here.
const MAX_MTU: usize = 1500;

/// The smallest MTU IPv4 allows.
const MIN_MTU: usize = 576;

/// `VIRTIO_NET_S_LINK_UP`, in the status word at config offset 6.
const LINK_UP: u16 = 1;

/// The longest a first socket call waits for the link to come up.
const LINK_WAIT_NS: u64 = 2_000_000_000;

/// Bytes of the register window the driver uses: the registers and the
/// network config space. QEMU's `microvm` windows have exactly this many;
/// Kiln's monitor's (`kiln_abi::net::MMIO_SIZE`) and Firecracker's more.
const WINDOW: usize = 0x200;

/// Bytes of a receive buffer: a header and the largest frame.
const BUFFER_LEN: usize = VIRTIO_HEADER + ETHERNET_HEADER + MAX_MTU;

type Queue = VirtQueue<Identity, { QUEUE_SIZE as usize }>;

/// The transmit side: what the transmit token needs.
struct Transmit {
    transport: MmioTransport<'static>,
    queue: Queue,
    /// Frames being transmitted, by token.
    in_flight: Vec<Option<Vec<u8>>>,
    /// Transmit buffers to reuse.
    spare: Vec<Vec<u8>>,
    /// Frames were queued since the last notify.
    unannounced: bool,
}

/// The virtio-net device's queues.
struct Nic {
    tx: Transmit,
    rx: Queue,
    /// Posted receive buffers, by the token the queue gave them.
    posted: Vec<Option<Box<[u8]>>>,
    /// Receive buffers smoltcp has read, to post again.
    recycled: Vec<Box<[u8]>>,
}

/// The network device, or the loopback alone.
pub struct Device {
    /// `None` in a VM without a network device.
    nic: Option<Nic>,
    /// Frames the guest sends itself.
    loopback: Loopback,
    mtu: usize,
}

/// The loopback's MTU without a device, Linux's `lo` one as far as IPv4
/// allows: a frame never leaves the guest, so no receive buffer bounds it,
/// and fewer, larger segments mean fewer passes of the stack.
const LOOPBACK_MTU: usize = 65535;

/// The MAC address the loopback-only interface answers its own ARP with
/// (smoltcp's Ethernet interface needs one): a locally administered one
/// nothing else sees.
pub const LOOPBACK_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 1];

impl Device {
    /// The device the monitor describes in `config`, or `None` when the VM
    /// has none (nothing is probed then) or it does not answer as a
    /// virtio 1.x network device.
    pub fn open(config: &NetConfig) -> Option<Self> {
        if config.mmio_base == 0 {
            return None;
        }
        let header = NonNull::new(config.mmio_base as *mut VirtIOHeader)?;
        // SAFETY: the platform maps the device's register window (at least
        // WINDOW bytes, header and config space) at `mmio_base` for the VM's
        // whole life; nothing else in the guest uses it.
        let mut transport = unsafe { MmioTransport::new(header, WINDOW) }.ok()?;
        if transport.device_type() != DeviceType::Network {
            return None;
        }
        let features = transport.begin_init(Features::MAC | Features::STATUS | Features::VERSION_1);
        if !features.contains(Features::VERSION_1) {
            return None;
        }
        let rx = Queue::new(&mut transport, RECEIVE, false, false).ok()?;
        let queue = Queue::new(&mut transport, TRANSMIT, false, false).ok()?;
        transport.finish_init();
        let mtu = match config.mtu as usize {
            0 => MAX_MTU,
            mtu => mtu.clamp(MIN_MTU, MAX_MTU),
        };
        let mut device = Self {
            nic: Some(Nic {
                tx: Transmit {
                    transport,
                    queue,
                    in_flight: (0..QUEUE_SIZE).map(|_| None).collect(),
                    spare: Vec::new(),
                    unannounced: false,
                },
                rx,
                posted: (0..QUEUE_SIZE).map(|_| None).collect(),
                recycled: (0..RX_BUFFERS)
                    .map(|_| vec![0; BUFFER_LEN].into_boxed_slice())
                    .collect(),
            }),
            loopback: Loopback::new(config.mac, config.ipv4.into()),
            mtu,
        };
        device.flush();
        if features.contains(Features::STATUS)
            && let Some(nic) = &mut device.nic
        {
            nic.wait_for_link();
        }
        Some(device)
    }

    /// The loopback alone, for a VM without a network device: the guest
    /// is 127.0.0.1 (and `::1`) and nothing else.
    pub fn loopback_only() -> Self {
        Self {
            nic: None,
            loopback: Loopback::new(LOOPBACK_MAC, Ipv4Addr::LOCALHOST),
            mtu: LOOPBACK_MTU,
        }
    }

    /// Whether frames can leave the guest (a network device exists).
    pub fn has_nic(&self) -> bool {
        self.nic.is_some()
    }

    /// Whether the monitor has put frames in receive buffers that the
    /// stack has not taken yet: a look at the used ring, in memory.
    pub fn frames_waiting(&self) -> bool {
        self.nic
            .as_ref()
            .is_some_and(|nic| nic.rx.peek_used().is_some())
    }
}

impl Nic {
    /// Blocks the vCPU until the link is up, or [`LINK_WAIT_NS`] passed.
    /// The monitor raises it once the host side serves (passt starts in
    /// ~10 ms): until then a published port may not be bound on the host,
    /// so a program that said it listens could not be reached. The program
    /// starts meanwhile; only its first socket call waits.
    fn wait_for_link(&mut self) {
        let now = || crate::clock::Instant::now().as_nanos_since_boot();
        let deadline = now().saturating_add(LINK_WAIT_NS);
        loop {
            let status = self.tx.transport.read_config_space::<u16>(6);
            if status.map_or(true, |status| status & LINK_UP != 0) || now() >= deadline {
                return;
            }
            // Ends early when a frame arrives (passt's first is the sign).
            crate::platform::block_until(deadline);
        }
    }

    /// Posts the receive buffers smoltcp has finished with again, and takes
    /// back the buffers of frames the monitor has sent.
    fn flush(&mut self) {
        let mut posted = false;
        while let Some(mut buffer) = self.recycled.pop() {
            // SAFETY: the buffer is kept in `posted` under its token,
            // untouched, until the device has used it (`receive`).
            match unsafe { self.rx.add(&[], &mut [&mut buffer]) } {
                Ok(token) => {
                    self.posted[usize::from(token)] = Some(buffer);
                    posted = true;
                }
                Err(_) => {
                    self.recycled.push(buffer);
                    break;
                }
            }
        }
        if posted && self.rx.should_notify() {
            self.tx.transport.notify(RECEIVE);
        }
        self.tx.reclaim();
    }

    /// Whether the transmit queue takes a frame, after sending what it
    /// holds if it was full.
    fn room(&mut self) -> bool {
        if self.tx.queue.available_desc() == 0 {
            self.tx.announce();
        }
        self.tx.queue.available_desc() > 0
    }

    /// The next frame the monitor delivered. A frame dropped here is
    /// skipped, not reported as the end: the frames behind it would wait,
    /// unseen, while the vCPU blocks.
    fn receive(&mut self) -> Option<(Box<[u8]>, usize)> {
        loop {
            let token = self.rx.peek_used()?;
            let mut buffer = self.posted.get_mut(usize::from(token))?.take()?;
            // SAFETY: the buffer `add` was given for this token.
            let used = unsafe { self.rx.pop_used(token, &[], &mut [&mut buffer]) };
            match used.map(|len| len as usize) {
                Ok(len)
                    if (VIRTIO_HEADER..=buffer.len()).contains(&len)
                        && !Loopback::martian(&buffer[VIRTIO_HEADER..len]) =>
                {
                    return Some((buffer, len));
                }
                // A used length the buffer cannot hold (a monitor bug), or
                // a frame claiming a loopback address: dropped, the buffer
                // reused.
                _ => self.recycled.push(buffer),
            }
        }
    }
}

impl Device {
    /// Posts the receive buffers smoltcp has finished with again, and takes
    /// back the buffers of frames the monitor has sent.
    pub fn flush(&mut self) {
        if let Some(nic) = &mut self.nic {
            nic.flush();
        }
    }

    /// Sends the frames queued so far now (an exit), rather than with the
    /// guest's next exit.
    pub fn kick(&mut self) {
        if let Some(nic) = &mut self.nic {
            nic.tx.announce();
        }
    }

    /// Frames the guest sent itself wait to be received.
    pub fn has_looped(&self) -> bool {
        !self.loopback.is_empty()
    }

    /// Room for a frame that goes to the network whatever its destination
    /// (the guest announcing its own address).
    pub fn transmit_outside(&mut self) -> Option<TxToken<'_>> {
        let nic = self.nic.as_mut()?;
        nic.room().then_some(TxToken {
            tx: Some(&mut nic.tx),
            loopback: None,
        })
    }
}

impl Transmit {
    /// Notifies the transmit queue of the frames queued since the last
    /// time, and takes back the buffers of those sent.
    fn announce(&mut self) {
        if core::mem::take(&mut self.unannounced) && self.queue.should_notify() {
            self.transport.notify(TRANSMIT);
        }
        self.reclaim();
    }

    /// Takes back the buffers of the frames the monitor has sent (at any
    /// exit): when it has sent them all, none waits for a notify.
    fn reclaim(&mut self) {
        while let Some(token) = self.queue.peek_used() {
            let Some(buffer) = self
                .in_flight
                .get_mut(usize::from(token))
                .and_then(Option::take)
            else {
                return;
            };
            // SAFETY: the buffer `add` was given for this token.
            let _ = unsafe { self.queue.pop_used(token, &[&buffer], &mut []) };
            self.spare.push(buffer);
        }
        if self.queue.available_desc() == usize::from(QUEUE_SIZE) {
            self.unannounced = false;
        }
    }
}

impl phy::Device for Device {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        if let Some(frame) = self.loopback.pop() {
            let tx = TxToken {
                tx: self.nic.as_mut().map(|nic| &mut nic.tx),
                loopback: Some(&mut self.loopback),
            };
            return Some((RxToken::Looped(frame), tx));
        }
        let nic = self.nic.as_mut()?;
        let (buffer, len) = nic.receive()?;
        // The frame's answer (an ACK, a SYN-ACK) goes through the token
        // returned with it: make room for it, or it would be dropped.
        if nic.tx.queue.available_desc() == 0 {
            nic.tx.announce();
        }
        Some((
            RxToken::Device {
                buffer,
                len,
                recycled: &mut nic.recycled,
            },
            TxToken {
                tx: Some(&mut nic.tx),
                loopback: Some(&mut self.loopback),
            },
        ))
    }

    fn transmit(&mut self, _now: Instant) -> Option<TxToken<'_>> {
        let tx = match &mut self.nic {
            // Full: send what is queued now rather than stall the poll.
            Some(nic) => Some(nic.room().then_some(&mut nic.tx)?),
            None => None,
        };
        Some(TxToken {
            tx,
            loopback: Some(&mut self.loopback),
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
pub enum RxToken<'a> {
    /// From the device, in a receive buffer.
    Device {
        buffer: Box<[u8]>,
        /// Bytes the device wrote, header included.
        len: usize,
        recycled: &'a mut Vec<Box<[u8]>>,
    },
    /// One the guest sent itself.
    Looped(Vec<u8>),
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        match self {
            Self::Device {
                buffer,
                len,
                recycled,
            } => {
                let result = f(&buffer[VIRTIO_HEADER..len]);
                recycled.push(buffer);
                result
            }
            Self::Looped(frame) => f(&frame),
        }
    }
}

/// Room to queue a frame.
pub struct TxToken<'a> {
    /// The device's transmit queue; `None` without a device, where only
    /// frames the loopback takes go anywhere.
    tx: Option<&'a mut Transmit>,
    /// Where frames for the guest itself go; `None` sends every frame out.
    loopback: Option<&'a mut Loopback>,
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let Some(tx) = self.tx else {
            let mut frame = vec![0; len];
            let result = f(&mut frame);
            if let Some(loopback) = self.loopback {
                loopback.take(&frame);
            }
            return result;
        };
        let mut buffer = tx.spare.pop().unwrap_or_default();
        buffer.clear();
        buffer.resize(VIRTIO_HEADER + len, 0);
        let result = f(&mut buffer[VIRTIO_HEADER..]);
        if let Some(loopback) = self.loopback
            && loopback.take(&buffer[VIRTIO_HEADER..])
        {
            tx.spare.push(buffer);
            return result;
        }
        // SAFETY: the buffer is kept in `in_flight` under its token,
        // untouched, until the device has used it (`announce`).
        match unsafe { tx.queue.add(&[&buffer], &mut []) } {
            Ok(token) => {
                tx.in_flight[usize::from(token)] = Some(buffer);
                tx.unannounced = true;
            }
            // Cannot happen (`transmit` and `receive` make room); a NIC
            // would drop the frame, and TCP sends it again.
            Err(_) => tx.spare.push(buffer),
        }
        result
    }
}
