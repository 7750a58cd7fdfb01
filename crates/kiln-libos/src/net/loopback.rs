//! The guest talking to itself: frames smoltcp sends to 127.0.0.0/8, to
//! `::1` or to the guest's own address come straight back as received
//! frames instead of going to the device.
//!
//! smoltcp has no loopback of its own on an Ethernet interface, and a
//! second interface would need a second socket set, so the interface also
//! owns 127.0.0.1/8 and the device turns such frames around. smoltcp asks
//! for the MAC address of a local destination like any other neighbour's;
//! the answer, its own MAC, is made here too: an ARP reply, or for `::1` a
//! neighbour advertisement (smoltcp never answers solicitations for `::1`
//! itself, as `::1` is never meant to be on a link).

use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;
use core::net::{Ipv4Addr, Ipv6Addr};

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    EthernetAddress, Icmpv6Packet, Icmpv6Repr, IpProtocol, Ipv6Packet, Ipv6Repr,
    NdiscNeighborFlags, NdiscRepr,
};

const ETHERNET_HEADER: usize = 14;
const ETHERTYPE_IPV4: [u8; 2] = [0x08, 0x00];
const ETHERTYPE_ARP: [u8; 2] = [0x08, 0x06];
const ETHERTYPE_IPV6: [u8; 2] = [0x86, 0xdd];
/// Where an IPv6 header holds its source and destination.
const IPV6_SOURCE: core::ops::Range<usize> = 8..24;
const IPV6_DESTINATION: core::ops::Range<usize> = 24..40;
/// `::1`'s solicited-node multicast group, `ff02::1:ff00:1`.
const LOOPBACK_SOLICITED_NODE: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 1, 0xff00, 1);

/// The IPv6 address at `range` of `packet`, if it is that long.
fn ipv6_at(packet: &[u8], range: core::ops::Range<usize>) -> Option<Ipv6Addr> {
    let octets: [u8; 16] = packet.get(range)?.try_into().ok()?;
    Some(Ipv6Addr::from(octets))
}
/// An ARP packet for IPv4 over Ethernet.
const ARP_LEN: usize = 28;

/// Frames on their way back to the guest.
pub struct Loopback {
    frames: VecDeque<Vec<u8>>,
    mac: [u8; 6],
    own: Ipv4Addr,
}

impl Loopback {
    /// A loopback for the guest at `own` with `mac`.
    pub fn new(mac: [u8; 6], own: Ipv4Addr) -> Self {
        Self {
            frames: VecDeque::new(),
            mac,
            own,
        }
    }

    fn is_local(&self, ip: Ipv4Addr) -> bool {
        ip.is_loopback() || ip == self.own
    }

    /// Takes `frame` if it is for the guest itself (an IPv4 packet to a
    /// local address, or an ARP request for one, answered here); a frame
    /// not taken goes to the device.
    pub fn take(&mut self, frame: &[u8]) -> bool {
        let Some((header, payload)) = frame.split_at_checked(ETHERNET_HEADER) else {
            return false;
        };
        match [header[12], header[13]] {
            ETHERTYPE_IPV4 => {
                let local = payload
                    .get(16..20)
                    .and_then(|destination| <[u8; 4]>::try_from(destination).ok())
                    .is_some_and(|destination| self.is_local(destination.into()));
                if local {
                    self.frames.push_back(frame.to_vec());
                }
                local
            }
            ETHERTYPE_IPV6 => match ipv6_at(payload, IPV6_DESTINATION) {
                Some(destination) if destination.is_loopback() => {
                    self.frames.push_back(frame.to_vec());
                    true
                }
                Some(LOOPBACK_SOLICITED_NODE) => {
                    if let Some(reply) = self.advertise(payload) {
                        self.frames.push_back(reply);
                    }
                    true
                }
                _ => false,
            },
            ETHERTYPE_ARP => match self.answer(payload) {
                Some(reply) => {
                    self.frames.push_back(reply);
                    true
                }
                None => false,
            },
            _ => false,
        }
    }

    /// Whether `frame`, from the network, claims a loopback address (as
    /// its IPv4 or IPv6 source or destination, or an ARP sender or target).
    /// The interface owns 127.0.0.0/8 and `::1` for the loopback, so it
    /// would take such a frame as its own: anyone on the link could reach a
    /// service bound to 127.0.0.1. Linux drops these as martians.
    pub fn martian(frame: &[u8]) -> bool {
        let Some((header, payload)) = frame.split_at_checked(ETHERNET_HEADER) else {
            return false;
        };
        let loopback = |at: usize| payload.get(at).is_some_and(|&first| first == 127);
        match [header[12], header[13]] {
            ETHERTYPE_IPV4 => loopback(12) || loopback(16),
            ETHERTYPE_ARP => loopback(14) || loopback(24),
            ETHERTYPE_IPV6 => [IPV6_SOURCE, IPV6_DESTINATION]
                .into_iter()
                .any(|at| ipv6_at(payload, at).is_some_and(|ip| ip.is_loopback())),
            _ => false,
        }
    }

    /// The reply to an ARP request for a local address: its MAC is ours.
    fn answer(&self, arp: &[u8]) -> Option<Vec<u8>> {
        let arp = arp.get(..ARP_LEN)?;
        // Ethernet, IPv4, 6 and 4 bytes of address, a request.
        if arp[..8] != [0, 1, 0x08, 0, 6, 4, 0, 1] {
            return None;
        }
        let (sender_mac, sender_ip, target_ip) = (&arp[8..14], &arp[14..18], &arp[24..28]);
        let target: [u8; 4] = target_ip.try_into().ok()?;
        if !self.is_local(target.into()) {
            return None;
        }
        let mut reply = Vec::with_capacity(ETHERNET_HEADER + ARP_LEN);
        reply.extend_from_slice(sender_mac);
        reply.extend_from_slice(&self.mac);
        reply.extend_from_slice(&ETHERTYPE_ARP);
        reply.extend_from_slice(&[0, 1, 0x08, 0, 6, 4, 0, 2]);
        reply.extend_from_slice(&self.mac);
        reply.extend_from_slice(target_ip);
        reply.extend_from_slice(sender_mac);
        reply.extend_from_slice(sender_ip);
        Some(reply)
    }

    /// The neighbour advertisement answering a solicitation for `::1`: its
    /// MAC is ours.
    fn advertise(&self, packet: &[u8]) -> Option<Vec<u8>> {
        let checksums = ChecksumCapabilities::default();
        let ip = Ipv6Repr::parse(&Ipv6Packet::new_checked(packet).ok()?).ok()?;
        if ip.next_header != IpProtocol::Icmpv6 {
            return None;
        }
        let icmp = Icmpv6Packet::new_checked(packet.get(IPV6_DESTINATION.end..)?).ok()?;
        let solicitation = Icmpv6Repr::parse(&ip.src_addr, &ip.dst_addr, &icmp, &checksums).ok()?;
        let Icmpv6Repr::Ndisc(NdiscRepr::NeighborSolicit { target_addr, .. }) = solicitation else {
            return None;
        };
        if !target_addr.is_loopback() {
            return None;
        }
        let advert = Icmpv6Repr::Ndisc(NdiscRepr::NeighborAdvert {
            flags: NdiscNeighborFlags::SOLICITED | NdiscNeighborFlags::OVERRIDE,
            target_addr,
            lladdr: Some(EthernetAddress(self.mac).into()),
        });
        let reply = Ipv6Repr {
            src_addr: target_addr,
            dst_addr: ip.src_addr,
            next_header: IpProtocol::Icmpv6,
            payload_len: advert.buffer_len(),
            hop_limit: 255,
        };
        let mut frame = vec![0; ETHERNET_HEADER + reply.buffer_len() + advert.buffer_len()];
        frame[..6].copy_from_slice(&self.mac);
        frame[6..12].copy_from_slice(&self.mac);
        frame[12..14].copy_from_slice(&ETHERTYPE_IPV6);
        let mut packet = Ipv6Packet::new_unchecked(&mut frame[ETHERNET_HEADER..]);
        reply.emit(&mut packet);
        advert.emit(
            &reply.src_addr,
            &reply.dst_addr,
            &mut Icmpv6Packet::new_unchecked(packet.payload_mut()),
            &checksums,
        );
        Some(frame)
    }

    /// The next frame coming back.
    pub fn pop(&mut self) -> Option<Vec<u8>> {
        self.frames.pop_front()
    }

    /// Whether frames are on their way back.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}
