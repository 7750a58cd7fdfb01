//! The network device under a standard hypervisor: a virtio-mmio window
//! the loader names on the command line, and the guest's addressing, both
//! put in the boot info's [`NetConfig`] as Kiln's monitor would, so the
//! network stack drives the same device the same way.
//!
//! - The window: Linux's `virtio_mmio.device=SIZE@BASE:IRQ` words, which
//!   Firecracker always passes and QEMU's `microvm` passes with `acpi=off`
//!   (with ACPI it describes the devices in its tables instead). The first
//!   window whose device answers as a virtio network device is used; its
//!   interrupt is not (the stack polls, see `super::serve`'s `Block`).
//! - The addressing: Linux's `ip=ADDRESS::GATEWAY:NETMASK[:HOST:DEVICE:AUTOCONF:DNS]`,
//!   as Firecracker's guides write it, else QEMU user networking's fixed
//!   one: 10.0.2.15/24, gateway 10.0.2.2, DNS 10.0.2.3.
//! - The MAC address: the device's own, from its config space.

use core::net::Ipv4Addr;

use kiln_abi::boot::BootInfo;
use kiln_abi::net::NetConfig;

use super::boot::{PAGE_DIRECTORIES, PDPT};

/// `virtio_mmio` registers: the magic value ("virt"), the device type (1
/// is a network device), and where the device's config space starts.
const MAGIC: u64 = 0x000;
const MAGIC_VALUE: u32 = 0x7472_6976;
const DEVICE_ID: u64 = 0x008;
const NETWORK_DEVICE: u32 = 1;
const CONFIG: u64 = 0x100;

/// QEMU user networking's addressing, which it does not let a guest change.
const USER_NETWORK: Addressing = Addressing {
    address: Ipv4Addr::new(10, 0, 2, 15),
    prefix_len: 24,
    gateway: Ipv4Addr::new(10, 0, 2, 2),
    dns: Ipv4Addr::new(10, 0, 2, 3),
};

/// The guest's IPv4 addressing.
#[derive(Clone, Copy)]
struct Addressing {
    address: Ipv4Addr,
    prefix_len: u8,
    gateway: Ipv4Addr,
    dns: Ipv4Addr,
}

/// Whether `word` (before the command line's `--`) is for the network
/// device, not the program's environment.
pub fn is_network_word(word: &[u8]) -> bool {
    word.starts_with(b"ip=")
}

/// Fills `info.net` from the command line's `words`, when they name a
/// virtio network device that answers: `ip=` before `--` (the program's
/// words follow), `virtio_mmio.device=` anywhere (QEMU appends them).
pub fn configure<'a>(info: &mut BootInfo, words: impl Iterator<Item = &'a [u8]> + Clone) {
    let mut addressing = USER_NETWORK;
    for word in words.clone().take_while(|word| *word != b"--") {
        if let Some(found) = word.strip_prefix(b"ip=").and_then(parse_ip) {
            addressing = found;
        }
    }
    let Some(base) = words
        .filter_map(|word| word.strip_prefix(b"virtio_mmio.device="))
        .filter_map(parse_window)
        .find(|&base| is_network_device(base, info.memory_size))
    else {
        return;
    };
    let mut mac = [0; 6];
    for (i, byte) in mac.iter_mut().enumerate() {
        // SAFETY: the device's config space, mapped by `is_network_device`;
        // a network device's starts with its MAC address.
        *byte = unsafe { ((base + CONFIG) as *const u8).add(i).read_volatile() };
    }
    info.net = NetConfig {
        mmio_base: base,
        mac,
        prefix_len: addressing.prefix_len,
        reserved: 0,
        ipv4: addressing.address.octets(),
        gateway: addressing.gateway.octets(),
        dns: addressing.dns.octets(),
        mtu: 0,
    };
}

/// Whether the window at `base` holds a virtio network device; maps it
/// (uncached) first. A window inside RAM (`ram_top`), or not below 4 GiB
/// (the page tables' reach), is not one.
fn is_network_device(base: u64, ram_top: u64) -> bool {
    const HUGE: u64 = 2 << 20;
    const GIB: u64 = 1 << 30;
    if base < ram_top || base.saturating_add(CONFIG + 6) > 4 * GIB {
        return false;
    }
    let page = base & !(HUGE - 1);
    let pdpt = PDPT.0.get().cast::<u64>();
    let directories = PAGE_DIRECTORIES.0.get().cast::<u64>();
    // SAFETY: the PDPT slot and directory entry of an address below 4 GiB
    // (four directories of 512 entries); above RAM, so both were empty or
    // already name this directory (another window) and no TLB holds a
    // not-present one. Present, writable, user, 2 MiB, write-through,
    // cache-disabled: device registers.
    unsafe {
        pdpt.add((base / GIB) as usize)
            .write_volatile(directories.add((base / GIB) as usize * 512) as u64 | 7);
        directories
            .add((page / HUGE) as usize)
            .write_volatile(page | 0x9f);
    }
    let register = |offset: u64| {
        // SAFETY: a register of the window just mapped; reading the magic
        // value and the device type has no effect on a virtio device (and
        // whatever else answers there sees two reads).
        unsafe { ((base + offset) as *const u32).read_volatile() }
    };
    register(MAGIC) == MAGIC_VALUE && register(DEVICE_ID) == NETWORK_DEVICE
}

/// The base address in `SIZE@BASE:IRQ[:ID]`, numbers as Linux reads them
/// (C prefixes, `K`/`M`/`G` suffixes), 4-byte aligned.
fn parse_window(text: &[u8]) -> Option<u64> {
    let at = text.iter().position(|&b| b == b'@')?;
    let (base, rest) = parse_number(&text[at + 1..])?;
    (rest.first() == Some(&b':') && base % 4 == 0).then_some(base)
}

/// A number at the start of `text` (`0x` hexadecimal, a leading `0` octal,
/// else decimal, then an optional `K`, `M` or `G`), and what follows it.
fn parse_number(text: &[u8]) -> Option<(u64, &[u8])> {
    let (radix, digits) = match text {
        [b'0', b'x' | b'X', rest @ ..] => (16, rest),
        [b'0', rest @ ..] if !rest.is_empty() => (8, rest),
        _ => (10, text),
    };
    let len = digits
        .iter()
        .take_while(|&&b| char::from(b).is_digit(radix))
        .count();
    if len == 0 {
        return None;
    }
    let mut value = 0u64;
    for &digit in &digits[..len] {
        value = value
            .checked_mul(u64::from(radix))?
            .checked_add(u64::from(char::from(digit).to_digit(radix)?))?;
    }
    let rest = &digits[len..];
    let shift = match rest.first() {
        Some(b'K' | b'k') => 10,
        Some(b'M' | b'm') => 20,
        Some(b'G' | b'g') => 30,
        _ => return Some((value, rest)),
    };
    Some((value.checked_mul(1 << shift)?, &rest[1..]))
}

/// Linux's `ip=CLIENT:SERVER:GATEWAY:NETMASK:HOST:DEVICE:AUTOCONF:DNS0`
/// (the server, host, device and autoconfiguration are not used); `None`
/// without a client address and netmask.
fn parse_ip(text: &[u8]) -> Option<Addressing> {
    let mut fields = text.split(|&b| b == b':');
    let address = parse_ipv4(fields.next()?)?;
    let _server = fields.next();
    let gateway = fields.next().and_then(parse_ipv4);
    let netmask = u32::from(parse_ipv4(fields.next()?)?);
    // A netmask is ones, then zeros.
    if netmask.leading_ones() + netmask.trailing_zeros() != 32 {
        return None;
    }
    let dns = fields.nth(3).and_then(parse_ipv4);
    Some(Addressing {
        address,
        prefix_len: netmask.leading_ones() as u8,
        gateway: gateway.unwrap_or(Ipv4Addr::UNSPECIFIED),
        dns: dns.unwrap_or(Ipv4Addr::UNSPECIFIED),
    })
}

fn parse_ipv4(text: &[u8]) -> Option<Ipv4Addr> {
    core::str::from_utf8(text).ok()?.parse().ok()
}
