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
            // A tick came during the section: its time slice is over.
            #[cfg(feature = "threads")]
            crate::sched::yield_now();
        }
    }
}

/// A spinlock that also disables preemption while held. On one vCPU it is
/// never contended (nothing can preempt the holder); the spin is there for
/// when threads run on several vCPUs.
#[cfg(feature = "heap")]
pub struct RawLock {
    lock: spinning_top::RawSpinlock,
}

#[cfg(feature = "heap")]
// SAFETY: the inner spinlock provides the mutual exclusion; preemption is
// disabled before it is taken and enabled after it is released.
unsafe impl lock_api::RawMutex for RawLock {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = Self {
        lock: <spinning_top::RawSpinlock as lock_api::RawMutex>::INIT,
    };

    type GuardMarker = lock_api::GuardNoSend;

    #[inline]
    fn lock(&self) {
        preempt::disable();
        self.lock.lock();
    }

    #[inline]
    fn try_lock(&self) -> bool {
        preempt::disable();
        let locked = self.lock.try_lock();
        if !locked {
            leave();
        }
        locked
    }

    #[inline]
    unsafe fn unlock(&self) {
        // SAFETY: per the caller, this context holds the lock.
        unsafe { self.lock.unlock() };
        leave();
    }
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
