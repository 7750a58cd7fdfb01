//! `ifaddrs.h`: `getifaddrs` and `freeifaddrs`, listed as glibc lists
//! Linux's answer: an `AF_PACKET` entry per interface (its hardware
//! address, broadcast address and counters), then the IPv4 addresses, then
//! the IPv6 ones. The list is one allocation, which `freeifaddrs` frees.
//! The counters (`ifa_data`, a `struct rtnl_link_stats`) are zero: the
//! library OS does not count packets.

use core::ffi::{CStr, c_char, c_void};
use core::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{Interface, Link, NAME_SIZE, interfaces};
use crate::errno::{self, code};
use crate::socket::Sockaddr;
use crate::{CInt, malloc};

/// `struct ifaddrs`.
#[repr(C)]
pub struct IfAddrs {
    next: *mut IfAddrs,
    name: *mut c_char,
    flags: u32,
    addr: *mut c_void,
    netmask: *mut c_void,
    /// `ifa_broadaddr` (or `ifa_dstaddr`, the same field).
    broadaddr: *mut c_void,
    data: *mut c_void,
}

const AF_PACKET: u16 = 17;
const ARPHRD_ETHER: u16 = 1;
const ARPHRD_LOOPBACK: u16 = 772;

/// `struct sockaddr_ll`.
#[repr(C)]
#[derive(Clone, Copy)]
struct SockaddrLl {
    family: u16,
    protocol: u16,
    ifindex: i32,
    hatype: u16,
    pkttype: u8,
    halen: u8,
    addr: [u8; 8],
}

/// Any address an entry holds.
#[repr(C)]
#[derive(Clone, Copy)]
union Address {
    ip: Sockaddr,
    link: SockaddrLl,
}

impl Address {
    fn ip(address: impl Into<core::net::IpAddr>) -> Self {
        Self {
            ip: Sockaddr::new(SocketAddr::new(address.into(), 0)).0,
        }
    }

    fn link(interface: &Interface, hatype: u16, mac: [u8; 6]) -> Self {
        let mut addr = [0; 8];
        addr[..6].copy_from_slice(&mac);
        Self {
            link: SockaddrLl {
                family: AF_PACKET,
                protocol: 0,
                ifindex: interface.index as i32,
                hatype,
                pkttype: 0,
                halen: 6,
                addr,
            },
        }
    }
}

/// `struct rtnl_link_stats`: 24 counters.
type LinkStats = [u32; 24];

/// One entry of the list, with everything it points to.
#[repr(C)]
struct Record {
    entry: IfAddrs,
    addr: Address,
    netmask: Address,
    broadaddr: Address,
    name: [u8; NAME_SIZE],
    stats: LinkStats,
}

/// What one entry says.
struct Entry {
    name: &'static CStr,
    flags: u32,
    addr: Address,
    netmask: Option<Address>,
    broadaddr: Option<Address>,
    stats: bool,
}

/// The `AF_PACKET` entry of `interface`.
fn packet(interface: Interface) -> Entry {
    let (addr, broadaddr) = match interface.link {
        Link::Loopback => (
            Address::link(&interface, ARPHRD_LOOPBACK, [0; 6]),
            Address::link(&interface, ARPHRD_LOOPBACK, [0; 6]),
        ),
        Link::Ethernet(ethernet) => (
            Address::link(&interface, ARPHRD_ETHER, ethernet.mac),
            Address::link(&interface, ARPHRD_ETHER, [0xff; 6]),
        ),
    };
    Entry {
        name: interface.name,
        flags: interface.flags,
        addr,
        netmask: None,
        broadaddr: Some(broadaddr),
        stats: true,
    }
}

/// The IPv4 entry of `interface`. `lo`'s broadcast field holds its own
/// address: Linux gives `lo` a local address and no broadcast one, which
/// glibc reads as a point-to-point link's destination.
fn ipv4(interface: Interface) -> Entry {
    let (address, prefix_len, broadcast) = match interface.link {
        Link::Loopback => (Ipv4Addr::LOCALHOST, 8, Ipv4Addr::LOCALHOST),
        Link::Ethernet(ethernet) => {
            let mask = prefix_mask(ethernet.prefix_len);
            let broadcast = Ipv4Addr::from_bits(ethernet.address.to_bits() | !mask);
            (ethernet.address, ethernet.prefix_len, broadcast)
        }
    };
    Entry {
        name: interface.name,
        flags: interface.flags,
        addr: Address::ip(address),
        netmask: Some(Address::ip(Ipv4Addr::from_bits(prefix_mask(prefix_len)))),
        broadaddr: Some(Address::ip(broadcast)),
        stats: false,
    }
}

/// The IPv6 entry of `interface`, if it has an IPv6 address (`lo`'s `::1`).
fn ipv6(interface: Interface) -> Option<Entry> {
    matches!(interface.link, Link::Loopback).then(|| Entry {
        name: interface.name,
        flags: interface.flags,
        addr: Address::ip(Ipv6Addr::LOCALHOST),
        netmask: Some(Address::ip(Ipv6Addr::from_bits(u128::MAX))),
        broadaddr: None,
        stats: false,
    })
}

/// An IPv4 network mask of `prefix_len` bits.
fn prefix_mask(prefix_len: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(prefix_len))
        .unwrap_or(0)
}

/// Every entry, in glibc's order.
fn entries() -> impl Iterator<Item = Entry> {
    let list = interfaces();
    let packets = list.clone().map(packet);
    let ipv4s = list.clone().map(ipv4);
    let ipv6s = list.filter_map(ipv6);
    packets.chain(ipv4s).chain(ipv6s)
}

/// `getifaddrs(3)`.
///
/// # Safety
/// `list` must be valid for writing a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getifaddrs(list: *mut *mut IfAddrs) -> CInt {
    traced!("getifaddrs"(list) {
    let count = entries().count();
    let block = malloc::malloc(count * size_of::<Record>()).cast::<Record>();
    if block.is_null() {
        return errno::fail(code::ENOMEM);
    }
    for (i, entry) in entries().enumerate() {
        // SAFETY: `block` holds `count` records (`malloc` aligns for any
        // type) and `i < count`.
        unsafe { write_record(block, i, count, entry) };
    }
    // SAFETY: per the caller.
    unsafe { list.write(block.cast()) };
    0
    })
}

/// Writes record `i` of `count` in `block`, pointing into itself and at
/// record `i + 1`.
///
/// # Safety
/// `block` must be valid for writing `count` records, and `i < count`.
unsafe fn write_record(block: *mut Record, i: usize, count: usize, entry: Entry) {
    // SAFETY: per the caller.
    let record = unsafe { block.add(i) };
    let next = if i + 1 < count {
        // SAFETY: record `i + 1` is within the block.
        unsafe { block.add(i + 1).cast::<IfAddrs>() }
    } else {
        core::ptr::null_mut()
    };
    let field = |present: bool, pointer: *mut Address| {
        if present {
            pointer.cast::<c_void>()
        } else {
            core::ptr::null_mut()
        }
    };
    let mut name = [0; NAME_SIZE];
    let bytes = entry.name.to_bytes();
    name[..bytes.len()].copy_from_slice(bytes);
    let unset = Address::ip(Ipv4Addr::UNSPECIFIED);
    // SAFETY: `record` is valid for writing (above); the field pointers
    // are computed from it without reading.
    unsafe {
        record.write(Record {
            entry: IfAddrs {
                next,
                name: (&raw mut (*record).name).cast(),
                flags: entry.flags,
                addr: (&raw mut (*record).addr).cast(),
                netmask: field(entry.netmask.is_some(), &raw mut (*record).netmask),
                broadaddr: field(entry.broadaddr.is_some(), &raw mut (*record).broadaddr),
                data: if entry.stats {
                    (&raw mut (*record).stats).cast()
                } else {
                    core::ptr::null_mut()
                },
            },
            addr: entry.addr,
            netmask: entry.netmask.unwrap_or(unset),
            broadaddr: entry.broadaddr.unwrap_or(unset),
            name,
            stats: [0; 24],
        })
    };
}

/// `freeifaddrs(3)`.
///
/// # Safety
/// `list` must come from [`getifaddrs`] (or be null).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn freeifaddrs(list: *mut IfAddrs) {
    // SAFETY: per the caller, one `malloc` block.
    unsafe { malloc::free(list.cast()) };
}
