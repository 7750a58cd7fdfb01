//! The guest as `gdbstub` sees it: threads, registers, memory, software
//! breakpoints, continue and step, all on a stopped guest.
//!
//! Hardware breakpoints and watchpoints are not offered: kvm_pvm never
//! fires debug registers set through `KVM_SET_GUEST_DEBUG`, and the guest
//! cannot set them itself at CPL3 (its CPL0 path is emulated). gdb then
//! says "No hardware breakpoint support in the target" for `hbreak`, and
//! makes `watch` a software watchpoint, which single-steps the guest.

use std::num::NonZeroUsize;

use gdbstub::common::{Signal, Tid};
use gdbstub::target::ext::base::BaseOps;
use gdbstub::target::ext::base::multithread::{
    MultiThreadBase, MultiThreadResume, MultiThreadResumeOps, MultiThreadSchedulerLocking,
    MultiThreadSchedulerLockingOps, MultiThreadSingleStep, MultiThreadSingleStepOps,
};
use gdbstub::target::ext::breakpoints::{
    Breakpoints, BreakpointsOps, SwBreakpoint, SwBreakpointOps,
};
use gdbstub::target::ext::thread_extra_info::{ThreadExtraInfo, ThreadExtraInfoOps};
use gdbstub::target::{Target, TargetError, TargetResult};

use super::registers::{self, KilnRegs, KilnX86_64};
use super::threads::{GdbThread, Guest};
use super::{Debugger, INT3};

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
        self.guest
            .memory
            .write_bytes(start, data)
            .map_err(|_| TargetError::NonFatal)
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
}

impl SwBreakpoint for GuestTarget<'_> {
    fn add_sw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        let memory = self.guest.memory;
        let mut state = self.debugger.lock();
        if state.breakpoints.contains_key(&addr) {
            return Ok(true);
        }
        let mut byte = [0u8];
        if memory.read_exact(addr, &mut byte).is_err() || memory.write_bytes(addr, &[INT3]).is_err()
        {
            return Ok(false);
        }
        state.breakpoints.insert(addr, byte[0]);
        Ok(true)
    }

    fn remove_sw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        let mut state = self.debugger.lock();
        let Some(byte) = state.breakpoints.remove(&addr) else {
            return Ok(false);
        };
        // Read from there when it was set: still inside memory.
        Ok(self.guest.memory.write_bytes(addr, &[byte]).is_ok())
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
