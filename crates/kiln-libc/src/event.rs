//! Event descriptors (`sys/epoll.h`, `sys/eventfd.h`), as mio and tokio use
//! them: epoll instances and eventfd counters are descriptors of the
//! library OS's file table (`kiln_libos::fs`).

use alloc::vec;

use kiln_libos::fs::{self, Event};

use crate::errno::{self, code};
use crate::time::Timespec;
use crate::{CInt, c_slice_mut};

/// `struct epoll_event`: packed on x86_64, as glibc declares it.
#[repr(C, packed)]
#[derive(Clone, Copy)]
pub struct EpollEvent {
    events: u32,
    data: u64,
}

/// `EPOLL_CLOEXEC`, the one flag of `epoll_create1`.
const EPOLL_CLOEXEC: CInt = 0o2000000;

/// The most events one wait may ask for (Linux's `EP_MAX_EVENTS`).
const MAX_EVENTS: CInt = CInt::MAX / 12;

/// `epoll_create1(2)`.
#[unsafe(no_mangle)]
pub extern "C" fn epoll_create1(flags: CInt) -> CInt {
    traced!("epoll_create1"(flags) {
    if flags & !EPOLL_CLOEXEC != 0 {
        return errno::fail::<CInt>(code::EINVAL);
    }
    errno::check(fs::epoll_create(flags & EPOLL_CLOEXEC != 0)) as CInt
    })
}

/// `epoll_create(2)`: the size is only checked, as on Linux.
#[unsafe(no_mangle)]
pub extern "C" fn epoll_create(size: CInt) -> CInt {
    traced!("epoll_create"(size) {
    if size <= 0 {
        return errno::fail::<CInt>(code::EINVAL);
    }
    errno::check(fs::epoll_create(false)) as CInt
    })
}

/// `epoll_ctl(2)`.
///
/// # Safety
/// `event` must be null or valid for a read.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn epoll_ctl(
    epfd: CInt,
    op: CInt,
    fd: CInt,
    event: *const EpollEvent,
) -> CInt {
    traced!("epoll_ctl"(epfd, op, fd, event) {
    let (events, data) = if op == fs::epoll::EPOLL_CTL_DEL {
        (0, 0)
    } else if event.is_null() {
        return errno::fail::<CInt>(code::EFAULT);
    } else {
        // SAFETY: per the caller; packed, so read unaligned.
        let event = unsafe { event.read_unaligned() };
        (event.events, event.data)
    };
    errno::check(fs::epoll_ctl(epfd, op, fd, events, data).map(|()| 0)) as CInt
    })
}

/// The wait the epoll calls share: `deadline` in ns since boot.
///
/// # Safety
/// `events` must be valid for `max` writes.
unsafe fn wait(epfd: CInt, events: *mut EpollEvent, max: CInt, deadline: u64) -> CInt {
    if max <= 0 || max > MAX_EVENTS {
        return errno::fail::<CInt>(code::EINVAL);
    }
    if events.is_null() {
        return errno::fail::<CInt>(code::EFAULT);
    }
    let mut ready = vec![Event::default(); (max as usize).min(fs::MAX_FDS)];
    match fs::epoll_wait(epfd, &mut ready, deadline) {
        Ok(count) => {
            // SAFETY: per the caller.
            let out = unsafe { c_slice_mut(events, count) };
            for (slot, event) in out.iter_mut().zip(&ready[..count]) {
                *slot = EpollEvent {
                    events: event.events,
                    data: event.data,
                };
            }
            count as CInt
        }
        Err(fs::Errno(e)) => errno::fail::<CInt>(e),
    }
}

/// The deadline `timeout_ms` after now (none if negative).
fn deadline_ms(timeout_ms: CInt) -> u64 {
    match u64::try_from(timeout_ms) {
        Ok(ms) => now().saturating_add(ms.saturating_mul(1_000_000)),
        Err(_) => u64::MAX,
    }
}

fn now() -> u64 {
    kiln_libos::time::Instant::now().as_nanos_since_boot()
}

/// `epoll_wait(2)`.
///
/// # Safety
/// `events` must be valid for `max` writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn epoll_wait(
    epfd: CInt,
    events: *mut EpollEvent,
    max: CInt,
    timeout_ms: CInt,
) -> CInt {
    traced!("epoll_wait"(epfd, events, max, timeout_ms) {
    // SAFETY: per the caller.
    unsafe { wait(epfd, events, max, deadline_ms(timeout_ms)) }
    })
}

/// `epoll_pwait(2)`: signals are never delivered, so the mask changes nothing.
///
/// # Safety
/// `events` must be valid for `max` writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn epoll_pwait(
    epfd: CInt,
    events: *mut EpollEvent,
    max: CInt,
    timeout_ms: CInt,
    _sigmask: *const u64,
) -> CInt {
    traced!("epoll_pwait"(epfd, events, max, timeout_ms) {
    // SAFETY: per the caller.
    unsafe { wait(epfd, events, max, deadline_ms(timeout_ms)) }
    })
}

/// `epoll_pwait2(2)`: the timeout a `timespec` (null: none).
///
/// # Safety
/// `events` must be valid for `max` writes; `timeout` null or valid for a read.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn epoll_pwait2(
    epfd: CInt,
    events: *mut EpollEvent,
    max: CInt,
    timeout: *const Timespec,
    _sigmask: *const u64,
) -> CInt {
    traced!("epoll_pwait2"(epfd, events, max, timeout) {
    let deadline = if timeout.is_null() {
        u64::MAX
    } else {
        // SAFETY: per the caller.
        match unsafe { &*timeout }.to_duration() {
            Some(d) => now().saturating_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
            None => return errno::fail::<CInt>(code::EINVAL),
        }
    };
    // SAFETY: per the caller.
    unsafe { wait(epfd, events, max, deadline) }
    })
}

/// `eventfd(2)` (glibc's wrapper of `eventfd2`).
#[unsafe(no_mangle)]
pub extern "C" fn eventfd(initial: u32, flags: CInt) -> CInt {
    traced!("eventfd"(initial, flags) {
    errno::check(fs::eventfd(initial, flags)) as CInt
    })
}

/// `eventfd_read(3)`.
///
/// # Safety
/// `value` must be valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eventfd_read(fd: CInt, value: *mut u64) -> CInt {
    let mut buf = [0; 8];
    match fs::read(fd, &mut buf, None) {
        Ok(8) => {
            // SAFETY: per the caller.
            unsafe { value.write_unaligned(u64::from_ne_bytes(buf)) };
            0
        }
        Ok(_) => errno::fail::<CInt>(code::EINVAL),
        Err(fs::Errno(e)) => errno::fail::<CInt>(e),
    }
}

/// `eventfd_write(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn eventfd_write(fd: CInt, value: u64) -> CInt {
    match fs::write(fd, &value.to_ne_bytes(), None) {
        Ok(8) => 0,
        Ok(_) => errno::fail::<CInt>(code::EINVAL),
        Err(fs::Errno(e)) => errno::fail::<CInt>(e),
    }
}
