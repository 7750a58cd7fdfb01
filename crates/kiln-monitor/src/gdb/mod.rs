//! `kiln run --gdb` and `kiln debug`: gdb's remote protocol on a live
//! guest.
//!
//! kvm_pvm does not deliver KVM's guest debugging (hardware breakpoints
//! never fire, and `int3` and single steps reach the guest's own IDT), so
//! the stub takes them where they already arrive: the `Trap` call of the
//! guest's CPL0 stub, for vectors 3 (`int3`) and 1 (a single step, from
//! RFLAGS.TF). Instead of a crash report, the vCPU's thread puts the vCPU
//! back at CPL3 with the registers the stub saved (what its `iretq` would
//! have done), and parks it ([`Debugger::pause_point`], before every
//! `KVM_RUN`) until gdb resumes the guest. Software breakpoints are `int3`
//! bytes written into guest memory ([`target`]); a step is RFLAGS.TF set
//! on the parked registers. A Ctrl-C from gdb, or gdb attaching to a
//! running instance ([`crate::control`]), kicks every vCPU out of
//! `KVM_RUN` (or its `Block`), and each parks; the run loop consumes the
//! kick, which stays pending outside `KVM_RUN`.
//!
//! The protocol runs on a thread of its own ([`session`]), which only
//! reads and writes guest memory and the parked vCPUs' registers, through
//! the same bounds checks as every hypercall: the packets come from a
//! socket, so they are as untrusted as the guest.

pub mod connection;
pub mod registers;
pub mod session;
pub mod target;
pub mod threads;

use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use kiln_abi::trap::{BREAKPOINT, DEBUG, TrapFrame};
use kvm_bindings::{kvm_fpu, kvm_regs, kvm_segment, kvm_sregs};
use kvm_ioctls::VcpuFd;

use crate::BootError;
use crate::memory::GuestMemory;
use crate::vcpus::VcpuSet;

/// RFLAGS.TF: the CPU raises a debug exception after the next instruction.
pub const RFLAGS_TF: u64 = 1 << 8;

/// The `int3` instruction a software breakpoint writes.
pub const INT3: u8 = 0xcc;

/// What made the guest stop, as gdb hears it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopKind {
    /// The initial stop, before the guest's first instruction, and a
    /// guest's own `int3` or debug exception.
    Trap,
    /// One of gdb's breakpoints.
    Breakpoint,
    /// A single step ended.
    Step,
    /// A watched location changed: its address.
    Watch(u64),
    /// gdb's Ctrl-C.
    Interrupt,
}

/// A stop: which vCPU and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stop {
    /// The vCPU that stopped first.
    pub vcpu: u32,
    /// Why.
    pub kind: StopKind,
}

/// A parked vCPU's registers, as its thread read them, and whether gdb
/// changed them.
#[derive(Clone, Copy, Debug)]
pub struct Parked {
    /// General registers.
    pub regs: kvm_regs,
    /// Segment registers (selectors and the FS base).
    pub sregs: kvm_sregs,
    /// x87 and SSE registers.
    pub fpu: kvm_fpu,
    /// gdb wrote `regs` or `fpu`: the thread sets them before it resumes.
    pub dirty: bool,
}

/// A single step under way on one vCPU.
#[derive(Clone, Copy, Debug)]
pub struct Step {
    /// The registers the step started from.
    from: kvm_regs,
    /// How often it was taken again.
    retries: u32,
}

/// A write watchpoint (gdb's `watch`). The debug registers never fire
/// here, so while any is set every vCPU runs with RFLAGS.TF, and after each
/// instruction the watched bytes are compared with what they held: a trap
/// round trip per instruction (tens of µs here), still faster than gdb's
/// own software watchpoints, which ask for every step over the connection.
#[derive(Clone, Debug)]
pub struct Watch {
    /// Its first byte.
    pub addr: u64,
    /// The bytes it watches (at most 8: gdb splits longer ones).
    pub last: Vec<u8>,
}

/// How often a step that ends where it began is taken again before it is
/// reported. kvm_pvm sometimes raises the single-step trap on entering
/// the guest, before the instruction ran (seen on the first step after a
/// breakpoint, one in a few): such a step is taken again. An instruction
/// that truly leaves every register as it was (`jmp .`) is reported after
/// these retries.
const STEP_RETRIES: u32 = 8;

/// What gdb and the vCPU threads share.
#[derive(Debug, Default)]
pub struct State {
    /// Every vCPU must park before its next `KVM_RUN`.
    pub stopping: bool,
    /// The first stop since the guest last ran.
    pub stop: Option<Stop>,
    /// Bumped at each resume: a parked thread waits for it to change.
    pub generation: u64,
    /// Per vCPU: its registers while it is parked.
    pub parked: Vec<Option<Parked>>,
    /// Per vCPU: it runs one instruction with RFLAGS.TF, whose debug
    /// exception is gdb's step, not the guest's: the registers it started
    /// from, and how often its step was taken again.
    pub stepping: Vec<Option<Step>>,
    /// Per vCPU: RFLAGS.TF that the monitor set (for a step or the
    /// watchpoints) may still raise a debug exception, which is then the
    /// monitor's, not the guest's: also after a stop, when the vCPU parked
    /// inside its trap stub with the exception on its way.
    pub monitor_tf: Vec<bool>,
    /// The write watchpoints gdb set.
    pub watches: Vec<Watch>,
    /// The vCPU to step at the next resume.
    pub step: Option<u32>,
    /// Only that vCPU runs (gdb's scheduler locking): the others stay
    /// parked.
    pub locked: bool,
    /// Breakpoints gdb set: address, and the byte the `int3` replaced.
    pub breakpoints: BTreeMap<u64, u8>,
    /// The addresses gdb set hardware breakpoints at (served with `int3`).
    pub hardware: std::collections::BTreeSet<u64>,
    /// The addresses gdb set software breakpoints at. One address may be
    /// in both: its `int3` stays until neither wants it.
    pub software: std::collections::BTreeSet<u64>,
    /// gdb is attached: traps stop the guest instead of crashing it.
    pub attached: bool,
}

/// The debugger's side of the VM, shared by the vCPU threads and the gdb
/// session's thread.
pub struct Debugger {
    state: Mutex<State>,
    /// Notified when the guest is resumed (parked threads wait on it).
    resumed: Condvar,
    /// Readable when a vCPU parked: the session's thread polls it.
    parked: OwnedFd,
    /// The code and stack segments of CPL3, which a trapped vCPU goes back to.
    user_cs: kvm_segment,
    user_ss: kvm_segment,
}

impl Debugger {
    /// A debugger for `count` vCPUs whose CPL3 segments are `boot`'s: with
    /// gdb `attached` (`kiln run --gdb`), the guest stopped before its
    /// first instruction; otherwise running until gdb attaches
    /// ([`Debugger::attach`], a background instance's `kiln debug`).
    pub fn new(count: u32, boot: &kvm_sregs, attached: bool) -> io::Result<Self> {
        // SAFETY: eventfd takes plain numbers and returns a new descriptor,
        // owned below, or -1.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let count = count as usize;
        Ok(Self {
            state: Mutex::new(State {
                stopping: attached,
                stop: attached.then_some(Stop {
                    vcpu: 0,
                    kind: StopKind::Trap,
                }),
                parked: vec![None; count],
                stepping: vec![None; count],
                monitor_tf: vec![false; count],
                attached,
                ..State::default()
            }),
            resumed: Condvar::new(),
            // SAFETY: `fd` is a fresh descriptor no one else owns.
            parked: unsafe { OwnedFd::from_raw_fd(fd) },
            user_cs: boot.cs,
            user_ss: boot.ss,
        })
    }

    /// The shared state, locked.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The descriptor that becomes readable when a vCPU parks.
    pub fn parked_fd(&self) -> RawFd {
        self.parked.as_raw_fd()
    }

    /// Consumes the parked notifications.
    pub fn take_parked(&self) {
        let mut count = 0u64;
        // SAFETY: reads 8 bytes into `count`; the eventfd is non-blocking,
        // so an empty one fails with EAGAIN, which needs nothing done.
        unsafe { libc::read(self.parked_fd(), (&raw mut count).cast(), 8) };
    }

    /// Resumes the guest: every parked vCPU runs again, `step` (if any)
    /// for one instruction; with `locked`, only `step`.
    pub fn resume(&self, state: &mut State, step: Option<u32>, locked: bool) {
        state.stopping = false;
        state.stop = None;
        state.step = step;
        state.locked = locked && step.is_some();
        state.generation = state.generation.wrapping_add(1);
        self.resumed.notify_all();
    }

    /// gdb left (detached, or its connection ended): the guest runs on,
    /// without breakpoints, and traps crash it again.
    pub fn detach(&self, memory: &GuestMemory) {
        let mut state = self.lock();
        for (&addr, &byte) in &state.breakpoints {
            // Written when the breakpoint was set, so still inside memory.
            let _ = memory.write_bytes(addr, &[byte]);
        }
        state.breakpoints.clear();
        state.hardware.clear();
        state.software.clear();
        state.watches.clear();
        state.attached = false;
        self.resume(&mut state, None, false);
    }

    /// gdb attaches to the running guest: it stops as at a Ctrl-C.
    pub fn attach(&self, vcpus: &VcpuSet) {
        self.lock().attached = true;
        self.interrupt(vcpus);
    }

    /// Stops the guest (gdb's Ctrl-C): every started vCPU leaves `KVM_RUN`
    /// or its `Block` and parks.
    pub fn interrupt(&self, vcpus: &VcpuSet) {
        let mut state = self.lock();
        if !state.attached || state.stopping {
            return;
        }
        state.stopping = true;
        drop(state);
        vcpus.interrupt();
    }

    /// On vCPU `index`'s thread, before each `KVM_RUN`: parks while gdb
    /// holds the guest stopped, then applies what gdb changed.
    pub fn pause_point(&self, index: u32, vcpu: &VcpuFd, vcpus: &VcpuSet) -> Result<(), BootError> {
        let mut state = self.lock();
        if !state.stopping || vcpus.stopping() {
            return Ok(());
        }
        let mut parked = Parked {
            regs: vcpu
                .get_regs()
                .map_err(|e| BootError::Kvm("read registers", e))?,
            sregs: vcpu
                .get_sregs()
                .map_err(|e| BootError::Kvm("read special registers", e))?,
            fpu: vcpu
                .get_fpu()
                .map_err(|e| BootError::Kvm("read FPU registers", e))?,
            dirty: false,
        };
        let slot = index as usize;
        // Stopped (by another vCPU) before the step or watch it ran with
        // RFLAGS.TF took its trap: the flag is the monitor's, and must not
        // fire after the resume.
        if state.monitor_tf[slot] || state.stepping[slot].is_some() {
            state.monitor_tf[slot] = true;
            parked.regs.rflags &= !RFLAGS_TF;
            parked.dirty = true;
        }
        state.parked[slot] = Some(parked);
        if state.stop.is_none() {
            state.stop = Some(Stop {
                vcpu: index,
                kind: StopKind::Interrupt,
            });
        }
        signal(&self.parked);
        let generation = state.generation;
        let held = |state: &State| {
            state.generation == generation || (state.locked && state.step != Some(index))
        };
        while held(&state) && !vcpus.stopping() {
            state = self
                .resumed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        let Some(mut parked) = state.parked[slot].take() else {
            return Ok(());
        };
        let step = state.step == Some(index);
        state.stepping[slot] = step.then_some(Step {
            from: parked.regs,
            retries: 0,
        });
        let watching = !state.watches.is_empty();
        if step || watching {
            state.monitor_tf[slot] = true;
        }
        drop(state);
        if step || watching {
            parked.regs.rflags |= RFLAGS_TF;
        }
        if parked.dirty || step || watching {
            vcpu.set_sregs(&parked.sregs)
                .map_err(|e| BootError::Kvm("set special registers", e))?;
            vcpu.set_regs(&parked.regs)
                .map_err(|e| BootError::Kvm("set registers", e))?;
        }
        if parked.dirty {
            vcpu.set_fpu(&parked.fpu)
                .map_err(|e| BootError::Kvm("set FPU registers", e))?;
        }
        Ok(())
    }

    /// The `Trap` call of vCPU `index` while gdb is attached: a breakpoint
    /// or step (vectors 3 and 1) puts the vCPU back at CPL3 where the
    /// trap stub's `iretq` would have, and stops the guest; returns false
    /// for any other trap, which crashes the guest as without gdb (and
    /// if KVM cannot put the vCPU back: the crash report then says where).
    pub fn trapped(
        &self,
        index: u32,
        frame: &TrapFrame,
        vcpu: &VcpuFd,
        vcpus: &VcpuSet,
        memory: &GuestMemory,
    ) -> bool {
        let mut state = self.lock();
        let slot = index as usize;
        let ours =
            frame.vector == DEBUG && state.monitor_tf.get_mut(slot).is_some_and(std::mem::take);
        if !ours && (!state.attached || !matches!(frame.vector, BREAKPOINT | DEBUG)) {
            return false;
        }
        let mut regs = registers::from_frame(frame);
        if ours {
            // The CPU saved RFLAGS with the monitor's TF still set.
            regs.rflags &= !RFLAGS_TF;
            if !state.attached {
                // A late trap of a step or watch from before gdb left.
                return self.back_to_cpl3(vcpu, &regs);
            }
        }
        let changed = ours
            .then(|| changed_watch(&mut state.watches, memory))
            .flatten();
        let kind = if let Some(addr) = changed {
            state.stepping[slot] = None;
            StopKind::Watch(addr)
        } else if ours && state.stepping[slot].is_none() {
            // Watching, and nothing changed: the next instruction, unless
            // the guest is stopping for another vCPU or gdb took the
            // watches away (then the trap was a late one, and is dropped).
            if !state.stopping && !state.watches.is_empty() {
                state.monitor_tf[slot] = true;
                regs.rflags |= RFLAGS_TF;
            }
            return self.back_to_cpl3(vcpu, &regs);
        } else if frame.vector == BREAKPOINT {
            // The `int3` left RIP after itself; gdb wants the breakpoint's
            // address, where the original instruction runs next.
            let at = frame.rip.wrapping_sub(1);
            if state.breakpoints.contains_key(&at) {
                regs.rip = at;
                StopKind::Breakpoint
            } else {
                StopKind::Trap
            }
        } else if let Some(step) = state.stepping[slot].take() {
            // The CPU saved RFLAGS with the step's TF still set.
            regs.rflags &= !RFLAGS_TF;
            if regs == step.from && step.retries < STEP_RETRIES {
                // Trapped before the instruction ran: step again.
                state.stepping[slot] = Some(Step {
                    retries: step.retries + 1,
                    ..step
                });
                state.monitor_tf[slot] = true;
                regs.rflags |= RFLAGS_TF;
                return self.back_to_cpl3(vcpu, &regs);
            }
            StopKind::Step
        } else {
            StopKind::Trap
        };
        if !self.back_to_cpl3(vcpu, &regs) {
            return false;
        }
        state.stop.get_or_insert(Stop { vcpu: index, kind });
        let first = !state.stopping;
        state.stopping = true;
        drop(state);
        if first {
            vcpus.interrupt();
        }
        true
    }

    /// Puts a trapped vCPU back at CPL3 with `regs`, as the trap stub's
    /// `iretq` would; false if KVM refuses.
    fn back_to_cpl3(&self, vcpu: &VcpuFd, regs: &kvm_regs) -> bool {
        let Ok(mut sregs) = vcpu.get_sregs() else {
            return false;
        };
        sregs.cs = self.user_cs;
        sregs.ss = self.user_ss;
        vcpu.set_sregs(&sregs).is_ok() && vcpu.set_regs(regs).is_ok()
    }

    /// The VM ended: parked threads leave, and the session reports it.
    pub fn vm_ended(&self) {
        drop(self.lock());
        self.resumed.notify_all();
        signal(&self.parked);
    }
}

/// The first watch whose bytes differ from what they held, now noted as
/// its new value: its address.
fn changed_watch(watches: &mut [Watch], memory: &GuestMemory) -> Option<u64> {
    watches.iter_mut().find_map(|watch| {
        let mut now = vec![0u8; watch.last.len()];
        // Read when it was set, so inside memory.
        memory.read_exact(watch.addr, &mut now).ok()?;
        (now != watch.last).then(|| {
            watch.last = now;
            watch.addr
        })
    })
}

/// Adds one to an eventfd: it is readable until read.
fn signal(fd: &OwnedFd) {
    let one = 1u64;
    // SAFETY: writes the 8 bytes of `one`; a full counter fails harmlessly.
    unsafe { libc::write(fd.as_raw_fd(), (&raw const one).cast(), 8) };
}
