//! The guest as `gdbstub` sees it: threads, registers, memory, software
//! breakpoints, continue and step, all on a stopped guest.
//!
//! kvm_pvm never fires debug registers set through `KVM_SET_GUEST_DEBUG`,
//! and the guest cannot set them itself at CPL3 (its CPL0 path is
//! emulated). So `hbreak` gets an `int3` as `break` does (the guest's code
//! is in RAM, which is all a hardware breakpoint would spare), and `watch`
//! single-steps the guest in the monitor ([`super::Watch`]).

use std::num::NonZeroUsize;

use gdbstub::common::{Signal, Tid};
use gdbstub::target::ext::base::BaseOps;
use gdbstub::target::ext::base::multithread::{
    MultiThreadBase, MultiThreadResume, MultiThreadResumeOps, MultiThreadSchedulerLocking,
    MultiThreadSchedulerLockingOps, MultiThreadSingleStep, MultiThreadSingleStepOps,
};
use gdbstub::target::ext::breakpoints::{
    Breakpoints, BreakpointsOps, HwBreakpoint, HwBreakpointOps, HwWatchpoint, HwWatchpointOps,
    SwBreakpoint, SwBreakpointOps, WatchKind,
};
use gdbstub::target::ext::thread_extra_info::{ThreadExtraInfo, ThreadExtraInfoOps};
use gdbstub::target::{Target, TargetError, TargetResult};

use super::registers::{self, KilnRegs, KilnX86_64};
use super::threads::{GdbThread, Guest};
use super::{Debugger, INT3, Watch};

/// Why a request cannot be served; the session ends with it.
#[derive(Debug, thiserror::Error)]
pub enum TargetFault {
    /// The guest is not stopped where gdb thinks (the VM ended under it).
    #[error("the guest is not stopped")]
    NotStopped,
}

/// The stopped guest, for one gdb session.
pub struct GuestTarget<'a> {
    /// The debugger the vCPU threads park with.
    pub debugger: &'a Debugger,
    /// Where threads and memory are read.
    pub guest: Guest<'a>,
    /// The thread gdb asked to step at the next resume.
    pub step: Option<Tid>,
    /// Only that thread runs at the next resume.
    pub locked: bool,
    /// The `--timeout` clock, stopped while the guest is.
    pub paused: Option<crate::watchdog::Paused>,
}

impl GuestTarget<'_> {
    fn threads(&self) -> Vec<GdbThread> {
        self.guest.threads(&self.debugger.lock())
    }

    fn thread(&self, tid: Tid) -> Option<GdbThread> {
        self.threads().into_iter().find(|t| t.tid == tid)
    }
}

impl Target for GuestTarget<'_> {
    type Arch = KilnX86_64;
    type Error = TargetFault;

    fn base_ops(&mut self) -> BaseOps<'_, Self::Arch, Self::Error> {
        BaseOps::MultiThread(self)
    }

    fn support_breakpoints(&mut self) -> Option<BreakpointsOps<'_, Self>> {
        Some(self)
    }
}

impl MultiThreadBase for GuestTarget<'_> {
    fn read_registers(&mut self, regs: &mut KilnRegs, tid: Tid) -> TargetResult<(), Self> {
        // An unknown thread is gdb's mistake (or a hostile packet): an
        // error reply, not the end of the session.
        *regs = self.thread(tid).ok_or(TargetError::NonFatal)?.regs;
        Ok(())
    }

    fn write_registers(&mut self, regs: &KilnRegs, tid: Tid) -> TargetResult<(), Self> {
        // Only a running thread's registers can change: a switched-out
        // one's live in its stack frame, which gdb can write as memory.
        let vcpu = self
            .thread(tid)
            .and_then(|t| t.vcpu)
            .ok_or(TargetError::NonFatal)?;
        let mut state = self.debugger.lock();
        let parked = state.parked[vcpu as usize]
            .as_mut()
            .ok_or(TargetError::NonFatal)?;
        registers::from_gdb(regs, parked);
        Ok(())
    }

    fn read_addrs(&mut self, start: u64, data: &mut [u8], _tid: Tid) -> TargetResult<usize, Self> {
        // As much as lies inside guest memory, from the start; gdb gets an
        // error for an address outside it.
        let memory = self.guest.memory;
        let len = memory.size().saturating_sub(start).min(data.len() as u64) as usize;
        if len == 0 && !data.is_empty() {
            return Err(TargetError::NonFatal);
        }
        memory
            .read_exact(start, &mut data[..len])
            .map_err(|_| TargetError::NonFatal)?;
        // gdb sees its breakpoints' original bytes, as in a process.
        let state = self.debugger.lock();
        let end = start.saturating_add(len as u64);
        for (&addr, &byte) in state.breakpoints.range(start..end) {
            data[(addr - start) as usize] = byte;
        }
        Ok(len)
    }

    fn write_addrs(&mut self, start: u64, data: &[u8], _tid: Tid) -> TargetResult<(), Self> {
        let memory = self.guest.memory;
        memory
            .write_bytes(start, data)
            .map_err(|_| TargetError::NonFatal)?;
        // gdb's own writes are not the guest's: watches go on from them.
        for watch in &mut self.debugger.lock().watches {
            let _ = memory.read_exact(watch.addr, &mut watch.last);
        }
        Ok(())
    }

    fn list_active_threads(&mut self, active: &mut dyn FnMut(Tid)) -> Result<(), TargetFault> {
        for thread in self.threads() {
            active(thread.tid);
        }
        Ok(())
    }

    fn support_resume(&mut self) -> Option<MultiThreadResumeOps<'_, Self>> {
        Some(self)
    }

    fn support_thread_extra_info(&mut self) -> Option<ThreadExtraInfoOps<'_, Self>> {
        Some(self)
    }
}

impl MultiThreadResume for GuestTarget<'_> {
    fn resume(&mut self) -> Result<(), TargetFault> {
        // Only a thread on a vCPU can be stepped; a step of a switched-out
        // one (which gdb does not ask for) resumes the guest.
        let step = self.step.take().and_then(|tid| self.thread(tid)?.vcpu);
        let mut state = self.debugger.lock();
        if !state.stopping {
            return Err(TargetFault::NotStopped);
        }
        self.debugger.resume(&mut state, step, self.locked);
        if let Some(paused) = self.paused.take() {
            // A clock that cannot restart leaves the guest without its
            // timeout: it still runs, as gdb asked.
            let _ = paused.resume();
        }
        Ok(())
    }

    fn clear_resume_actions(&mut self) -> Result<(), TargetFault> {
        self.step = None;
        self.locked = false;
        Ok(())
    }

    fn set_resume_action_continue(
        &mut self,
        _tid: Tid,
        _signal: Option<Signal>,
    ) -> Result<(), TargetFault> {
        Ok(())
    }

    fn support_single_step(&mut self) -> Option<MultiThreadSingleStepOps<'_, Self>> {
        Some(self)
    }

    fn support_scheduler_locking(&mut self) -> Option<MultiThreadSchedulerLockingOps<'_, Self>> {
        Some(self)
    }
}

impl MultiThreadSchedulerLocking for GuestTarget<'_> {
    fn set_resume_action_scheduler_lock(&mut self) -> Result<(), TargetFault> {
        self.locked = true;
        Ok(())
    }
}

impl MultiThreadSingleStep for GuestTarget<'_> {
    fn set_resume_action_step(
        &mut self,
        tid: Tid,
        _signal: Option<Signal>,
    ) -> Result<(), TargetFault> {
        self.step = Some(tid);
        Ok(())
    }
}

impl Breakpoints for GuestTarget<'_> {
    fn support_sw_breakpoint(&mut self) -> Option<SwBreakpointOps<'_, Self>> {
        Some(self)
    }

    fn support_hw_breakpoint(&mut self) -> Option<HwBreakpointOps<'_, Self>> {
        Some(self)
    }

    fn support_hw_watchpoint(&mut self) -> Option<HwWatchpointOps<'_, Self>> {
        Some(self)
    }
}

impl GuestTarget<'_> {
    /// Sets gdb's breakpoint of one kind at `addr`: an `int3` there, unless
    /// a breakpoint of the other kind put one already.
    fn add_breakpoint(&mut self, addr: u64, hardware: bool) -> bool {
        let memory = self.guest.memory;
        let mut state = self.debugger.lock();
        if let std::collections::btree_map::Entry::Vacant(entry) = state.breakpoints.entry(addr) {
            let mut byte = [0u8];
            if memory.read_exact(addr, &mut byte).is_err()
                || memory.write_bytes(addr, &[INT3]).is_err()
            {
                return false;
            }
            entry.insert(byte[0]);
        }
        let kind = if hardware {
            &mut state.hardware
        } else {
            &mut state.software
        };
        kind.insert(addr);
        true
    }

    /// Clears gdb's breakpoint of one kind at `addr`; the original byte
    /// goes back when no breakpoint of either kind is left there.
    fn remove_breakpoint(&mut self, addr: u64, hardware: bool) -> bool {
        let mut state = self.debugger.lock();
        let kind = if hardware {
            &mut state.hardware
        } else {
            &mut state.software
        };
        if !kind.remove(&addr) {
            return false;
        }
        if state.hardware.contains(&addr) || state.software.contains(&addr) {
            return true;
        }
        let Some(byte) = state.breakpoints.remove(&addr) else {
            return false;
        };
        // Read from there when it was set: still inside memory.
        self.guest.memory.write_bytes(addr, &[byte]).is_ok()
    }
}

impl SwBreakpoint for GuestTarget<'_> {
    fn add_sw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        Ok(self.add_breakpoint(addr, false))
    }

    fn remove_sw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        Ok(self.remove_breakpoint(addr, false))
    }
}

impl HwBreakpoint for GuestTarget<'_> {
    fn add_hw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        Ok(self.add_breakpoint(addr, true))
    }

    fn remove_hw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        Ok(self.remove_breakpoint(addr, true))
    }
}

/// The most bytes one watchpoint covers (gdb splits longer ones).
const WATCH_MAX: u64 = 8;

impl HwWatchpoint for GuestTarget<'_> {
    /// Write watchpoints only: a read leaves nothing to compare, so gdb
    /// says it cannot insert `rwatch` and `awatch`.
    fn add_hw_watchpoint(
        &mut self,
        addr: u64,
        len: u64,
        kind: WatchKind,
    ) -> TargetResult<bool, Self> {
        if kind != WatchKind::Write || len == 0 || len > WATCH_MAX {
            return Ok(false);
        }
        let mut last = vec![0u8; len as usize];
        if self.guest.memory.read_exact(addr, &mut last).is_err() {
            return Ok(false);
        }
        self.debugger.lock().watches.push(Watch { addr, last });
        Ok(true)
    }

    fn remove_hw_watchpoint(
        &mut self,
        addr: u64,
        len: u64,
        kind: WatchKind,
    ) -> TargetResult<bool, Self> {
        let mut state = self.debugger.lock();
        let found = state
            .watches
            .iter()
            .position(|w| w.addr == addr && w.last.len() as u64 == len);
        Ok(match found {
            Some(index) if kind == WatchKind::Write => {
                state.watches.remove(index);
                true
            }
            _ => false,
        })
    }
}

impl ThreadExtraInfo for GuestTarget<'_> {
    fn thread_extra_info(&self, tid: Tid, buf: &mut [u8]) -> Result<usize, TargetFault> {
        let Some(thread) = self.thread(tid) else {
            return Ok(0);
        };
        let mut text = match thread.vcpu {
            Some(vcpu) => format!("on vCPU {vcpu}"),
            None => "switched out".to_owned(),
        };
        if let Some(name) = &thread.name {
            text = format!("'{name}' {text}");
        }
        let len = text.len().min(buf.len());
        buf[..len].copy_from_slice(&text.as_bytes()[..len]);
        Ok(len)
    }
}

/// gdb's id for the thread on vCPU `index` (1 if it has none to show).
pub fn tid_of(target: &GuestTarget<'_>, index: u32) -> Tid {
    let state = target.debugger.lock();
    Debugger::tid_on(&target.guest, &state, index).unwrap_or(NonZeroUsize::MIN)
}
