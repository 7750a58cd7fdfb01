//! Mutexes (`pthread_mutex_*`): normal, recursive and error-checking, on a
//! three-state futex lock word.
//!
//! A `pthread_mutex_t` keeps glibc's 40-byte layout: the lock word at 0,
//! the recursion count at 4, the owner's thread id at 8, the user count at
//! 12 and the kind at 16, so C's static initialisers (all zeros for a
//! default mutex, `PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP` and the like with
//! the kind set) describe the same mutex here.

use core::ffi::c_void;
use core::sync::atomic::{AtomicI32, AtomicU32, Ordering};

use super::mutex_attr;
use crate::CInt;
use crate::errno::code;
use crate::futex::{self, Lock};
use crate::thread;
use crate::time::{CLOCK_REALTIME, Timespec};

/// glibc's `struct __pthread_mutex_s`.
#[repr(C)]
pub(super) struct Mutex {
    lock: Lock,
    /// How many times the owner holds a recursive mutex.
    count: AtomicU32,
    /// The holder's thread id, 0 when free.
    owner: AtomicI32,
    /// Holders that have not unlocked: a mutex in use cannot be destroyed.
    users: AtomicU32,
    kind: AtomicI32,
    /// glibc's spin count, elision state and robust-list links: unused.
    unused: [u32; 5],
}

const _: () = assert!(size_of::<Mutex>() == 40);

pub(super) const PTHREAD_MUTEX_NORMAL: CInt = 0;
pub(super) const PTHREAD_MUTEX_RECURSIVE: CInt = 1;
pub(super) const PTHREAD_MUTEX_ERRORCHECK: CInt = 2;
/// glibc's `PTHREAD_MUTEX_ADAPTIVE_NP`: a normal mutex that spins first.
pub(super) const PTHREAD_MUTEX_ADAPTIVE: CInt = 3;
/// The kind bit of a process-shared mutex (one process: no difference).
const KIND_PSHARED: CInt = 128;
/// The kind `pthread_mutex_destroy` leaves, which no operation accepts.
const KIND_DESTROYED: CInt = -1;

/// How a mutex behaves when its holder locks or unlocks it again.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Normal,
    Recursive,
    ErrorCheck,
}

/// How long a lock may wait: forever, or until a deadline on a clock that
/// is only checked (as glibc does) when the lock has to wait.
#[derive(Clone, Copy)]
pub(super) enum Timeout<'a> {
    Forever,
    Until(CInt, &'a Timespec),
}

impl Timeout<'_> {
    fn deadline(self) -> Result<futex::Deadline, CInt> {
        match self {
            Timeout::Forever => Ok(futex::FOREVER),
            Timeout::Until(clock, abstime) => futex::deadline(clock, abstime),
        }
    }
}

/// The calling thread's id, which mutexes record as their owner.
fn my_id() -> CInt {
    // SAFETY: the current thread's live TCB; its id never changes.
    unsafe { (*thread::current()).id }
}

impl Mutex {
    /// The mutex behind a caller's `pthread_mutex_t`.
    ///
    /// # Safety
    /// `mutex` must be valid for a `pthread_mutex_t` that other threads
    /// touch only through these functions while the reference lives.
    pub(super) unsafe fn from_c<'a>(mutex: *mut c_void) -> &'a Mutex {
        // SAFETY: per the caller; the layout is a pthread_mutex_t's.
        unsafe { &*mutex.cast::<Mutex>() }
    }

    fn kind(&self) -> Option<Kind> {
        match self.kind.load(Ordering::Relaxed) & !KIND_PSHARED {
            PTHREAD_MUTEX_NORMAL | PTHREAD_MUTEX_ADAPTIVE => Some(Kind::Normal),
            PTHREAD_MUTEX_RECURSIVE => Some(Kind::Recursive),
            PTHREAD_MUTEX_ERRORCHECK => Some(Kind::ErrorCheck),
            _ => None,
        }
    }

    /// Takes the lock word, waiting if needed within `timeout`.
    fn acquire(&self, timeout: Timeout) -> Result<(), CInt> {
        if self.lock.try_lock() {
            return Ok(());
        }
        let deadline = timeout.deadline()?;
        self.lock
            .lock_until(deadline)
            .map_err(|futex::TimedOut| code::ETIMEDOUT)
    }

    /// Records the calling thread as the holder of the freshly taken lock.
    fn take(&self, me: CInt) {
        self.owner.store(me, Ordering::Relaxed);
        self.count.store(1, Ordering::Relaxed);
        self.users.fetch_add(1, Ordering::Relaxed);
    }

    /// `pthread_mutex_lock`, `timedlock` and `clocklock`.
    pub(super) fn lock(&self, timeout: Timeout) -> CInt {
        let Some(kind) = self.kind() else {
            return code::EINVAL;
        };
        let me = my_id();
        // Only the holder can have stored its own id, so a relaxed read
        // seeing `me` means the caller holds the mutex.
        let held = self.owner.load(Ordering::Relaxed) == me;
        match kind {
            Kind::Recursive if held => return self.recurse(),
            Kind::ErrorCheck if held => return code::EDEADLK,
            _ => {}
        }
        match self.acquire(timeout) {
            Ok(()) => {
                self.take(me);
                0
            }
            Err(error) => error,
        }
    }

    /// One more level of a recursive mutex the caller holds.
    fn recurse(&self) -> CInt {
        let count = self.count.load(Ordering::Relaxed);
        if count == u32::MAX {
            return code::EAGAIN;
        }
        self.count.store(count + 1, Ordering::Relaxed);
        0
    }

    /// `pthread_mutex_trylock`.
    fn try_lock(&self) -> CInt {
        let Some(kind) = self.kind() else {
            return code::EINVAL;
        };
        let me = my_id();
        if kind == Kind::Recursive && self.owner.load(Ordering::Relaxed) == me {
            return self.recurse();
        }
        if !self.lock.try_lock() {
            return code::EBUSY;
        }
        self.take(me);
        0
    }

    /// `pthread_mutex_unlock`: `EPERM` when a recursive or error-checking
    /// mutex is not the caller's; a normal one is not checked, as in glibc.
    pub(super) fn unlock(&self) -> CInt {
        let Some(kind) = self.kind() else {
            return code::EINVAL;
        };
        let held = self.owner.load(Ordering::Relaxed) == my_id();
        match kind {
            Kind::Recursive if !held => return code::EPERM,
            Kind::Recursive => {
                let count = self.count.load(Ordering::Relaxed) - 1;
                self.count.store(count, Ordering::Relaxed);
                if count != 0 {
                    return 0;
                }
            }
            Kind::ErrorCheck if !held || !self.lock.is_locked() => return code::EPERM,
            _ => {}
        }
        self.owner.store(0, Ordering::Relaxed);
        self.users.fetch_sub(1, Ordering::Relaxed);
        self.lock.unlock();
        0
    }
}

/// `pthread_mutex_init(3)`: `ENOTSUP` for a robust mutex, as glibc answers
/// on a kernel without robust futexes (Kiln cannot tell a locker that the
/// holder died).
///
/// # Safety
/// `mutex` valid for a `pthread_mutex_t`; `attr` null or from
/// `pthread_mutexattr_init`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_mutex_init(mutex: *mut c_void, attr: *const u32) -> CInt {
    traced!("pthread_mutex_init"(mutex, attr) {
    // SAFETY: per the caller.
    let attr = unsafe { attr.as_ref() }.copied().unwrap_or(0);
    if mutex_attr::robust(attr) {
        return code::ENOTSUP;
    }
    let shared = if mutex_attr::shared(attr) { KIND_PSHARED } else { 0 };
    // SAFETY: per the caller.
    unsafe {
        mutex.cast::<Mutex>().write(Mutex {
            lock: Lock::new(),
            count: AtomicU32::new(0),
            owner: AtomicI32::new(0),
            users: AtomicU32::new(0),
            kind: AtomicI32::new(mutex_attr::kind(attr) | shared),
            unused: [0; 5],
        })
    };
    0
    })
}

/// `pthread_mutex_destroy(3)`: `EBUSY` while locked, as glibc.
///
/// # Safety
/// `mutex` an initialised `pthread_mutex_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_mutex_destroy(mutex: *mut c_void) -> CInt {
    traced!("pthread_mutex_destroy"(mutex) {
    // SAFETY: per the caller.
    let mutex = unsafe { Mutex::from_c(mutex) };
    if mutex.users.load(Ordering::Relaxed) != 0 {
        return code::EBUSY;
    }
    mutex.kind.store(KIND_DESTROYED, Ordering::Relaxed);
    0
    })
}

/// `pthread_mutex_lock(3)`: `EDEADLK` for an error-checking mutex the
/// caller holds; a normal one deadlocks, as in glibc.
///
/// # Safety
/// `mutex` an initialised `pthread_mutex_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_mutex_lock(mutex: *mut c_void) -> CInt {
    // SAFETY: per the caller.
    unsafe { Mutex::from_c(mutex) }.lock(Timeout::Forever)
}

/// `pthread_mutex_trylock(3)`: `EBUSY` when held (by anyone, the caller
/// included, unless the mutex is recursive).
///
/// # Safety
/// `mutex` an initialised `pthread_mutex_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_mutex_trylock(mutex: *mut c_void) -> CInt {
    // SAFETY: per the caller.
    unsafe { Mutex::from_c(mutex) }.try_lock()
}

/// `pthread_mutex_timedlock(3)`: waits until `abstime` on `CLOCK_REALTIME`.
///
/// # Safety
/// `mutex` an initialised `pthread_mutex_t`; `abstime` a valid timespec.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_mutex_timedlock(
    mutex: *mut c_void,
    abstime: *const Timespec,
) -> CInt {
    // SAFETY: per the caller.
    unsafe { pthread_mutex_clocklock(mutex, CLOCK_REALTIME, abstime) }
}

/// `pthread_mutex_clocklock(3)`: `EINVAL` for a clock other than
/// `CLOCK_REALTIME` or `CLOCK_MONOTONIC`, or (only when it has to wait) a
/// timespec out of range.
///
/// # Safety
/// `mutex` an initialised `pthread_mutex_t`; `abstime` a valid timespec.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_mutex_clocklock(
    mutex: *mut c_void,
    clock: CInt,
    abstime: *const Timespec,
) -> CInt {
    traced!("pthread_mutex_clocklock"(mutex, clock, abstime) {
    if !futex::supported_clock(clock) {
        return code::EINVAL;
    }
    // SAFETY: per the caller.
    let (mutex, abstime) = unsafe { (Mutex::from_c(mutex), &*abstime) };
    mutex.lock(Timeout::Until(clock, abstime))
    })
}

/// `pthread_mutex_unlock(3)`.
///
/// # Safety
/// `mutex` an initialised `pthread_mutex_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_mutex_unlock(mutex: *mut c_void) -> CInt {
    // SAFETY: per the caller.
    unsafe { Mutex::from_c(mutex) }.unlock()
}

/// `pthread_mutex_consistent(3)`: no mutex here is robust, so none can be
/// inconsistent.
#[unsafe(no_mangle)]
pub extern "C" fn pthread_mutex_consistent(_mutex: *mut c_void) -> CInt {
    code::EINVAL
}
