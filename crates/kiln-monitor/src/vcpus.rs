//! What the vCPU threads share about each other: which vCPUs the guest has
//! started, their wake-ups, and how the VM stops.
//!
//! Each vCPU runs on its own host thread. The guest starts the others
//! (`StartVcpu`): the call hands the registers to the vCPU's thread, which
//! waits for them. It wakes one idling in `Block` (`WakeVcpu`) through
//! that vCPU's eventfd, which `Block` polls; an eventfd keeps a wake sent
//! before the `Block`, so none is lost.
//!
//! Whatever ends the VM on one vCPU (exit, crash, violation, timeout, a
//! host error) ends it on all: the first outcome is kept, and every other
//! vCPU is told to leave ([`VcpuSet::finish`]): its `immediate_exit` is set
//! and its thread kicked out of `KVM_RUN` ([`crate::signals`]), its eventfd
//! ends its `Block`, and a vCPU the guest never started stops waiting.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicU8, AtomicU32, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use kiln_abi::hypercall::Hypercall;
use kvm_bindings::kvm_regs;

use crate::hypercall::Violation;
use crate::{BootError, Outcome};

/// How the VM ended: the guest's outcome, or a host failure.
pub type Ending = Result<Outcome, BootError>;

/// The VM's vCPUs, as their threads see each other.
pub struct VcpuSet {
    slots: Vec<Slot>,
    stopping: AtomicBool,
    ending: Mutex<Option<Ending>>,
    /// Notified (under `ending`) when the VM starts stopping, and when a
    /// vCPU starts running while all others were idle.
    stopped: Condvar,
    /// vCPUs started and not inside `Block`: while none is, the guest
    /// cannot write anything (the console thread sleeps).
    active: AtomicU32,
}

/// One vCPU.
struct Slot {
    /// The guest has started it (`StartVcpu`; vCPU 0 runs from the boot).
    started: AtomicBool,
    /// Its entry registers, from `StartVcpu` to its thread.
    entry: Mutex<Option<kvm_regs>>,
    entry_posted: Condvar,
    /// Readable while a wake is pending.
    wake: OwnedFd,
    /// It is inside a `Block` that waits for frames (set before the
    /// network device is looked at, so frames delivered at another vCPU's
    /// exit after that look are followed by a wake:
    /// [`VcpuSet::wake_frame_waiters`]).
    waits_for_frames: AtomicBool,
    /// Its thread (0 until the thread runs it).
    tid: AtomicI32,
    /// Its run page's `immediate_exit` byte.
    immediate_exit: AtomicPtr<u8>,
}

impl VcpuSet {
    /// `count` vCPUs (at least 1), of which vCPU 0 is running.
    pub fn new(count: u32) -> io::Result<Self> {
        let slots = (0..count)
            .map(|index| {
                // SAFETY: eventfd takes plain numbers and returns a new
                // descriptor, owned below, or -1.
                let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
                if fd < 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(Slot {
                    started: AtomicBool::new(index == 0),
                    entry: Mutex::new(None),
                    entry_posted: Condvar::new(),
                    // SAFETY: `fd` is a fresh descriptor no one else owns.
                    wake: unsafe { OwnedFd::from_raw_fd(fd) },
                    waits_for_frames: AtomicBool::new(false),
                    tid: AtomicI32::new(0),
                    immediate_exit: AtomicPtr::new(std::ptr::null_mut()),
                })
            })
            .collect::<io::Result<_>>()?;
        Ok(Self {
            slots,
            stopping: AtomicBool::new(false),
            ending: Mutex::new(None),
            stopped: Condvar::new(),
            active: AtomicU32::new(1),
        })
    }

    /// How many vCPUs the VM has.
    pub fn count(&self) -> u32 {
        self.slots.len() as u32
    }

    /// Registers the calling thread as vCPU `index`'s, and the vCPU's
    /// `immediate_exit` byte, which must stay mapped while `self` lives.
    pub fn enter(&self, index: u32, immediate_exit: *mut u8) {
        let slot = &self.slots[index as usize];
        slot.immediate_exit.store(immediate_exit, Ordering::SeqCst);
        // SAFETY: gettid has no preconditions.
        slot.tid.store(unsafe { libc::gettid() }, Ordering::SeqCst);
    }

    /// `StartVcpu`: claims vCPU `index` for its one start, then hands its
    /// entry registers to its thread.
    pub fn start(&self, index: u32, entry: kvm_regs) -> Result<(), Violation> {
        let slot = self.startable(index)?;
        // Two vCPUs may both have checked: only one claims it.
        if slot.started.swap(true, Ordering::SeqCst) {
            return Err(Violation::VcpuStarted(index));
        }
        *lock(&slot.entry) = Some(entry);
        slot.entry_posted.notify_one();
        self.now_active();
        Ok(())
    }

    /// A vCPU idles in `Block`.
    pub fn block_begins(&self) {
        self.active.fetch_sub(1, Ordering::SeqCst);
    }

    /// The vCPU that idled in `Block` runs the guest again.
    pub fn block_ends(&self) {
        self.now_active();
    }

    fn now_active(&self) {
        if self.active.fetch_add(1, Ordering::SeqCst) == 0 {
            // Under the lock, so a waiter between its check and its wait
            // cannot miss it.
            drop(lock(&self.ending));
            self.stopped.notify_all();
        }
    }

    /// Waits while every started vCPU idles in `Block`; returns whether
    /// the VM is stopping.
    pub fn wait_while_idle(&self) -> bool {
        let mut ending = lock(&self.ending);
        while !self.stopping() && self.active.load(Ordering::SeqCst) == 0 {
            ending = self
                .stopped
                .wait(ending)
                .unwrap_or_else(PoisonError::into_inner);
        }
        self.stopping()
    }

    /// Checks that vCPU `index` exists, is not the boot vCPU and was not
    /// started yet.
    pub fn check_startable(&self, index: u32) -> Result<(), Violation> {
        self.startable(index).map(drop)
    }

    fn startable(&self, index: u32) -> Result<&Slot, Violation> {
        let count = self.count();
        let slot =
            self.slots
                .get(index as usize)
                .filter(|_| index > 0)
                .ok_or(Violation::NoSuchVcpu {
                    call: Hypercall::StartVcpu,
                    index,
                    count,
                })?;
        if slot.started.load(Ordering::SeqCst) {
            return Err(Violation::VcpuStarted(index));
        }
        Ok(slot)
    }

    /// On vCPU `index`'s thread: waits for its entry registers; `None` if
    /// the VM stopped first.
    pub fn wait_for_start(&self, index: u32) -> Option<kvm_regs> {
        let slot = &self.slots[index as usize];
        let mut entry = lock(&slot.entry);
        loop {
            if self.stopping() {
                return None;
            }
            if let Some(regs) = entry.take() {
                return Some(regs);
            }
            entry = slot
                .entry_posted
                .wait(entry)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Whether the guest has started a vCPU besides the boot one: then its
    /// threads run on several, and a crash report names the vCPU.
    pub fn several_started(&self) -> bool {
        self.slots[1..]
            .iter()
            .any(|slot| slot.started.load(Ordering::SeqCst))
    }

    /// `WakeVcpu`: ends vCPU `index`'s `Block` now, or its next one.
    pub fn wake(&self, index: u32) -> Result<(), Violation> {
        let count = self.count();
        let slot = self
            .slots
            .get(index as usize)
            .ok_or(Violation::NoSuchVcpu {
                call: Hypercall::WakeVcpu,
                index,
                count,
            })?;
        signal_eventfd(&slot.wake);
        Ok(())
    }

    /// Marks vCPU `index` as inside a `Block` that waits for frames, or not.
    pub fn set_waits_for_frames(&self, index: u32, waits: bool) {
        self.slots[index as usize]
            .waits_for_frames
            .store(waits, Ordering::SeqCst);
    }

    /// Wakes every vCPU but `index` that waits for frames in `Block`: frames were
    /// just put in the guest's receive buffers at `index`'s exit, and a
    /// vCPU that looked at the device before cannot see them in its poll
    /// (the backend's descriptor is drained), while `index` goes back to
    /// whatever it was computing.
    pub fn wake_frame_waiters(&self, index: u32) {
        for (other, slot) in self.slots.iter().enumerate() {
            if other as u32 != index && slot.waits_for_frames.load(Ordering::SeqCst) {
                signal_eventfd(&slot.wake);
            }
        }
    }

    /// The descriptor vCPU `index`'s `Block` polls for wakes.
    pub fn wake_fd(&self, index: u32) -> RawFd {
        self.slots[index as usize].wake.as_raw_fd()
    }

    /// Consumes vCPU `index`'s pending wakes (after its `Block` saw one).
    pub fn take_wake(&self, index: u32) {
        let mut count = 0u64;
        // SAFETY: reads 8 bytes into `count`; the eventfd is non-blocking,
        // so an empty one fails with EAGAIN, which needs nothing done.
        unsafe { libc::read(self.wake_fd(index), (&raw mut count).cast(), 8) };
    }

    /// Whether the VM is stopping: the vCPU's thread must leave.
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Waits until the VM is stopping or `timeout` has passed; returns
    /// whether it is stopping.
    pub fn wait_stopping(&self, timeout: std::time::Duration) -> bool {
        let ending = lock(&self.ending);
        if self.stopping() {
            return true;
        }
        let _ending = self
            .stopped
            .wait_timeout(ending, timeout)
            .unwrap_or_else(PoisonError::into_inner);
        self.stopping()
    }

    /// Ends the VM with `ending`, unless it already ended (the first
    /// ending wins), and makes every vCPU's thread leave.
    pub fn finish(&self, ending: Ending) {
        let mut first = lock(&self.ending);
        first.get_or_insert(ending);
        self.stopping.store(true, Ordering::SeqCst);
        drop(first);
        self.stopped.notify_all();
        // SAFETY: gettid has no preconditions.
        let me = unsafe { libc::gettid() };
        for slot in &self.slots {
            // Set before the kick is read: a thread that registers later
            // sees `stopping` before it enters the guest.
            let flag = slot.immediate_exit.load(Ordering::SeqCst);
            if !flag.is_null() {
                // SAFETY: a vCPU's run page stays mapped while `self`
                // lives (`enter`); KVM reads the byte at KVM_RUN.
                unsafe { AtomicU8::from_ptr(flag) }.store(1, Ordering::SeqCst);
            }
            let tid = slot.tid.load(Ordering::SeqCst);
            if tid != 0 && tid != me {
                crate::signals::kick(tid);
            }
            signal_eventfd(&slot.wake);
            // Taken so the notification cannot fall between a waiter's
            // check of `stopping` and its wait.
            drop(lock(&slot.entry));
            slot.entry_posted.notify_one();
        }
    }

    /// Makes every other vCPU's thread leave `KVM_RUN` (a kick) or its
    /// `Block` (a wake), without stopping the VM: gdb stops the guest
    /// ([`crate::gdb`]). A `Block` cut short returns to the guest as an
    /// early wake, which it must take anyway.
    pub fn interrupt(&self) {
        // SAFETY: gettid has no preconditions.
        let me = unsafe { libc::gettid() };
        for slot in &self.slots {
            let tid = slot.tid.load(Ordering::SeqCst);
            if tid != 0 && tid != me {
                crate::signals::kick(tid);
                signal_eventfd(&slot.wake);
            }
        }
    }

    /// Whether the guest has started vCPU `index` (vCPU 0 runs from the boot).
    pub fn started(&self, index: u32) -> bool {
        self.slots
            .get(index as usize)
            .is_some_and(|slot| slot.started.load(Ordering::SeqCst))
    }

    /// How the guest ended, if it has (rather than the host failing),
    /// passed to `f`.
    pub fn with_outcome<R>(&self, f: impl FnOnce(Option<&Outcome>) -> R) -> R {
        match &*lock(&self.ending) {
            Some(Ok(outcome)) => f(Some(outcome)),
            _ => f(None),
        }
    }

    /// How the VM ended (`None` if nothing ended it: a monitor bug).
    pub fn into_ending(self) -> Option<Ending> {
        self.ending
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Adds one to an eventfd: it is readable until read.
fn signal_eventfd(fd: &OwnedFd) {
    let one = 1u64;
    // SAFETY: writes the 8 bytes of `one`; the counter cannot overflow in
    // practice (2^64 - 2 wakes), and a full one fails harmlessly.
    unsafe { libc::write(fd.as_raw_fd(), (&raw const one).cast(), 8) };
}

/// Locks `mutex`, taking it over from a thread that panicked: a release
/// monitor aborts on panic, so a poisoned lock is only seen in tests.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wait;

    #[test]
    fn start_vcpu_takes_each_other_vcpu_once() {
        let vcpus = VcpuSet::new(3).expect("eventfds");
        let regs = kvm_regs::default();
        let no_such = |index| {
            Err(Violation::NoSuchVcpu {
                call: Hypercall::StartVcpu,
                index,
                count: 3,
            })
        };
        assert_eq!(vcpus.start(0, regs), no_such(0));
        assert_eq!(vcpus.start(3, regs), no_such(3));
        assert_eq!(vcpus.start(u32::MAX, regs), no_such(u32::MAX));
        assert_eq!(vcpus.check_startable(2), Ok(()));
        assert!(!vcpus.several_started());
        assert_eq!(vcpus.start(2, regs), Ok(()));
        assert!(vcpus.several_started());
        assert_eq!(vcpus.check_startable(2), Err(Violation::VcpuStarted(2)));
        assert_eq!(vcpus.start(2, regs), Err(Violation::VcpuStarted(2)));
        assert_eq!(vcpus.wait_for_start(2), Some(regs));
        let message = no_such(3).expect_err("an error").to_string();
        assert_eq!(
            message,
            "StartVcpu hypercall: no vCPU 3 to name here (valid: 1 to 2)"
        );
        let alone = VcpuSet::new(1).expect("eventfds");
        let message = alone.start(1, regs).expect_err("no other vCPU").to_string();
        assert!(
            message.ends_with("(valid: none: the VM has one vCPU)"),
            "{message}"
        );
    }

    #[test]
    fn wakes_are_latched_and_checked() {
        let vcpus = VcpuSet::new(2).expect("eventfds");
        let error = vcpus.wake(2).expect_err("vCPUs 0 and 1 only");
        assert_eq!(
            error.to_string(),
            "WakeVcpu hypercall: no vCPU 2 to name here (valid: 0 to 1)"
        );
        let fd = Some(vcpus.wake_fd(1));
        assert_eq!(wait::until([fd], 0), [false]);
        // Sent before the wait: still seen, then consumed.
        vcpus.wake(1).expect("a vCPU");
        vcpus.wake(1).expect("a vCPU");
        assert_eq!(wait::until([fd], u64::MAX), [true]);
        vcpus.take_wake(1);
        let soon = crate::clock::host_now_ns(libc::CLOCK_MONOTONIC) + 1_000_000;
        assert_eq!(wait::until([fd], soon), [false]);
    }

    #[test]
    fn the_first_ending_wins_and_releases_waiting_vcpus() {
        let vcpus = VcpuSet::new(2).expect("eventfds");
        assert!(!vcpus.wait_stopping(std::time::Duration::from_millis(1)));
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| vcpus.wait_for_start(1));
            let console = scope.spawn(|| vcpus.wait_stopping(std::time::Duration::from_secs(600)));
            vcpus.finish(Ok(Outcome::Exited(3)));
            vcpus.finish(Ok(Outcome::TimedOut));
            assert_eq!(waiter.join().expect("no panic"), None);
            assert!(console.join().expect("no panic"), "woken, not timed out");
        });
        assert!(vcpus.stopping());
        assert_eq!(
            wait::until([Some(vcpus.wake_fd(0))], u64::MAX),
            [true],
            "a Block ends"
        );
        assert!(matches!(vcpus.into_ending(), Some(Ok(Outcome::Exited(3)))));
    }
}
