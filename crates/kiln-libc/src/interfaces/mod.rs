//! The guest's network interfaces, as `getifaddrs` ([`ifaddrs`]) and
//! `net/if.h` ([`net_if`]) list them: `lo` (index 1) always, and `eth0`
//! (index 2) when the VM has a network device, with the addressing the
//! library OS's stack is configured with. The network is IPv4: `eth0` has
//! no IPv6 address (not even a link-local one), `lo` has `::1`.

pub mod ifaddrs;
pub mod net_if;

use core::ffi::CStr;

use kiln_libos::net::{self, Ethernet};

/// `IF_NAMESIZE`: room for a name and its NUL.
const NAME_SIZE: usize = 16;

// Interface flags (`IFF_*`), as Linux reports them for these interfaces.
const IFF_UP: u32 = 0x1;
const IFF_BROADCAST: u32 = 0x2;
const IFF_LOOPBACK: u32 = 0x8;
const IFF_RUNNING: u32 = 0x40;
const IFF_MULTICAST: u32 = 0x1000;
const IFF_LOWER_UP: u32 = 0x10000;

/// One network interface.
#[derive(Clone, Copy)]
struct Interface {
    index: u32,
    name: &'static CStr,
    flags: u32,
    link: Link,
}

#[derive(Clone, Copy)]
enum Link {
    Loopback,
    Ethernet(Ethernet),
}

/// The guest's interfaces, by index.
fn interfaces() -> impl Iterator<Item = Interface> + Clone {
    let loopback = Interface {
        index: 1,
        name: c"lo",
        flags: IFF_UP | IFF_LOOPBACK | IFF_RUNNING | IFF_LOWER_UP,
        link: Link::Loopback,
    };
    let ethernet = net::ethernet().map(|ethernet| Interface {
        index: 2,
        name: c"eth0",
        flags: IFF_UP | IFF_BROADCAST | IFF_RUNNING | IFF_MULTICAST | IFF_LOWER_UP,
        link: Link::Ethernet(ethernet),
    });
    core::iter::once(loopback).chain(ethernet)
}
