//! The network device: virtio-net over the virtio-mmio transport.
//!
//! A VM with networking (`kiln run -p ...` or `--net ...`) has one
//! virtio-net device (virtio 1.x, "modern" virtio-mmio, version 2) whose
//! register window is at [`MMIO_BASE`], described in the boot info's
//! [`NetConfig`]. The guest drives it with an ordinary virtio driver; only
//! the way it waits is Kiln's:
//!
//! - there are no interrupts: the guest processes its queues when it runs;
//! - the monitor carries out the transmit queue when the guest writes
//!   `QueueNotify` for it, and fills receive buffers whenever the guest
//!   exits (any hypercall or register access) and frames are waiting;
//! - the `Block` hypercall returns when its deadline passes **or** a frame
//!   has been put in a receive buffer, so an idle guest wakes for traffic.
//!
//! Queues: 0 receive, 1 transmit, at most [`QUEUE_SIZE`] entries each.
//! Features offered: `VIRTIO_F_VERSION_1` and `VIRTIO_NET_F_MAC`; every
//! buffer starts with the 12-byte `virtio_net_hdr_v1` (all zero: no
//! offloads). Addresses in the queues are guest-physical (identity-mapped)
//! and checked by the monitor like any hypercall argument.

/// Guest-physical address of the device's register window, just above the
/// largest guest memory (so it never overlaps RAM). The monitor maps it
/// into the guest's page tables (uncached, not executable) when the device
/// exists.
pub const MMIO_BASE: u64 = 4 << 30;

/// Bytes of the register window.
pub const MMIO_SIZE: u64 = 0x1000;

/// The most entries in each queue.
pub const QUEUE_SIZE: u16 = 256;

/// The network's addressing, chosen by the monitor (and its backend).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetConfig {
    /// The register window's guest-physical address; 0 when the VM has no
    /// network device.
    pub mmio_base: u64,
    /// The guest's MAC address (also in the device's config space).
    pub mac: [u8; 6],
    /// Prefix length of the guest's IPv4 network.
    pub prefix_len: u8,
    /// Zero.
    pub reserved: u8,
    /// The guest's IPv4 address.
    pub ipv4: [u8; 4],
    /// The IPv4 gateway.
    pub gateway: [u8; 4],
    /// The DNS server (IPv4), or all zero for none.
    pub dns: [u8; 4],
    /// The link MTU.
    pub mtu: u32,
}

const _: () = assert!(core::mem::size_of::<NetConfig>() == 32);
