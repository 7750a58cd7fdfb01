//! `arpa/inet.h`'s byte-order conversions. C compiled with optimisation
//! inlines glibc's macros for them; unoptimised C (a debug build's
//! `cc`-compiled libraries, such as libgit2) calls these functions.

/// `htonl(3)`: host to network (big-endian) order.
#[unsafe(no_mangle)]
pub extern "C" fn htonl(host: u32) -> u32 {
    host.to_be()
}

/// `htons(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn htons(host: u16) -> u16 {
    host.to_be()
}

/// `ntohl(3)`: network (big-endian) to host order.
#[unsafe(no_mangle)]
pub extern "C" fn ntohl(network: u32) -> u32 {
    u32::from_be(network)
}

/// `ntohs(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn ntohs(network: u16) -> u16 {
    u16::from_be(network)
}
