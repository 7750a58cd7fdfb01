//! Sockets: not provided yet (the networking layer adds them). Creating one
//! fails with `ENOSYS`, as on a kernel without networking; calls on a
//! descriptor fail with `EBADF`, since no descriptor can be a socket.

use core::ffi::c_void;

use crate::errno::{self, code};
use crate::{CInt, CLong};

/// `socketpair(2)`.
#[unsafe(no_mangle)]
pub extern "C" fn socketpair(_domain: CInt, _kind: CInt, _protocol: CInt, _fds: *mut CInt) -> CInt {
    traced!("socketpair"() {
    errno::fail(code::ENOSYS)
    })
}

/// `recv(2)`.
#[unsafe(no_mangle)]
pub extern "C" fn recv(_fd: CInt, _buf: *mut c_void, _len: usize, _flags: CInt) -> CLong {
    traced!("recv"() {
    errno::fail(code::EBADF)
    })
}

/// `recvmsg(2)`.
#[unsafe(no_mangle)]
pub extern "C" fn recvmsg(_fd: CInt, _msg: *mut c_void, _flags: CInt) -> CLong {
    traced!("recvmsg"() {
    errno::fail(code::EBADF)
    })
}

/// `sendmsg(2)`.
#[unsafe(no_mangle)]
pub extern "C" fn sendmsg(_fd: CInt, _msg: *const c_void, _flags: CInt) -> CLong {
    traced!("sendmsg"() {
    errno::fail(code::EBADF)
    })
}
