//! glibc functions and constants the `libc` crate does not declare for
//! Linux.

use std::ffi::{c_char, c_int};

use libc::{
    clockid_t, pthread_attr_t, pthread_cond_t, pthread_mutex_t, pthread_rwlock_t, sem_t, timespec,
};

pub const PTHREAD_RWLOCK_PREFER_READER_NP: c_int = 0;
pub const PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP: c_int = 2;
pub const PTHREAD_PRIO_INHERIT: c_int = 1;
pub const PTHREAD_MUTEX_ROBUST: c_int = 1;
pub const PTHREAD_EXPLICIT_SCHED: c_int = 1;
pub const PTHREAD_SCOPE_SYSTEM: c_int = 0;
pub const PTHREAD_SCOPE_PROCESS: c_int = 1;
pub const PTHREAD_CANCEL_ENABLE: c_int = 0;
pub const PTHREAD_CANCEL_DISABLE: c_int = 1;
pub const PTHREAD_CANCEL_ASYNCHRONOUS: c_int = 1;

unsafe extern "C" {
    pub fn pthread_mutex_clocklock(
        mutex: *mut pthread_mutex_t,
        clock: clockid_t,
        abstime: *const timespec,
    ) -> c_int;
    pub fn pthread_cond_clockwait(
        cond: *mut pthread_cond_t,
        mutex: *mut pthread_mutex_t,
        clock: clockid_t,
        abstime: *const timespec,
    ) -> c_int;
    pub fn pthread_rwlock_timedrdlock(
        lock: *mut pthread_rwlock_t,
        abstime: *const timespec,
    ) -> c_int;
    pub fn pthread_rwlock_timedwrlock(
        lock: *mut pthread_rwlock_t,
        abstime: *const timespec,
    ) -> c_int;
    pub fn pthread_rwlock_clockrdlock(
        lock: *mut pthread_rwlock_t,
        clock: clockid_t,
        abstime: *const timespec,
    ) -> c_int;
    pub fn pthread_rwlock_clockwrlock(
        lock: *mut pthread_rwlock_t,
        clock: clockid_t,
        abstime: *const timespec,
    ) -> c_int;
    pub fn sem_clockwait(sem: *mut sem_t, clock: clockid_t, abstime: *const timespec) -> c_int;
    pub fn pthread_setcancelstate(state: c_int, old: *mut c_int) -> c_int;
    pub fn pthread_setcanceltype(kind: c_int, old: *mut c_int) -> c_int;
    pub fn pthread_attr_setscope(attr: *mut pthread_attr_t, scope: c_int) -> c_int;
    pub fn pthread_attr_getscope(attr: *const pthread_attr_t, scope: *mut c_int) -> c_int;
    pub fn pthread_attr_getdetachstate(attr: *const pthread_attr_t, state: *mut c_int) -> c_int;
    pub fn pthread_mutexattr_gettype(
        attr: *const libc::pthread_mutexattr_t,
        kind: *mut c_int,
    ) -> c_int;
    pub fn sem_unlink(name: *const c_char) -> c_int;
}
