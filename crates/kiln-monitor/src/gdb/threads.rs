//! The guest's threads as gdb's: those running on a vCPU, from its
//! `VcpuArea`, and the switched-out ones, from the scheduler's
//! `ThreadTable` ([`crate::crash::threads`]), while the guest is stopped.
//!
//! gdb's thread ids must be positive: a guest thread keeps its own id (the
//! main thread is 1); a vCPU running no thread (idling, or before the
//! scheduler starts) shows as [`IDLE_BASE`] + its index, except vCPU 0
//! before the scheduler publishes its table, which runs the main thread.

use std::mem::offset_of;
use std::num::NonZeroUsize;

use kiln_abi::boot::{BootInfo, ThreadTable};

use super::registers::{self, KilnRegs};
use super::{Debugger, State};
use crate::crash::threads::switched_out;
use crate::layout::Layout;
use crate::memory::GuestMemory;
use crate::vcpus::VcpuSet;

/// gdb's id of vCPU N's idle context is this plus N: above the guest's
/// thread ids in practice (they count up from 1), and inside the 31 bits
/// gdb keeps of a remote thread id.
pub const IDLE_BASE: usize = 1 << 30;

/// One gdb thread.
#[derive(Clone, Debug)]
pub struct GdbThread {
    /// Its gdb id.
    pub tid: NonZeroUsize,
    /// The vCPU it runs on, if it does.
    pub vcpu: Option<u32>,
    /// Its name, if the guest gave it one.
    pub name: Option<String>,
    /// Its registers: a running thread's are its parked vCPU's.
    pub regs: KilnRegs,
}

/// What the thread list is read from.
#[derive(Clone, Copy)]
pub struct Guest<'a> {
    /// Guest memory.
    pub memory: &'a GuestMemory,
    /// This boot's layout.
    pub layout: &'a Layout,
    /// The vCPUs.
    pub vcpus: &'a VcpuSet,
}

impl Guest<'_> {
    /// The scheduler's thread table (zeros until it starts).
    fn table(&self) -> ThreadTable {
        let at = self.layout.boot_info.start + offset_of!(BootInfo, threads) as u64;
        self.memory.read_obj(at).unwrap_or_default()
    }

    /// The guest's threads while it is stopped: those on parked vCPUs
    /// first, in vCPU order, then the switched-out ones.
    pub fn threads(&self, state: &State) -> Vec<GdbThread> {
        let table = self.table();
        let several = self.vcpus.several_started();
        let mut threads: Vec<GdbThread> = state
            .parked
            .iter()
            .enumerate()
            .filter_map(|(index, parked)| {
                let parked = parked.as_ref()?;
                let index = index as u32;
                let thread = crate::vm::crashed_thread(self.memory, self.layout, index, several);
                let tid = match thread.id {
                    0 if index == 0 && table.records == 0 => 1,
                    0 => IDLE_BASE + index as usize,
                    id => usize::try_from(id).ok()?,
                };
                Some(GdbThread {
                    tid: NonZeroUsize::new(tid)?,
                    vcpu: Some(index),
                    name: thread.name,
                    regs: registers::to_gdb(parked),
                })
            })
            .collect();
        for thread in switched_out(self.memory, &table) {
            let Some(tid) = usize::try_from(thread.id).ok().and_then(NonZeroUsize::new) else {
                continue;
            };
            // A lying table may repeat a running thread's id.
            if threads.iter().any(|t| t.tid == tid) {
                continue;
            }
            let r = &thread.registers;
            let mut regs = KilnRegs::default();
            regs.core.regs = [
                r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.rsp, r.r8, r.r9, r.r10, r.r11,
                r.r12, r.r13, r.r14, r.r15,
            ];
            regs.core.rip = r.rip;
            regs.fs_base = thread.fs_base;
            threads.push(GdbThread {
                tid,
                vcpu: None,
                name: thread.name,
                regs,
            });
        }
        threads
    }
}

impl Debugger {
    /// gdb's id of the thread on vCPU `index`, if it is parked.
    pub fn tid_on(guest: &Guest<'_>, state: &State, index: u32) -> Option<NonZeroUsize> {
        guest
            .threads(state)
            .into_iter()
            .find(|t| t.vcpu == Some(index))
            .map(|t| t.tid)
    }
}
