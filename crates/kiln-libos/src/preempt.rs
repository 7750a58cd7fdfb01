//! Critical sections: library-OS code that a time-slice tick must not
//! interrupt.
//!
//! The library OS's shared state (the scheduler, the heap, the descriptor
//! table, the network stack, the console buffers) is not reentrant: a thread
//! preempted while changing it would leave it half-changed for the next
//! thread, or for the scheduler itself. Every such piece of state is reached
//! through a [`Lock`] or inside a [`NoPreempt`] section, which disables
//! preemption on this vCPU for its duration, as a spinlock does in Linux. A
//! tick that arrives meanwhile is held back and taken when the outermost
//! section ends. Code outside the sections (the program, `memcpy`, the
//! parts of the C library that touch no shared state) is preempted anywhere.

use core::sync::atomic::{AtomicU32, Ordering};

use crate::platform::preempt;

/// Preemption disabled on this vCPU while it lives; they nest.
pub struct NoPreempt(());

impl NoPreempt {
    /// Disables preemption until the value is dropped.
    #[inline]
    #[must_use]
    pub fn new() -> Self {
        preempt::disable();
        Self(())
    }
}

impl Default for NoPreempt {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for NoPreempt {
    #[inline]
    fn drop(&mut self) {
        if preempt::enable() {
            // A tick came during the section: its time slice is over, and
            // the scheduler's handler takes it now.
            preempt::run_handler();
        }
    }
}

/// The word behind the library OS's spinlocks: which vCPU holds it. A
/// holder runs with preemption disabled, so the only way one vCPU finds its
/// own lock taken is re-entry: a panic or an allocation failure reported
/// from inside the locked code. [`Holder::acquire`] tells that apart from
/// another vCPU holding it, instead of spinning forever.
pub struct Holder(AtomicU32);

impl Holder {
    /// Free.
    pub const fn new() -> Self {
        Self(AtomicU32::new(0))
    }

    /// This vCPU's mark: its number plus one (0 means free).
    fn me() -> u32 {
        crate::platform::vcpu_index() as u32 + 1
    }

    /// Takes it, waiting while another vCPU holds it; false, taking
    /// nothing, when this vCPU holds it already. Call with preemption
    /// disabled.
    pub fn acquire(&self) -> bool {
        let me = Self::me();
        let mut rounds = 0;
        loop {
            match self
                .0
                .compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(holder) if holder == me => return false,
                Err(_) => spin_wait(&mut rounds),
            }
        }
    }

    /// Takes it if it is free.
    #[cfg(feature = "heap")]
    fn try_acquire(&self) -> bool {
        self.0
            .compare_exchange(0, Self::me(), Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Gives it back (the caller holds it).
    pub fn release(&self) {
        self.0.store(0, Ordering::Release);
    }

    /// Whether this vCPU holds it. Meaningful with preemption enabled too:
    /// a holder cannot be preempted, so no other thread runs on its vCPU
    /// until it gives it back.
    #[cfg(feature = "heap")]
    fn held_here(&self) -> bool {
        self.0.load(Ordering::Relaxed) == Self::me()
    }
}

impl Default for Holder {
    fn default() -> Self {
        Self::new()
    }
}

/// A spinlock that also disables preemption while held, on a [`Holder`]:
/// [`lock_unless_reentered`] tells re-entry apart from another vCPU holding
/// it, and [`RawLock::lock`] reports re-entry rather than spin forever.
#[cfg(feature = "heap")]
pub struct RawLock {
    holder: Holder,
}

#[cfg(feature = "heap")]
// SAFETY: `holder` provides the mutual exclusion (acquire on taking,
// release on giving back); preemption is disabled before it is taken and
// enabled after it is released.
unsafe impl lock_api::RawMutex for RawLock {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = Self {
        holder: Holder::new(),
    };

    type GuardMarker = lock_api::GuardNoSend;

    #[inline]
    fn lock(&self) {
        preempt::disable();
        if !self.holder.acquire() {
            crate::platform::report_panic(
                b"a library-OS lock was taken again on the vCPU that holds it",
            );
        }
    }

    #[inline]
    fn try_lock(&self) -> bool {
        preempt::disable();
        let locked = self.holder.try_acquire();
        if !locked {
            leave();
        }
        locked
    }

    #[inline]
    unsafe fn unlock(&self) {
        self.holder.release();
        leave();
    }

    #[inline]
    fn is_locked(&self) -> bool {
        self.holder.0.load(Ordering::Relaxed) != 0
    }
}

/// One round of waiting for a spinlock another vCPU holds. Every few
/// hundred rounds the vCPU makes an exit: the holder's vCPU is a host
/// thread the host may have preempted (more vCPUs than free host CPUs),
/// and an exit lets the host run it instead of this one spinning away a
/// whole host time slice, as paravirtual spinlocks do in Linux guests.
#[inline]
pub fn spin_wait(rounds: &mut u32) {
    *rounds = rounds.wrapping_add(1);
    if rounds.is_multiple_of(SPINS_BEFORE_EXIT) {
        crate::platform::block_until(0);
    } else {
        core::hint::spin_loop();
    }
}

/// Rounds of [`spin_wait`] between exits: a few microseconds of spinning,
/// well over the time any library-OS lock is held.
const SPINS_BEFORE_EXIT: u32 = 2048;

/// Takes `lock`, waiting while another vCPU holds it; `None` if this vCPU
/// holds it already (the caller is reporting a failure from inside it).
#[cfg(feature = "heap")]
pub fn lock_unless_reentered<T>(lock: &Lock<T>) -> Option<lock_api::MutexGuard<'_, RawLock, T>> {
    // SAFETY: only reads the raw lock's holder.
    if unsafe { lock.raw() }.holder.held_here() {
        return None;
    }
    Some(lock.lock())
}

/// Whether this vCPU holds `lock` (see [`Holder::held_here`]).
#[cfg(feature = "heap")]
pub fn held_here<T>(lock: &Lock<T>) -> bool {
    // SAFETY: only reads the raw lock's holder.
    unsafe { lock.raw() }.holder.held_here()
}

/// Ends the critical section a [`RawLock`] opened, as its guard's drop
/// would (yielding if a tick came meanwhile).
#[cfg(feature = "heap")]
#[inline]
fn leave() {
    drop(NoPreempt(()));
}

/// A mutex over library-OS state: a [`RawLock`].
#[cfg(feature = "heap")]
pub type Lock<T> = lock_api::Mutex<RawLock, T>;
