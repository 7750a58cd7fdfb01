//! Reader-writer locks (`pthread_rwlock_*`, `pthread_rwlockattr_*`).
//!
//! The state word counts the readers or marks a writer. Blocked threads
//! sleep on a sequence word that every release bumps (an "event count"): a
//! waiter reads the sequence before checking the state once more, so a
//! release between that check and the sleep changes the word and the sleep
//! ends at once. As in glibc, readers go first unless the lock is of kind
//! `PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP`, where a waiting writer
//! holds new readers back.
//!
//! The 56-byte `pthread_rwlock_t` keeps glibc's offsets for the writer's
//! thread id (24) and the kind (48), so `PTHREAD_RWLOCK_INITIALIZER` (all
//! zeros) and the writer-preferring static initialiser work.

use core::ffi::c_void;
use core::sync::atomic::{AtomicI32, AtomicU32, Ordering};

use crate::CInt;
use crate::errno::code;
use crate::futex;
use crate::thread;
use crate::time::{CLOCK_REALTIME, Timespec};

/// Kiln's layout of a `pthread_rwlock_t`.
#[repr(C)]
struct RwLock {
    /// The number of readers, or [`WRITE_LOCKED`].
    state: AtomicU32,
    /// Threads asleep (or about to sleep) on `sequence`.
    waiters: AtomicU32,
    /// Writers waiting for the lock.
    writers_waiting: AtomicU32,
    /// Bumped by every release that may let a waiter in.
    sequence: AtomicU32,
    unused1: [u32; 2],
    /// The writer's thread id, 0 when no thread writes.
    writer: AtomicI32,
    shared: AtomicU32,
    unused2: [u32; 4],
    kind: AtomicU32,
    unused3: u32,
}

const _: () = assert!(size_of::<RwLock>() == 56);

const WRITE_LOCKED: u32 = u32::MAX;
/// The most readers at once; one more is `EAGAIN`.
const MAX_READERS: u32 = u32::MAX - 1;

const PTHREAD_RWLOCK_PREFER_READER: CInt = 0;
const PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE: CInt = 2;
const PTHREAD_PROCESS_SHARED: CInt = 1;

/// glibc's `pthread_rwlockattr_t`.
#[repr(C)]
struct Attributes {
    kind: CInt,
    shared: CInt,
}

/// The calling thread's id, which the lock records for its writer.
fn my_id() -> CInt {
    // SAFETY: the current thread's live TCB; its id never changes.
    unsafe { (*thread::current()).id }
}

impl RwLock {
    /// # Safety
    /// `lock` must be valid for a `pthread_rwlock_t` used only through
    /// these functions while the reference lives.
    unsafe fn from_c<'a>(lock: *mut c_void) -> &'a RwLock {
        // SAFETY: per the caller; the layout is a pthread_rwlock_t's.
        unsafe { &*lock.cast::<RwLock>() }
    }

    fn prefers_writers(&self) -> bool {
        self.kind.load(Ordering::Relaxed) == PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE as u32
    }

    /// A read lock without waiting: `EBUSY` or `EAGAIN` when none is had.
    fn try_read(&self) -> Result<(), CInt> {
        let mut state = self.state.load(Ordering::SeqCst);
        loop {
            if state == WRITE_LOCKED
                || (self.prefers_writers() && self.writers_waiting.load(Ordering::SeqCst) > 0)
            {
                return Err(code::EBUSY);
            }
            if state == MAX_READERS {
                return Err(code::EAGAIN);
            }
            match self.state.compare_exchange_weak(
                state,
                state + 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return Ok(()),
                Err(now) => state = now,
            }
        }
    }

    /// The write lock without waiting: `EBUSY` when held.
    fn try_write(&self) -> Result<(), CInt> {
        self.state
            .compare_exchange(0, WRITE_LOCKED, Ordering::SeqCst, Ordering::SeqCst)
            .map(|_| self.writer.store(my_id(), Ordering::Relaxed))
            .map_err(|_| code::EBUSY)
    }

    /// Retries `attempt` until it stops failing with `EBUSY`, sleeping
    /// between tries until a release or `deadline`.
    fn wait_for(
        &self,
        attempt: impl Fn(&Self) -> Result<(), CInt>,
        deadline: futex::Deadline,
    ) -> Result<(), CInt> {
        loop {
            match attempt(self) {
                Err(code::EBUSY) => {}
                done => return done,
            }
            self.waiters.fetch_add(1, Ordering::SeqCst);
            let sequence = self.sequence.load(Ordering::SeqCst);
            let slept = match attempt(self) {
                Err(code::EBUSY) => futex::wait(&self.sequence, sequence, deadline),
                done => {
                    self.waiters.fetch_sub(1, Ordering::SeqCst);
                    return done;
                }
            };
            self.waiters.fetch_sub(1, Ordering::SeqCst);
            if slept.is_err() {
                return Err(code::ETIMEDOUT);
            }
        }
    }

    /// Lets waiters look at the state again after it changed.
    fn notify(&self) {
        self.sequence.fetch_add(1, Ordering::SeqCst);
        if self.waiters.load(Ordering::SeqCst) > 0 {
            futex::wake(&self.sequence, usize::MAX);
        }
    }

    fn read(&self, deadline: futex::Deadline) -> CInt {
        if self.writer.load(Ordering::Relaxed) == my_id() {
            return code::EDEADLK;
        }
        match self.wait_for(Self::try_read, deadline) {
            Ok(()) => 0,
            Err(error) => error,
        }
    }

    fn write(&self, deadline: futex::Deadline) -> CInt {
        if self.writer.load(Ordering::Relaxed) == my_id() {
            return code::EDEADLK;
        }
        if self.try_write().is_ok() {
            return 0;
        }
        self.writers_waiting.fetch_add(1, Ordering::SeqCst);
        let result = self.wait_for(Self::try_write, deadline);
        self.writers_waiting.fetch_sub(1, Ordering::SeqCst);
        match result {
            Ok(()) => 0,
            Err(error) => {
                // Readers held back by this writer may go now.
                self.notify();
                error
            }
        }
    }

    fn unlock(&self) {
        if self.state.load(Ordering::Relaxed) == WRITE_LOCKED {
            self.writer.store(0, Ordering::Relaxed);
            self.state.store(0, Ordering::SeqCst);
            self.notify();
        } else if self.state.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.notify();
        }
    }
}

/// The deadline of a timed lock: `EINVAL` for a bad clock or timespec,
/// checked before anything else, as glibc does.
///
/// # Safety
/// `abstime` a valid timespec.
unsafe fn deadline_of(clock: CInt, abstime: *const Timespec) -> Result<futex::Deadline, CInt> {
    // SAFETY: per the caller.
    futex::deadline(clock, unsafe { &*abstime })
}

/// `pthread_rwlock_init(3)`.
///
/// # Safety
/// `lock` valid for a `pthread_rwlock_t`; `attr` null or from
/// `pthread_rwlockattr_init`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_rwlock_init(lock: *mut c_void, attr: *const c_void) -> CInt {
    // SAFETY: per the caller.
    let (kind, shared) = match unsafe { attr.cast::<Attributes>().as_ref() } {
        Some(attr) => (attr.kind, attr.shared),
        None => (PTHREAD_RWLOCK_PREFER_READER, 0),
    };
    // SAFETY: per the caller.
    unsafe {
        lock.cast::<RwLock>().write(RwLock {
            state: AtomicU32::new(0),
            waiters: AtomicU32::new(0),
            writers_waiting: AtomicU32::new(0),
            sequence: AtomicU32::new(0),
            unused1: [0; 2],
            writer: AtomicI32::new(0),
            shared: AtomicU32::new(shared as u32),
            unused2: [0; 4],
            kind: AtomicU32::new(kind as u32),
            unused3: 0,
        })
    };
    0
}

/// `pthread_rwlock_destroy(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn pthread_rwlock_destroy(_lock: *mut c_void) -> CInt {
    0
}

/// `pthread_rwlock_rdlock(3)`: `EDEADLK` when the caller writes.
///
/// # Safety
/// `lock` an initialised `pthread_rwlock_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_rwlock_rdlock(lock: *mut c_void) -> CInt {
    // SAFETY: per the caller.
    unsafe { RwLock::from_c(lock) }.read(futex::FOREVER)
}

/// `pthread_rwlock_tryrdlock(3)`: `EBUSY` when a writer holds the lock.
///
/// # Safety
/// `lock` an initialised `pthread_rwlock_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_rwlock_tryrdlock(lock: *mut c_void) -> CInt {
    // SAFETY: per the caller.
    match unsafe { RwLock::from_c(lock) }.try_read() {
        Ok(()) => 0,
        Err(error) => error,
    }
}

/// `pthread_rwlock_timedrdlock(3)`, on `CLOCK_REALTIME`.
///
/// # Safety
/// `lock` an initialised `pthread_rwlock_t`; `abstime` a valid timespec.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_rwlock_timedrdlock(
    lock: *mut c_void,
    abstime: *const Timespec,
) -> CInt {
    // SAFETY: per the caller.
    unsafe { pthread_rwlock_clockrdlock(lock, CLOCK_REALTIME, abstime) }
}

/// `pthread_rwlock_clockrdlock(3)`.
///
/// # Safety
/// As for [`pthread_rwlock_timedrdlock`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_rwlock_clockrdlock(
    lock: *mut c_void,
    clock: CInt,
    abstime: *const Timespec,
) -> CInt {
    traced!("pthread_rwlock_clockrdlock"(lock, clock, abstime) {
    // SAFETY: per the caller.
    match unsafe { deadline_of(clock, abstime) } {
        // SAFETY: per the caller.
        Ok(deadline) => unsafe { RwLock::from_c(lock) }.read(deadline),
        Err(error) => error,
    }
    })
}

/// `pthread_rwlock_wrlock(3)`: `EDEADLK` when the caller already writes.
///
/// # Safety
/// `lock` an initialised `pthread_rwlock_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_rwlock_wrlock(lock: *mut c_void) -> CInt {
    // SAFETY: per the caller.
    unsafe { RwLock::from_c(lock) }.write(futex::FOREVER)
}

/// `pthread_rwlock_trywrlock(3)`: `EBUSY` when anyone holds the lock.
///
/// # Safety
/// `lock` an initialised `pthread_rwlock_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_rwlock_trywrlock(lock: *mut c_void) -> CInt {
    // SAFETY: per the caller.
    match unsafe { RwLock::from_c(lock) }.try_write() {
        Ok(()) => 0,
        Err(error) => error,
    }
}

/// `pthread_rwlock_timedwrlock(3)`, on `CLOCK_REALTIME`.
///
/// # Safety
/// `lock` an initialised `pthread_rwlock_t`; `abstime` a valid timespec.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_rwlock_timedwrlock(
    lock: *mut c_void,
    abstime: *const Timespec,
) -> CInt {
    // SAFETY: per the caller.
    unsafe { pthread_rwlock_clockwrlock(lock, CLOCK_REALTIME, abstime) }
}

/// `pthread_rwlock_clockwrlock(3)`.
///
/// # Safety
/// As for [`pthread_rwlock_timedwrlock`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_rwlock_clockwrlock(
    lock: *mut c_void,
    clock: CInt,
    abstime: *const Timespec,
) -> CInt {
    traced!("pthread_rwlock_clockwrlock"(lock, clock, abstime) {
    // SAFETY: per the caller.
    match unsafe { deadline_of(clock, abstime) } {
        // SAFETY: per the caller.
        Ok(deadline) => unsafe { RwLock::from_c(lock) }.write(deadline),
        Err(error) => error,
    }
    })
}

/// `pthread_rwlock_unlock(3)`.
///
/// # Safety
/// `lock` an initialised `pthread_rwlock_t` the caller holds.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_rwlock_unlock(lock: *mut c_void) -> CInt {
    // SAFETY: per the caller.
    unsafe { RwLock::from_c(lock) }.unlock();
    0
}

/// `pthread_rwlockattr_init(3)`: readers first, private.
///
/// # Safety
/// `attr` valid for a `pthread_rwlockattr_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_rwlockattr_init(attr: *mut c_void) -> CInt {
    // SAFETY: per the caller; Attributes is a pthread_rwlockattr_t.
    unsafe {
        attr.cast::<Attributes>().write(Attributes {
            kind: PTHREAD_RWLOCK_PREFER_READER,
            shared: 0,
        })
    };
    0
}

/// `pthread_rwlockattr_destroy(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn pthread_rwlockattr_destroy(_attr: *mut c_void) -> CInt {
    0
}

/// `pthread_rwlockattr_setkind_np(3)`: reader or writer preference
/// (`PTHREAD_RWLOCK_PREFER_WRITER_NP`, 1, behaves as readers first, as in
/// glibc).
///
/// # Safety
/// `attr` from `pthread_rwlockattr_init`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_rwlockattr_setkind_np(attr: *mut c_void, kind: CInt) -> CInt {
    if !(PTHREAD_RWLOCK_PREFER_READER..=PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE).contains(&kind) {
        return code::EINVAL;
    }
    // SAFETY: per the caller.
    unsafe { (*attr.cast::<Attributes>()).kind = kind };
    0
}

/// `pthread_rwlockattr_getkind_np(3)`.
///
/// # Safety
/// `attr` from `pthread_rwlockattr_init`; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_rwlockattr_getkind_np(
    attr: *const c_void,
    out: *mut CInt,
) -> CInt {
    // SAFETY: per the caller.
    unsafe { out.write((*attr.cast::<Attributes>()).kind) };
    0
}

/// `pthread_rwlockattr_setpshared(3)`.
///
/// # Safety
/// `attr` from `pthread_rwlockattr_init`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_rwlockattr_setpshared(attr: *mut c_void, pshared: CInt) -> CInt {
    if !(0..=PTHREAD_PROCESS_SHARED).contains(&pshared) {
        return code::EINVAL;
    }
    // SAFETY: per the caller.
    unsafe { (*attr.cast::<Attributes>()).shared = pshared };
    0
}

/// `pthread_rwlockattr_getpshared(3)`.
///
/// # Safety
/// `attr` from `pthread_rwlockattr_init`; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_rwlockattr_getpshared(
    attr: *const c_void,
    out: *mut CInt,
) -> CInt {
    // SAFETY: per the caller.
    unsafe { out.write((*attr.cast::<Attributes>()).shared) };
    0
}
