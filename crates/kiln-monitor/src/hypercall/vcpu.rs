//! `StartVcpu` and `WakeVcpu`: the guest puts its other vCPUs to work.

use kiln_abi::hypercall::{Hypercall, StartVcpuArgs, WakeVcpuArgs};

use super::{Context, Flow, Violation};
use crate::cpu;

pub(super) fn start(ctx: &mut Context<'_>, gpa: u64) -> Result<Flow, Violation> {
    let call = Hypercall::StartVcpu;
    let args: StartVcpuArgs = ctx.args(call, gpa)?;
    // Checked first: only a vCPU that may start gets its tables written.
    ctx.vcpus.check_startable(args.index)?;
    // Written now rather than at boot: a program that never starts the
    // vCPU never touches these pages (~10 µs each on kvm_pvm).
    cpu::write_gdt_and_tss(ctx.memory, &ctx.layout.vcpu_tables(args.index))
        .map_err(|error| Violation::BadAddress { call, error })?;
    ctx.vcpus.start(
        args.index,
        cpu::entry_registers(args.rip, args.rsp, args.arg),
    )?;
    Ok(Flow::Continue)
}

pub(super) fn wake(ctx: &mut Context<'_>, gpa: u64) -> Result<Flow, Violation> {
    let args: WakeVcpuArgs = ctx.args(Hypercall::WakeVcpu, gpa)?;
    ctx.vcpus.wake(args.index)?;
    Ok(Flow::Continue)
}
