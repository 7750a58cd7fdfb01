//! The guest's addressing on its network device, as the boot info gives
//! it and the stack is configured with, for `getifaddrs` and friends:
//! read without opening the device or the stack.

use core::net::Ipv4Addr;

use crate::platform;

/// The network device's interface: its hardware address and IPv4 network.
#[derive(Clone, Copy)]
pub struct Ethernet {
    /// The hardware (MAC) address.
    pub mac: [u8; 6],
    /// The guest's IPv4 address.
    pub address: Ipv4Addr,
    /// The network's prefix length (at most 32).
    pub prefix_len: u8,
}

/// The device's addressing, or `None` when the VM has no network device.
pub fn ethernet() -> Option<Ethernet> {
    let config = platform::boot_info().net;
    (config.mmio_base != 0).then(|| Ethernet {
        mac: config.mac,
        address: Ipv4Addr::from(config.ipv4),
        prefix_len: config.prefix_len.min(32),
    })
}
