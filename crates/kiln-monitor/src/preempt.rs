//! Time slices for guest threads: a tick timer and the upcall.
//!
//! Each vCPU runs its share of the guest's threads. While the guest says
//! another thread could run on a vCPU (`Preemption::wanted` in that vCPU's
//! `VcpuArea`, read before every `KVM_RUN`), a POSIX timer of that vCPU's
//! thread sends it [`TICK_SIGNAL`] every [`TIME_SLICE`]. The signal is
//! blocked in that thread except inside `KVM_RUN` ([`crate::signals`]), so
//! it only ever cuts a `KVM_RUN` short, never a host system call of the
//! monitor. At that exit, if the vCPU
//! is at CPL3 outside a library-OS critical section, the monitor delivers an
//! upcall: it writes the interrupted RFLAGS and RIP below the red zone of
//! the interrupted stack and resumes the vCPU at the image's upcall entry,
//! which saves everything else, lets the scheduler switch threads, and
//! returns exactly where the thread was. Otherwise it marks the tick
//! pending, for the guest to take when it leaves its critical section.
//!
//! No interrupt controller, no interrupt and no guest CPL0 code are
//! involved: on kvm_pvm CPL0 code is emulated and an irqchip costs
//! milliseconds per boot. The timer is disarmed while the vCPU sleeps in
//! `Block` and while no other thread could run, so idle and single-threaded
//! guests cost no host wake-ups.

use std::io;
use std::mem::{MaybeUninit, offset_of};
use std::time::Duration;

use kiln_abi::boot::{Preemption, UPCALL_FRAME, UPCALL_RED_ZONE, VcpuArea};
use kvm_ioctls::{SyncReg, VcpuFd};

use crate::BootError;
use crate::hypercall::Violation;
use crate::layout::Layout;
use crate::memory::GuestMemory;
use crate::signals::take_pending;

/// How long a thread runs before another ready thread gets the vCPU:
/// within Linux's range (its CFS slices are 3-24 ms, its tick 1-4 ms).
pub const TIME_SLICE: Duration = Duration::from_millis(5);

/// The signal the timer sends; nothing else in the monitor uses it.
pub const TICK_SIGNAL: libc::c_int = libc::SIGVTALRM;

/// RFLAGS bits that must be clear for the upcall entry's first instruction
/// not to trap: single-step. (The entry clears DF itself.)
const RFLAGS_TF: u64 = 1 << 8;

/// One vCPU's tick timer and the guest words it serves.
pub struct Preemptor {
    timer: libc::timer_t,
    armed: bool,
    /// The image's upcall entry.
    upcall: u64,
    /// Guest address of the vCPU's `Preemption` words.
    words: u64,
    /// The vCPU's trap stack, where its CPL0 code runs.
    trap_stack: std::ops::Range<u64>,
    /// Where an upcall frame may be written: where guest stacks live.
    stacks: [std::ops::Range<u64>; 2],
}

/// What a tick did.
#[derive(Debug, PartialEq, Eq)]
pub enum Tick {
    /// No tick was pending (another signal ended `KVM_RUN`).
    None,
    /// The vCPU now runs the upcall.
    Delivered,
    /// Marked pending for the guest, or not needed any more.
    Deferred,
    /// The interrupted stack pointer leaves no room for the upcall frame
    /// where guest stacks live.
    BadStack(Violation),
}

impl Preemptor {
    /// Sets up the timer of vCPU `index`, whose area is at `area`. Call on
    /// the thread that runs the vCPU, after
    /// [`crate::signals::confine_to_kvm_run`] and before seccomp (it
    /// creates the timer).
    pub fn new(upcall: u64, layout: &Layout, index: u32, area: u64) -> io::Result<Self> {
        // SAFETY: a zeroed sigevent is a valid value to fill in.
        let mut event: libc::sigevent = unsafe { std::mem::zeroed() };
        event.sigev_notify = libc::SIGEV_THREAD_ID;
        event.sigev_signo = TICK_SIGNAL;
        // SAFETY: gettid has no preconditions.
        event.sigev_notify_thread_id = unsafe { libc::gettid() };
        let mut timer = MaybeUninit::<libc::timer_t>::uninit();
        // SAFETY: `event` is initialised and `timer` receives the new id.
        if unsafe { libc::timer_create(libc::CLOCK_MONOTONIC, &mut event, timer.as_mut_ptr()) } != 0
        {
            return Err(io::Error::last_os_error());
        }
        Ok(Self {
            // SAFETY: written by the successful `timer_create`.
            timer: unsafe { timer.assume_init() },
            armed: false,
            upcall,
            words: area + offset_of!(VcpuArea, preemption) as u64,
            trap_stack: layout.vcpu_tables(index).trap_stack,
            // The heap grows up to the limit; writes past the mapped memory
            // fail its bounds check.
            stacks: [layout.stack.clone(), layout.heap.start..layout.memory_limit],
        })
    }

    /// Before each `KVM_RUN`: ticks run while the guest wants them.
    pub fn sync(&mut self, vcpu: &mut VcpuFd, memory: &GuestMemory) -> Result<(), BootError> {
        let wanted = self.read(memory).wanted != 0;
        if wanted != self.armed {
            self.set_armed(vcpu, memory, wanted)?;
        }
        Ok(())
    }

    /// Stops the ticks (the vCPU is about to sleep in `Block`).
    pub fn pause(&mut self, vcpu: &mut VcpuFd, memory: &GuestMemory) -> Result<(), BootError> {
        if self.armed {
            self.set_armed(vcpu, memory, false)?;
            // A tick that fired meanwhile is dropped, not taken after the sleep.
            take_tick();
        }
        Ok(())
    }

    /// After `KVM_RUN` returned `EINTR`: takes the tick, if it was one.
    pub fn tick(&mut self, vcpu: &mut VcpuFd, memory: &GuestMemory) -> Result<Tick, BootError> {
        if !take_tick() {
            return Ok(Tick::None);
        }
        if !self.armed {
            // Sent before the timer was stopped (the run page holds no
            // registers then); the next `sync` restarts it if needed.
            return Ok(Tick::Deferred);
        }
        let words = self.read(memory);
        if words.wanted == 0 {
            self.set_armed(vcpu, memory, false)?;
            return Ok(Tick::Deferred);
        }
        // The registers came with the exit, in the run page (see
        // `set_armed`): `KVM_GET_REGS` and `KVM_SET_REGS` would cost ~9 µs
        // each on kvm_pvm, `KVM_GET_SREGS` ~35 µs.
        let mut regs = vcpu.sync_regs().regs;
        // Guest CPL0 code (the trap stubs, the kernel call) runs only on the
        // vCPU's trap stack, where every IDT gate switches: a stack pointer
        // there means CPL0 without reading the segment registers.
        if self.trap_stack.contains(&regs.rsp) || words.disabled != 0 {
            // Inside a critical section (or a CPL0 stub): the guest yields
            // when it leaves.
            self.write_field(memory, offset_of!(Preemption, pending), 1);
            return Ok(Tick::Deferred);
        }
        let Some(frame) = self.frame_below(regs.rsp) else {
            return Ok(Tick::BadStack(Violation::UpcallStack(regs.rsp)));
        };
        if memory.write_obj([regs.rflags, regs.rip], frame).is_err() {
            return Ok(Tick::BadStack(Violation::UpcallStack(regs.rsp)));
        }
        self.write_field(memory, offset_of!(Preemption, disabled), 1);
        regs.rsp = frame;
        regs.rip = self.upcall;
        regs.rflags &= !RFLAGS_TF;
        vcpu.sync_regs_mut().regs = regs;
        vcpu.set_sync_dirty_reg(SyncReg::Register);
        Ok(Tick::Delivered)
    }

    /// Where the upcall frame goes below an interrupted stack pointer: past
    /// the red zone, inside the main stack or the heap (where every guest
    /// stack lives), so a guest with a wild stack pointer gets a violation
    /// instead of the monitor writing into its page or descriptor tables.
    fn frame_below(&self, rsp: u64) -> Option<u64> {
        let frame = rsp.checked_sub(UPCALL_RED_ZONE + UPCALL_FRAME)?;
        self.stacks
            .iter()
            .any(|stack| stack.start <= frame && rsp <= stack.end)
            .then_some(frame)
    }

    // The words lie in the boot-info region, which the layout keeps inside
    // guest memory: their reads and writes cannot fail.
    fn read(&self, memory: &GuestMemory) -> Preemption {
        memory.read_obj(self.words).unwrap_or_default()
    }

    fn write_field(&self, memory: &GuestMemory, offset: usize, value: u32) {
        let _ = memory.write_obj(value, self.words + offset as u64);
    }

    /// Starts or stops the ticks. While they run, KVM copies the general
    /// registers into the run page at every exit (`kvm_valid_regs`), and
    /// takes them back from there when marked dirty, so a tick needs no
    /// register ioctl; single-threaded guests never pay that copy.
    fn set_armed(
        &mut self,
        vcpu: &mut VcpuFd,
        memory: &GuestMemory,
        armed: bool,
    ) -> Result<(), BootError> {
        let period = if armed { TIME_SLICE } else { Duration::ZERO };
        set_timer(self.timer, period).map_err(BootError::TimeSlice)?;
        if armed {
            vcpu.set_sync_valid_reg(SyncReg::Register);
        } else {
            vcpu.clear_sync_valid_reg(SyncReg::Register);
        }
        self.armed = armed;
        self.write_field(memory, offset_of!(Preemption, armed), u32::from(armed));
        Ok(())
    }
}

impl Drop for Preemptor {
    fn drop(&mut self) {
        // SAFETY: the timer this value created; deleting it also disarms it.
        unsafe { libc::timer_delete(self.timer) };
    }
}

/// Consumes a pending tick without waiting; true if there was one.
fn take_tick() -> bool {
    take_pending(TICK_SIGNAL)
}

/// Arms the timer to fire every `period` from now; zero disarms it.
fn set_timer(timer: libc::timer_t, period: Duration) -> io::Result<()> {
    let spec = libc::timespec {
        tv_sec: period.as_secs() as libc::time_t,
        tv_nsec: period.subsec_nanos() as libc::c_long,
    };
    let value = libc::itimerspec {
        it_interval: spec,
        it_value: spec,
    };
    // SAFETY: a valid timer and itimerspec; the old value is not requested.
    if unsafe { libc::timer_settime(timer, 0, &value, std::ptr::null_mut()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
