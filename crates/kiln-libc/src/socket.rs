//! Sockets: TCP and UDP over IPv4 and IPv6 on the library OS's network
//! stack (`kiln_libos::net`), as descriptors of its descriptor table. A
//! VM without a network device has the loopback alone, as Linux with only
//! `lo` up. Unix-domain stream sockets, within the program, are handed to
//! `unix_socket.rs`.

use alloc::vec;
use core::ffi::{c_char, c_void};
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use kiln_libos::fs::{self, Errno};
use kiln_libos::net::{self, Family, Kind, LookupError, ResolverOptions, Shutdown};

use crate::errno::{self, code};
use crate::unistd::{IoVec, io_vectors};
use crate::unix_socket::{self, AF_UNIX};
use crate::{CInt, CLong, c_slice, c_slice_mut};

pub(crate) const AF_INET: u16 = 2;
pub(crate) const AF_INET6: u16 = 10;
const SOCK_STREAM: CInt = 1;
const SOCK_DGRAM: CInt = 2;
const SOCK_TYPE_MASK: CInt = 0xf;
const SOCK_NONBLOCK: CInt = 0o4000;
const SOCK_CLOEXEC: CInt = 0o2000000;
const IPPROTO_TCP: CInt = 6;
const IPPROTO_UDP: CInt = 17;
const MSG_PEEK: CInt = 0x2;
const MSG_DONTWAIT: CInt = 0x40;
const SOL_SOCKET: CInt = 1;
const SO_RCVTIMEO: CInt = 20;
const SO_SNDTIMEO: CInt = 21;

/// `struct sockaddr_in`.
#[repr(C)]
#[derive(Clone, Copy)]
struct SockaddrIn {
    family: u16,
    /// Network byte order.
    port: u16,
    addr: [u8; 4],
    zero: [u8; 8],
}

/// `struct sockaddr_in6`.
#[repr(C)]
#[derive(Clone, Copy)]
struct SockaddrIn6 {
    family: u16,
    /// Network byte order.
    port: u16,
    /// Network byte order.
    flowinfo: u32,
    addr: [u8; 16],
    scope_id: u32,
}

/// The shortest `sockaddr_in6` Linux takes: RFC 2133's, without `scope_id`.
const SIN6_LEN_RFC2133: usize = 24;

/// Room for either address, as C code's `sockaddr_storage` is used.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) union Sockaddr {
    v4: SockaddrIn,
    v6: SockaddrIn6,
}

impl Sockaddr {
    /// `address` in C's layout, and its length.
    pub(crate) fn new(address: SocketAddr) -> (Self, usize) {
        match address {
            SocketAddr::V4(v4) => (
                Self {
                    v4: SockaddrIn {
                        family: AF_INET,
                        port: v4.port().to_be(),
                        addr: v4.ip().octets(),
                        zero: [0; 8],
                    },
                },
                size_of::<SockaddrIn>(),
            ),
            SocketAddr::V6(v6) => (
                Self {
                    v6: SockaddrIn6 {
                        family: AF_INET6,
                        port: v6.port().to_be(),
                        flowinfo: v6.flowinfo().to_be(),
                        addr: v6.ip().octets(),
                        scope_id: v6.scope_id(),
                    },
                },
                size_of::<SockaddrIn6>(),
            ),
        }
    }
}

/// `struct msghdr`.
#[repr(C)]
pub struct MsgHdr {
    name: *mut c_void,
    name_len: u32,
    iov: *const IoVec,
    iov_len: usize,
    control: *mut c_void,
    control_len: usize,
    flags: CInt,
}

/// `struct timeval`.
#[repr(C)]
#[derive(Clone, Copy)]
struct Timeval {
    sec: i64,
    usec: i64,
}

type Result<T> = fs::Result<T>;

fn result<T: TryInto<CLong>>(result: Result<T>) -> CLong {
    errno::check(result)
}

/// A socket address from C (`EINVAL` when too short, as Linux); whether
/// its family fits the socket is the library OS's to say.
///
/// # Safety
/// `addr` must be null or valid for `len` bytes.
unsafe fn read_address(addr: *const c_void, len: u32) -> Result<SocketAddr> {
    if addr.is_null() {
        return Err(Errno(code::EFAULT));
    }
    let len = len as usize;
    if len < size_of::<u16>() {
        return Err(Errno(code::EINVAL));
    }
    // SAFETY: per the caller, at least the family is readable.
    let family = unsafe { addr.cast::<u16>().read_unaligned() };
    match family {
        AF_INET if len >= size_of::<SockaddrIn>() => {
            // SAFETY: per the caller, `len` covers a `sockaddr_in`.
            let sin = unsafe { addr.cast::<SockaddrIn>().read_unaligned() };
            Ok(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(sin.addr),
                u16::from_be(sin.port),
            )))
        }
        AF_INET6 if len >= SIN6_LEN_RFC2133 => {
            let mut sin6 = SockaddrIn6 {
                family,
                port: 0,
                flowinfo: 0,
                addr: [0; 16],
                scope_id: 0,
            };
            // SAFETY: per the caller, `len` bytes are readable, and at most
            // a `sockaddr_in6` is copied into one.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    addr.cast::<u8>(),
                    (&raw mut sin6).cast::<u8>(),
                    len.min(size_of::<SockaddrIn6>()),
                );
            }
            Ok(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.addr),
                u16::from_be(sin6.port),
                u32::from_be(sin6.flowinfo),
                sin6.scope_id,
            )))
        }
        AF_INET | AF_INET6 => Err(Errno(code::EINVAL)),
        _ => Err(Errno(code::EAFNOSUPPORT)),
    }
}

/// Writes `address` to a C `sockaddr` of `*len` bytes (truncated as on
/// Linux), and its full length to `*len`.
///
/// # Safety
/// `addr` must be null or valid for `*len` bytes; `len` null or valid.
unsafe fn write_address(addr: *mut c_void, len: *mut u32, address: SocketAddr) -> Result<()> {
    if addr.is_null() || len.is_null() {
        return Ok(());
    }
    let (sockaddr, size) = Sockaddr::new(address);
    // SAFETY: per the caller.
    let room = unsafe { len.read() } as usize;
    let n = room.min(size);
    // SAFETY: `addr` holds `room` bytes, per the caller; `sockaddr` is
    // plain data of at least `size` bytes.
    unsafe {
        core::ptr::copy_nonoverlapping((&raw const sockaddr).cast::<u8>(), addr.cast::<u8>(), n);
        len.write(size as u32);
    }
    Ok(())
}

/// `socket(2)`.
#[unsafe(no_mangle)]
pub extern "C" fn socket(domain: CInt, kind: CInt, protocol: CInt) -> CInt {
    traced!("socket"(domain, kind, protocol) {
    let kind_flags = kind & !SOCK_TYPE_MASK;
    if kind_flags & !(SOCK_NONBLOCK | SOCK_CLOEXEC) != 0 {
        return errno::fail(code::EINVAL);
    }
    let family = match u16::try_from(domain) {
        Ok(AF_INET) => Family::V4,
        Ok(AF_INET6) => Family::V6,
        // Stream sockets only: datagram and sequenced-packet ones are not
        // supported.
        Ok(AF_UNIX) => {
            return match (kind & SOCK_TYPE_MASK, protocol) {
                (SOCK_STREAM, 0) => result(fs::unix_socket(kind_flags)) as CInt,
                _ => errno::fail(code::EPROTONOSUPPORT),
            };
        }
        _ => return errno::fail(code::EAFNOSUPPORT),
    };
    let kind = match (kind & SOCK_TYPE_MASK, protocol) {
        (SOCK_STREAM, 0 | IPPROTO_TCP) => Kind::Stream,
        (SOCK_DGRAM, 0 | IPPROTO_UDP) => Kind::Datagram,
        (SOCK_STREAM | SOCK_DGRAM, _) => return errno::fail(code::EPROTONOSUPPORT),
        _ => return errno::fail(code::EINVAL),
    };
    // SOCK_NONBLOCK and SOCK_CLOEXEC are O_NONBLOCK and O_CLOEXEC.
    result(net::create(kind, family).and_then(|id| fs::install_socket(id, kind_flags))) as CInt
    })
}

/// `socketpair(2)`: `AF_UNIX` stream pairs only, connected within the
/// program (as tokio's signal driver and mio's wakers make them).
///
/// # Safety
/// `fds` must be valid for writing two descriptors.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn socketpair(
    domain: CInt,
    kind: CInt,
    protocol: CInt,
    fds: *mut CInt,
) -> CInt {
    traced!("socketpair"(domain, kind, protocol) {
    const AF_UNIX: CInt = 1;
    const SOCK_STREAM: CInt = 1;
    const SOCK_NONBLOCK: CInt = 0o4000;
    const SOCK_CLOEXEC: CInt = 0o2000000;
    const AF_INET: CInt = 2;
    const AF_INET6: CInt = 10;
    match domain {
        AF_UNIX => {}
        // As Linux: IP sockets exist, but not in pairs.
        AF_INET | AF_INET6 => return errno::fail(code::ENOTSUP),
        _ => return errno::fail(code::EAFNOSUPPORT),
    }
    if kind & !(SOCK_NONBLOCK | SOCK_CLOEXEC) != SOCK_STREAM || protocol != 0 {
        return errno::fail(code::ENOTSUP);
    }
    match fs::socketpair(kind & (SOCK_NONBLOCK | SOCK_CLOEXEC)) {
        Ok(pair) => {
            // SAFETY: per the caller.
            unsafe { fds.cast::<[CInt; 2]>().write_unaligned(pair) };
            0
        }
        Err(e) => errno::fail(e.0),
    }
    })
}

/// `bind(2)`.
///
/// # Safety
/// `addr` must be valid for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bind(fd: CInt, addr: *const c_void, len: u32) -> CInt {
    traced!("bind"(fd, addr, len) {
    if fs::is_unix(fd) {
        // SAFETY: per the caller.
        let path = unsafe { unix_socket::read_path(addr, len) };
        return result(path.and_then(|p| fs::unix_bind(fd, &p)).map(|()| 0)) as CInt;
    }
    let (id, _) = match fs::socket(fd) {
        Ok(s) => s,
        Err(e) => return errno::fail(e.0),
    };
    // SAFETY: per the caller.
    result(unsafe { read_address(addr, len) }.and_then(|a| net::bind(id, a)).map(|()| 0)) as CInt
    })
}

/// `listen(2)`.
#[unsafe(no_mangle)]
pub extern "C" fn listen(fd: CInt, backlog: CInt) -> CInt {
    traced!("listen"(fd, backlog) {
    if fs::is_unix(fd) {
        return result(fs::unix_listen(fd, backlog).map(|()| 0)) as CInt;
    }
    result(fs::socket(fd).and_then(|(id, _)| net::listen(id, backlog)).map(|()| 0)) as CInt
    })
}

/// `accept4(2)`.
///
/// # Safety
/// `addr` must be null or valid for `*len` bytes, `len` null or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn accept4(fd: CInt, addr: *mut c_void, len: *mut u32, flags: CInt) -> CInt {
    traced!("accept4"(fd, addr, flags) {
    if flags & !(SOCK_NONBLOCK | SOCK_CLOEXEC) != 0 {
        return errno::fail(code::EINVAL);
    }
    if fs::is_unix(fd) {
        let accepted = fs::unix_accept(fd, flags);
        if accepted.is_ok() {
            // SAFETY: per the caller. The client end is unnamed.
            unsafe { unix_socket::write_name(addr, len, &[]) };
        }
        return result(accepted) as CInt;
    }
    let accepted = fs::socket(fd).and_then(|(id, nonblocking)| net::accept(id, nonblocking));
    let (new, peer) = match accepted {
        Ok(accepted) => accepted,
        Err(e) => return errno::fail(e.0),
    };
    let fd = match fs::install_socket(new, flags) {
        Ok(fd) => fd,
        Err(e) => return errno::fail(e.0),
    };
    // SAFETY: per the caller.
    let _ = unsafe { write_address(addr, len, peer) };
    fd
    })
}

/// `accept(2)`.
///
/// # Safety
/// As [`accept4`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn accept(fd: CInt, addr: *mut c_void, len: *mut u32) -> CInt {
    // SAFETY: per the caller.
    unsafe { accept4(fd, addr, len, 0) }
}

/// `connect(2)`.
///
/// # Safety
/// `addr` must be valid for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn connect(fd: CInt, addr: *const c_void, len: u32) -> CInt {
    traced!("connect"(fd, addr, len) {
    if unix_socket::is_unix(fd) {
        // SAFETY: per the caller.
        let path = unsafe { unix_socket::read_path(addr, len) };
        return result(path.and_then(|p| fs::unix_connect(fd, &p)).map(|()| 0)) as CInt;
    }
    let (id, nonblocking) = match fs::socket(fd) {
        Ok(s) => s,
        Err(e) => return errno::fail(e.0),
    };
    // SAFETY: per the caller.
    let connected = unsafe { read_address(addr, len) }.and_then(|a| net::connect(id, a, nonblocking));
    result(connected.map(|()| 0)) as CInt
    })
}

/// The socket of `fd` and whether this call must not wait.
fn target(fd: CInt, flags: CInt) -> Result<(kiln_libos::fd::SocketId, bool)> {
    fs::socket(fd).map(|(id, nonblocking)| (id, nonblocking || flags & MSG_DONTWAIT != 0))
}

/// `sendto(2)`.
///
/// # Safety
/// `buf` must be valid for `len` bytes; `addr` null or valid for `addr_len`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sendto(
    fd: CInt,
    buf: *const c_void,
    len: usize,
    flags: CInt,
    addr: *const c_void,
    addr_len: u32,
) -> CLong {
    traced!("sendto"(fd, buf, len, flags) {
    if fs::is_pair(fd) {
        // SAFETY: per the caller.
        let data = unsafe { c_slice(buf.cast::<u8>(), len) };
        return result(fs::write(fd, data, None));
    }
    let (id, nonblocking) = match target(fd, flags) {
        Ok(t) => t,
        Err(e) => return errno::fail(e.0),
    };
    let to = if addr.is_null() {
        None
    } else {
        // SAFETY: per the caller.
        match unsafe { read_address(addr, addr_len) } {
            Ok(to) => Some(to),
            Err(e) => return errno::fail(e.0),
        }
    };
    // SAFETY: per the caller.
    let data = unsafe { c_slice(buf.cast::<u8>(), len) };
    result(net::send(id, data, to, nonblocking))
    })
}

/// `send(2)`.
///
/// # Safety
/// `buf` must be valid for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn send(fd: CInt, buf: *const c_void, len: usize, flags: CInt) -> CLong {
    // SAFETY: per the caller.
    unsafe { sendto(fd, buf, len, flags, core::ptr::null(), 0) }
}

/// `recvfrom(2)`.
///
/// # Safety
/// `buf` must be valid for `len` bytes; `addr` null or valid for
/// `*addr_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn recvfrom(
    fd: CInt,
    buf: *mut c_void,
    len: usize,
    flags: CInt,
    addr: *mut c_void,
    addr_len: *mut u32,
) -> CLong {
    traced!("recvfrom"(fd, buf, len, flags) {
    if fs::is_pair(fd) {
        if !addr_len.is_null() {
            // SAFETY: per the caller.
            unsafe { addr_len.write(0) };
        }
        // SAFETY: per the caller.
        let data = unsafe { c_slice_mut(buf.cast::<u8>(), len) };
        return result(fs::read(fd, data, None));
    }
    let (id, nonblocking) = match target(fd, flags) {
        Ok(t) => t,
        Err(e) => return errno::fail(e.0),
    };
    // SAFETY: per the caller.
    let data = unsafe { c_slice_mut(buf.cast::<u8>(), len) };
    match net::recv(id, data, flags & MSG_PEEK != 0, nonblocking) {
        Ok((n, from)) => {
            if let Some(from) = from {
                // SAFETY: per the caller.
                let _ = unsafe { write_address(addr, addr_len, from) };
            } else if !addr_len.is_null() {
                // A connection's peer is not reported, as on Linux.
                // SAFETY: per the caller.
                unsafe { addr_len.write(0) };
            }
            n as CLong
        }
        Err(e) => errno::fail(e.0),
    }
    })
}

/// `recv(2)`.
///
/// # Safety
/// `buf` must be valid for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn recv(fd: CInt, buf: *mut c_void, len: usize, flags: CInt) -> CLong {
    // SAFETY: per the caller.
    unsafe {
        recvfrom(
            fd,
            buf,
            len,
            flags,
            core::ptr::null_mut(),
            core::ptr::null_mut(),
        )
    }
}

/// `sendmsg(2)`: the buffers gathered into one send (one datagram), no
/// control messages.
///
/// # Safety
/// `msg` must be a valid `msghdr` whose buffers are valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sendmsg(fd: CInt, msg: *const MsgHdr, flags: CInt) -> CLong {
    traced!("sendmsg"(fd, msg, flags) {
    if msg.is_null() {
        return errno::fail(code::EFAULT);
    }
    // SAFETY: per the caller.
    let msg = unsafe { &*msg };
    let count = CInt::try_from(msg.iov_len).unwrap_or(CInt::MAX);
    // SAFETY: per the caller.
    let Some(vectors) = (unsafe { io_vectors(msg.iov, count) }) else {
        return errno::fail(code::EMSGSIZE);
    };
    let mut data = vec![];
    for v in vectors {
        // SAFETY: per the caller, each iovec is a valid buffer.
        data.extend_from_slice(unsafe { c_slice(v.base.cast_const().cast::<u8>(), v.len) });
    }
    // SAFETY: per the caller.
    unsafe { sendto(fd, data.as_ptr().cast(), data.len(), flags, msg.name, msg.name_len) }
    })
}

/// The most bytes one `recvmsg` takes (a datagram's largest size).
const RECVMSG_MAX: usize = 64 * 1024;

/// `recvmsg(2)`: one receive, scattered into the buffers; no control
/// messages.
///
/// # Safety
/// `msg` must be a valid `msghdr` whose buffers are valid and writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn recvmsg(fd: CInt, msg: *mut MsgHdr, flags: CInt) -> CLong {
    traced!("recvmsg"(fd, msg, flags) {
    if msg.is_null() {
        return errno::fail(code::EFAULT);
    }
    // SAFETY: per the caller.
    let msg = unsafe { &mut *msg };
    let count = CInt::try_from(msg.iov_len).unwrap_or(CInt::MAX);
    // SAFETY: per the caller.
    let Some(vectors) = (unsafe { io_vectors(msg.iov, count) }) else {
        return errno::fail(code::EMSGSIZE);
    };
    let total = vectors.iter().fold(0usize, |sum, v| sum.saturating_add(v.len));
    let mut data = vec![0u8; total.min(RECVMSG_MAX)];
    // SAFETY: `data` is a valid buffer; `msg.name` per the caller.
    let n = unsafe {
        recvfrom(fd, data.as_mut_ptr().cast(), data.len(), flags, msg.name, &raw mut msg.name_len)
    };
    if n < 0 {
        return n;
    }
    let mut rest = &data[..n as usize];
    for v in vectors {
        let take = rest.len().min(v.len);
        // SAFETY: per the caller, each iovec is a valid writable buffer.
        unsafe { c_slice_mut(v.base.cast::<u8>(), take) }.copy_from_slice(&rest[..take]);
        rest = &rest[take..];
    }
    msg.control_len = 0;
    msg.flags = 0;
    n
    })
}

/// `shutdown(2)`.
#[unsafe(no_mangle)]
pub extern "C" fn shutdown(fd: CInt, how: CInt) -> CInt {
    traced!("shutdown"(fd, how) {
    let how = match how {
        0 => Shutdown::Read,
        1 => Shutdown::Write,
        2 => Shutdown::Both,
        _ => return errno::fail(code::EINVAL),
    };
    result(fs::socket(fd).and_then(|(id, _)| net::shutdown(id, how)).map(|()| 0)) as CInt
    })
}

/// `setsockopt(2)`: timeouts take a `timeval`, the rest an `int`; options
/// without an effect here are kept for `getsockopt`.
///
/// # Safety
/// `value` must be valid for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn setsockopt(
    fd: CInt,
    level: CInt,
    name: CInt,
    value: *const c_void,
    len: u32,
) -> CInt {
    traced!("setsockopt"(fd, level, name, len) {
    if unix_socket::is_unix(fd) {
        // Buffer sizes, timeouts and the like change nothing here.
        return 0;
    }
    let (id, _) = match fs::socket(fd) {
        Ok(s) => s,
        Err(e) => return errno::fail(e.0),
    };
    if value.is_null() {
        return errno::fail(code::EFAULT);
    }
    let set = match (level, name) {
        (SOL_SOCKET, SO_RCVTIMEO | SO_SNDTIMEO) => {
            if (len as usize) < size_of::<Timeval>() {
                return errno::fail(code::EINVAL);
            }
            // SAFETY: per the caller, `len` covers a `timeval`.
            let tv = unsafe { value.cast::<Timeval>().read_unaligned() };
            if tv.sec < 0 || !(0..1_000_000).contains(&tv.usec) {
                return errno::fail(code::EINVAL);
            }
            let ns = (tv.sec as u64).saturating_mul(1_000_000_000).saturating_add(tv.usec as u64 * 1000);
            net::set_timeout(id, name == SO_RCVTIMEO, (ns > 0).then_some(ns))
        }
        _ => {
            if (len as usize) < size_of::<CInt>() {
                return errno::fail(code::EINVAL);
            }
            // SAFETY: per the caller, `len` covers an int.
            let v = unsafe { value.cast::<CInt>().read_unaligned() };
            net::set_option(id, level, name, v)
        }
    };
    result(set.map(|()| 0)) as CInt
    })
}

/// `getsockopt(2)`.
///
/// # Safety
/// `value` must be valid for `*len` bytes, `len` valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getsockopt(
    fd: CInt,
    level: CInt,
    name: CInt,
    value: *mut c_void,
    len: *mut u32,
) -> CInt {
    traced!("getsockopt"(fd, level, name) {
    if value.is_null() || len.is_null() {
        return errno::fail(code::EFAULT);
    }
    let mut bytes = [0u8; size_of::<Timeval>()];
    if unix_socket::is_unix(fd) {
        match unix_socket::option(level, name) {
            Ok(v) => bytes[..4].copy_from_slice(&v.to_ne_bytes()),
            Err(e) => return errno::fail(e.0),
        }
        // SAFETY: per the caller.
        return unsafe { copy_option(&bytes[..size_of::<CInt>()], value, len) };
    }
    let (id, _) = match fs::socket(fd) {
        Ok(s) => s,
        Err(e) => return errno::fail(e.0),
    };
    let size = match (level, name) {
        (SOL_SOCKET, SO_RCVTIMEO | SO_SNDTIMEO) => match net::timeout(id, name == SO_RCVTIMEO) {
            Ok(ns) => {
                let ns = ns.unwrap_or(0);
                let tv = Timeval {
                    sec: (ns / 1_000_000_000) as i64,
                    usec: (ns % 1_000_000_000 / 1000) as i64,
                };
                bytes[..8].copy_from_slice(&tv.sec.to_ne_bytes());
                bytes[8..].copy_from_slice(&tv.usec.to_ne_bytes());
                size_of::<Timeval>()
            }
            Err(e) => return errno::fail(e.0),
        },
        _ => match net::option(id, level, name) {
            Ok(v) => {
                bytes[..4].copy_from_slice(&v.to_ne_bytes());
                size_of::<CInt>()
            }
            Err(e) => return errno::fail(e.0),
        },
    };
    // SAFETY: per the caller.
    unsafe { copy_option(&bytes[..size], value, len) }
    })
}

/// Copies an option's bytes to `value` of `*len` bytes (truncated, as on
/// Linux), and how many were copied to `*len`; returns 0.
///
/// # Safety
/// `value` must be valid for `*len` bytes, `len` valid.
unsafe fn copy_option(bytes: &[u8], value: *mut c_void, len: *mut u32) -> CInt {
    // SAFETY: per the caller.
    let room = unsafe { len.read() } as usize;
    let n = room.min(bytes.len());
    // SAFETY: `value` holds `room` bytes, per the caller.
    unsafe {
        core::ptr::copy_nonoverlapping(bytes.as_ptr(), value.cast::<u8>(), n);
        len.write(n as u32);
    }
    0
}

/// `getsockname(2)`.
///
/// # Safety
/// `addr` must be valid for `*len` bytes, `len` valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getsockname(fd: CInt, addr: *mut c_void, len: *mut u32) -> CInt {
    traced!("getsockname"(fd, addr) {
    if addr.is_null() || len.is_null() {
        return errno::fail(code::EFAULT);
    }
    if unix_socket::is_unix(fd) {
        let name = fs::unix_name(fd, false);
        // SAFETY: per the caller.
        return result(name.map(|n| unsafe { unix_socket::write_name(addr, len, &n) }).map(|()| 0)) as CInt;
    }
    let address = fs::socket(fd).and_then(|(id, _)| net::local_address(id));
    // SAFETY: per the caller.
    result(address.and_then(|a| unsafe { write_address(addr, len, a) }).map(|()| 0)) as CInt
    })
}

/// `getpeername(2)`.
///
/// # Safety
/// `addr` must be valid for `*len` bytes, `len` valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getpeername(fd: CInt, addr: *mut c_void, len: *mut u32) -> CInt {
    traced!("getpeername"(fd, addr) {
    if addr.is_null() || len.is_null() {
        return errno::fail(code::EFAULT);
    }
    if unix_socket::is_unix(fd) {
        let name = fs::unix_name(fd, true);
        // SAFETY: per the caller.
        return result(name.map(|n| unsafe { unix_socket::write_name(addr, len, &n) }).map(|()| 0)) as CInt;
    }
    let address = fs::socket(fd).and_then(|(id, _)| net::peer_address(id));
    // SAFETY: per the caller.
    result(address.and_then(|a| unsafe { write_address(addr, len, a) }).map(|()| 0)) as CInt
    })
}

/// `struct addrinfo`.
#[repr(C)]
pub struct AddrInfo {
    flags: CInt,
    family: CInt,
    kind: CInt,
    protocol: CInt,
    addr_len: u32,
    addr: *mut c_void,
    canonname: *mut c_char,
    next: *mut AddrInfo,
}

/// One `getaddrinfo` answer: the `addrinfo` and its address, freed together.
#[repr(C)]
struct Answer {
    info: AddrInfo,
    address: Sockaddr,
}

// `getaddrinfo`'s errors, glibc's numbers.
const EAI_BADFLAGS: CInt = -1;
const EAI_NONAME: CInt = -2;
const EAI_AGAIN: CInt = -3;
const EAI_FAIL: CInt = -4;
const EAI_NODATA: CInt = -5;
const EAI_FAMILY: CInt = -6;
const EAI_SOCKTYPE: CInt = -7;
const EAI_SERVICE: CInt = -8;
const EAI_ADDRFAMILY: CInt = -9;
const EAI_MEMORY: CInt = -10;
const EAI_SYSTEM: CInt = -11;
const EAI_OVERFLOW: CInt = -12;

const AF_UNSPEC: CInt = 0;
const AI_PASSIVE: CInt = 1;
const AI_NUMERICHOST: CInt = 4;
const AI_V4MAPPED: CInt = 8;

/// `getaddrinfo(3)`: numeric hosts (IPv4 or IPv6), `localhost`, then
/// names from `/etc/hosts` or the DNS server (`kiln_libos::net::resolve`,
/// IPv4 records), one answer per address. `AI_NUMERICHOST` never looks a
/// name up. Without a family, names and the wildcard are IPv4 only: the
/// guest's one IPv6 address is `::1`, and an IPv4 server bound to
/// `0.0.0.0` would be offered connections to `::1` first, as glibc
/// sorts them.
///
/// # Safety
/// `node` and `service` must be null or C strings; `hints` null or valid;
/// `res` valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getaddrinfo(
    node: *const c_char,
    service: *const c_char,
    hints: *const AddrInfo,
    res: *mut *mut AddrInfo,
) -> CInt {
    traced!("getaddrinfo"(node, service) {
    if res.is_null() {
        return EAI_NONAME;
    }
    // SAFETY: per the caller.
    let hints = unsafe { hints.as_ref() };
    let family = hints.map_or(AF_UNSPEC, |h| h.family);
    let v6 = match u16::try_from(family) {
        Ok(0) => false,
        Ok(AF_INET) => false,
        Ok(AF_INET6) => true,
        _ => return EAI_FAMILY,
    };
    if node.is_null() && service.is_null() {
        return EAI_NONAME;
    }
    // Without a service: port 0 (std sets the port itself). Checked first,
    // so a bad service costs no lookup.
    let port = if service.is_null() {
        0
    } else {
        // SAFETY: per the caller, a C string.
        let service = unsafe { core::ffi::CStr::from_ptr(service) }.to_bytes();
        match core::str::from_utf8(service).ok().and_then(|s| s.parse::<u16>().ok()) {
            Some(port) => port,
            None => return EAI_NONAME,
        }
    };
    let flags = hints.map_or(0, |h| h.flags);
    // Without a node: the wildcard address for a server, else loopback.
    let addresses = if node.is_null() {
        vec![match (flags & AI_PASSIVE != 0, v6) {
            (true, false) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            (true, true) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            (false, false) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            (false, true) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        }]
    } else {
        // SAFETY: per the caller, a C string.
        let node = unsafe { core::ffi::CStr::from_ptr(node) }.to_bytes();
        match addresses(node, flags & AI_NUMERICHOST != 0, v6) {
            Ok(addresses) => addresses,
            Err(error) => return error,
        }
    };
    // The family asked for: IPv4 answers for IPv6 only as mapped addresses
    // (`AI_V4MAPPED`); IPv6 ones never for IPv4.
    let addresses: alloc::vec::Vec<IpAddr> = match u16::try_from(family) {
        Ok(AF_INET6) => addresses
            .into_iter()
            .filter_map(|ip| match ip {
                IpAddr::V4(v4) if flags & AI_V4MAPPED != 0 => Some(IpAddr::V6(v4.to_ipv6_mapped())),
                IpAddr::V4(_) => None,
                v6 => Some(v6),
            })
            .collect(),
        Ok(AF_INET) => addresses.into_iter().filter(IpAddr::is_ipv4).collect(),
        _ => addresses,
    };
    if addresses.is_empty() {
        return EAI_ADDRFAMILY;
    }
    let kind = hints.map_or(SOCK_STREAM, |h| if h.kind == 0 { SOCK_STREAM } else { h.kind });
    let mut list: *mut AddrInfo = core::ptr::null_mut();
    // Built from the last address back, so the list keeps their order.
    for ip in addresses.iter().rev() {
        let answer = crate::malloc::malloc(size_of::<Answer>()).cast::<Answer>();
        if answer.is_null() {
            // SAFETY: a list this function built.
            unsafe { freeaddrinfo(list) };
            return EAI_MEMORY;
        }
        let (address, addr_len) = Sockaddr::new(SocketAddr::new(*ip, port));
        // SAFETY: fresh memory for an `Answer` (malloc aligns to 16).
        unsafe {
            answer.write(Answer {
                info: AddrInfo {
                    flags: 0,
                    family: CInt::from(if ip.is_ipv6() { AF_INET6 } else { AF_INET }),
                    kind,
                    protocol: if kind == SOCK_DGRAM { IPPROTO_UDP } else { IPPROTO_TCP },
                    addr_len: addr_len as u32,
                    addr: (&raw mut (*answer).address).cast(),
                    canonname: core::ptr::null_mut(),
                    next: list,
                },
                address,
            });
        }
        list = answer.cast();
    }
    // SAFETY: per the caller.
    unsafe { res.write(list) };
    0
    })
}

/// The addresses of `node`: numeric, `localhost` (`::1` when `v6` is
/// asked for), or (unless `numeric_only`) looked up; else the `EAI_*`
/// error.
fn addresses(
    node: &[u8],
    numeric_only: bool,
    v6: bool,
) -> core::result::Result<alloc::vec::Vec<IpAddr>, CInt> {
    if node == b"localhost" {
        return Ok(vec![if v6 {
            IpAddr::V6(Ipv6Addr::LOCALHOST)
        } else {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        }]);
    }
    let name = core::str::from_utf8(node).map_err(|_| EAI_NONAME)?;
    if let Ok(ip) = name.parse() {
        return Ok(vec![ip]);
    }
    if numeric_only {
        return Err(EAI_NONAME);
    }
    let found = net::resolve(name, &resolver_options()).map_err(|error| match error {
        LookupError::NotFound => EAI_NONAME,
        LookupError::NoAnswer => EAI_AGAIN,
    })?;
    Ok(found.into_iter().map(IpAddr::V4).collect())
}

/// The resolver's timeout and attempts, changed as glibc lets `RES_OPTIONS`
/// change them (`timeout:N` seconds, at most 30; `attempts:N`, at most 5).
fn resolver_options() -> ResolverOptions {
    let mut options = ResolverOptions::default();
    let text = crate::stdlib::var(b"RES_OPTIONS").unwrap_or_default();
    for option in text.split(u8::is_ascii_whitespace) {
        let Some((name, value)) = core::str::from_utf8(option)
            .ok()
            .and_then(|o| o.split_once(':'))
        else {
            continue;
        };
        let Ok(value) = value.parse::<u32>() else {
            continue;
        };
        match name {
            "timeout" => options.timeout_ns = u64::from(value.clamp(1, 30)) * 1_000_000_000,
            "attempts" => options.attempts = value.clamp(1, 5),
            _ => {}
        }
    }
    options
}

/// `freeaddrinfo(3)`.
///
/// # Safety
/// `info` must come from [`getaddrinfo`] (or be null).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn freeaddrinfo(info: *mut AddrInfo) {
    let mut info = info;
    // Each answer is one allocation, its address included.
    while !info.is_null() {
        // SAFETY: per the caller, a list from `getaddrinfo`, each answer
        // from `malloc`.
        unsafe {
            let next = (*info).next;
            crate::malloc::free(info.cast());
            info = next;
        }
    }
}

/// `gai_strerror(3)`: glibc's messages.
#[unsafe(no_mangle)]
pub extern "C" fn gai_strerror(error: CInt) -> *const c_char {
    match error {
        EAI_BADFLAGS => c"Bad value for ai_flags".as_ptr(),
        EAI_NONAME => c"Name or service not known".as_ptr(),
        EAI_AGAIN => c"Temporary failure in name resolution".as_ptr(),
        EAI_FAIL => c"Non-recoverable failure in name resolution".as_ptr(),
        EAI_NODATA => c"No address associated with hostname".as_ptr(),
        EAI_FAMILY => c"ai_family not supported".as_ptr(),
        EAI_SOCKTYPE => c"ai_socktype not supported".as_ptr(),
        EAI_SERVICE => c"Servname not supported for ai_socktype".as_ptr(),
        EAI_ADDRFAMILY => c"Address family for hostname not supported".as_ptr(),
        EAI_MEMORY => c"Memory allocation failure".as_ptr(),
        EAI_SYSTEM => c"System error".as_ptr(),
        EAI_OVERFLOW => c"Argument buffer overflow".as_ptr(),
        _ => c"Unknown error".as_ptr(),
    }
}

/// `res_init(3)`, which `std` calls after a failed lookup so that a
/// changed `/etc/resolv.conf` is read again: there is nothing to reload.
#[unsafe(no_mangle)]
pub extern "C" fn __res_init() -> CInt {
    0
}
