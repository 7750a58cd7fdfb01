//! What a VM's network is: the backend and the guest's addressing.

use std::net::{IpAddr, Ipv4Addr};

use kiln_abi::net::{MMIO_BASE, NetConfig};

/// A VM's network device, as `kiln run` asks for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetSpec {
    /// Where frames go.
    pub backend: BackendSpec,
    /// The guest's addresses.
    pub addressing: Addressing,
}

/// The host side of the link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackendSpec {
    /// User-mode networking through a `passt` child (rootless), with these
    /// host ports forwarded to the guest.
    Passt {
        /// The published ports.
        forwards: Vec<PortForward>,
    },
    /// Published ports only, forwarded by a thread of the monitor (see
    /// [`crate::net::ports`]); the guest reaches nothing else.
    Ports {
        /// The published ports.
        forwards: Vec<PortForward>,
    },
    /// An existing TAP device.
    Tap {
        /// Its interface name.
        name: String,
    },
}

/// A transport protocol of a published port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

/// One published port: host address and port to guest port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortForward {
    /// The host address to listen on; all addresses when `None`.
    pub host_ip: Option<IpAddr>,
    /// The host port.
    pub host_port: u16,
    /// The guest port.
    pub guest_port: u16,
    /// TCP or UDP.
    pub protocol: Protocol,
}

impl PortForward {
    /// passt's `-t`/`-u` spec: `[ADDR/]HOST_PORT:GUEST_PORT`.
    pub fn passt_spec(&self) -> String {
        match self.host_ip {
            Some(ip) => format!("{ip}/{}:{}", self.host_port, self.guest_port),
            None => format!("{}:{}", self.host_port, self.guest_port),
        }
    }
}

/// The guest's IPv4 addressing and link parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Addressing {
    /// The device's MAC address.
    pub mac: [u8; 6],
    /// The guest's address.
    pub ipv4: Ipv4Addr,
    /// Its network's prefix length.
    pub prefix_len: u8,
    /// The default gateway.
    pub gateway: Ipv4Addr,
    /// The DNS server, if any.
    pub dns: Option<Ipv4Addr>,
    /// The link MTU.
    pub mtu: u32,
}

/// The MAC address QEMU's user networking gives its first NIC; a locally
/// administered address, so it never collides with real hardware.
pub const DEFAULT_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

/// The address passt answers DNS at in user mode (QEMU's well-known one).
pub const PASST_DNS: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 3);

impl Addressing {
    /// User mode's fixed network, QEMU's well-known one: the guest is
    /// 10.0.2.15/24, the gateway (the host, through passt) 10.0.2.2, DNS
    /// 10.0.2.3 (forwarded by passt to the host's resolver). Every guest
    /// gets the same addresses: each has its own passt, so they never meet.
    pub fn user_mode() -> Self {
        Self {
            mac: DEFAULT_MAC,
            ipv4: Ipv4Addr::new(10, 0, 2, 15),
            prefix_len: 24,
            gateway: Ipv4Addr::new(10, 0, 2, 2),
            dns: Some(PASST_DNS),
            mtu: 1500,
        }
    }

    /// The boot info's description of the device with this addressing.
    pub fn boot_config(&self) -> NetConfig {
        NetConfig {
            mmio_base: MMIO_BASE,
            mac: self.mac,
            prefix_len: self.prefix_len,
            reserved: 0,
            ipv4: self.ipv4.octets(),
            gateway: self.gateway.octets(),
            dns: self.dns.map_or([0; 4], |d| d.octets()),
            mtu: self.mtu,
        }
    }
}
