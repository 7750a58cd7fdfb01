//! DNS: A queries to the boot info's server, with smoltcp's DNS socket.
//!
//! Each attempt is a DNS socket of its own in the stack's set, with a new
//! query (new port and transaction id), removed when the attempt ends. The
//! thread waits in the scheduler like a socket call does: the stack's wakes
//! reach it through `poll`'s key, and smoltcp's retransmit timer (it resends
//! after 1 s, then 2 s...) bounds the vCPU's block. Timeout and attempts are
//! glibc's (5 s, 2), so a name fails no sooner or later than on Linux.

use alloc::vec::Vec;
use core::net::Ipv4Addr;

use smoltcp::socket::dns::{GetQueryResultError, Socket};
use smoltcp::wire::{DnsQueryType, IpAddress};

use super::with;
use crate::clock::Instant;

/// The longest an attempt waits: smoltcp gives a query up after 10 s
/// without an answer, and that failure must not be taken for one.
const MAX_TIMEOUT_NS: u64 = 9_000_000_000;

/// How long to wait for answers, as `resolv.conf`'s `options` say it.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// How long each attempt waits for an answer, in ns.
    pub timeout_ns: u64,
    /// Attempts before giving up.
    pub attempts: u32,
}

/// glibc's `RES_TIMEOUT` and `RES_DFLRETRY`.
impl Default for Options {
    fn default() -> Self {
        Self {
            timeout_ns: 5_000_000_000,
            attempts: 2,
        }
    }
}

/// Why a name has no address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LookupError {
    /// The server answered: no such name, or no IPv4 address for it (or the
    /// name cannot be asked: an empty label, over 255 bytes).
    NotFound,
    /// Nobody answered: no DNS server configured, no network device, or
    /// every attempt timed out.
    NoAnswer,
}

/// The IPv4 addresses the DNS server gives `name`.
pub fn query(name: &str, options: &Options) -> Result<Vec<Ipv4Addr>, LookupError> {
    let server = Ipv4Addr::from(crate::platform::boot_info().net.dns);
    if server.is_unspecified() {
        return Err(LookupError::NoAnswer);
    }
    let timeout_ns = options.timeout_ns.min(MAX_TIMEOUT_NS);
    for _ in 0..options.attempts.max(1) {
        if let Some(addresses) = attempt(name, server, timeout_ns)? {
            return Ok(addresses);
        }
    }
    Err(LookupError::NoAnswer)
}

/// One query; `None` when it timed out.
fn attempt(
    name: &str,
    server: Ipv4Addr,
    timeout_ns: u64,
) -> Result<Option<Vec<Ipv4Addr>>, LookupError> {
    let deadline = Instant::now()
        .as_nanos_since_boot()
        .saturating_add(timeout_ns);
    // Without a device the boot info names no server (`query` gave up
    // already); `with` fails for a device that does not answer as one.
    let (handle, query) = with(|net| {
        let mut socket = Socket::new(&[IpAddress::Ipv4(server)], Vec::new());
        let started = socket.start_query(net.iface.context(), name, DnsQueryType::A);
        Ok(started.map(|query| (net.set.add(socket), query)))
    })
    .map_err(|_| LookupError::NoAnswer)?
    .map_err(|_| LookupError::NotFound)?;
    loop {
        let seen = crate::fd::changes();
        let (result, expired) = with(|net| {
            // Sends the query (or a retransmit) and takes in the answer.
            net.poll();
            let result = net.set.get_mut::<Socket>(handle).get_query_result(query);
            let expired = Instant::now().as_nanos_since_boot() >= deadline;
            // A finished query has already freed its slot; the socket goes.
            if expired || !matches!(result, Err(GetQueryResultError::Pending)) {
                net.set.remove(handle);
            }
            Ok((result, expired))
        })
        .map_err(|_| LookupError::NoAnswer)?;
        match result {
            Ok(addresses) => {
                return Ok(Some(
                    // The query asks for A records only.
                    addresses
                        .iter()
                        .filter_map(|&address| match address {
                            IpAddress::Ipv4(address) => Some(address),
                            IpAddress::Ipv6(_) => None,
                        })
                        .collect(),
                ));
            }
            // smoltcp fails a query when the server says the name does not
            // exist or has no A record; its own timeout is longer than any
            // attempt (`MAX_TIMEOUT_NS`), so a failure here is an answer.
            Err(GetQueryResultError::Failed) => return Err(LookupError::NotFound),
            Err(GetQueryResultError::Pending) if expired => return Ok(None),
            Err(GetQueryResultError::Pending) => crate::fd::wait_for_change(seen, deadline),
        }
    }
}
