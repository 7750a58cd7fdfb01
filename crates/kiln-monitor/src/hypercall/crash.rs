//! `Panic` and `Trap`: the guest reports its own death.

use kiln_abi::hypercall::{Hypercall, PANIC_MESSAGE_MAX, PanicArgs};
use kiln_abi::trap::TrapFrame;

use super::{Context, Flow, GuestBuffer, Violation, read_buffer};
use crate::Outcome;
use crate::crash::report::{CrashKind, CrashReport};
use crate::crash::unwind::Registers;

pub(super) fn panic(ctx: &mut Context<'_>, gpa: u64) -> Result<Flow, Violation> {
    let call = Hypercall::Panic;
    let args: PanicArgs = ctx.args(call, gpa)?;
    let mut message = Vec::new();
    let buffer = GuestBuffer {
        data: args.message,
        len: args.len,
        max: PANIC_MESSAGE_MAX,
    };
    read_buffer(ctx.memory, call, buffer, &mut message)?;
    let registers = ctx
        .vcpu
        .get_regs()
        .map(|r| Registers::from(&r))
        .unwrap_or_default();
    let kind = CrashKind::Panic {
        message: String::from_utf8_lossy(&message).into_owned(),
    };
    let thread = crate::vm::crashed_thread(
        ctx.memory,
        ctx.layout,
        ctx.vcpu_index,
        ctx.vcpus.several_started(),
    );
    Ok(stop(CrashReport::build(
        kind, registers, false, ctx.image, ctx.memory, thread,
    )))
}

pub(super) fn trap(ctx: &mut Context<'_>, gpa: u64) -> Result<Flow, Violation> {
    let frame: TrapFrame = ctx.args(Hypercall::Trap, gpa)?;
    if let Some(debugger) = ctx.debugger
        && debugger.trapped(ctx.vcpu_index, &frame, ctx.vcpu, ctx.vcpus, ctx.memory)
    {
        // Stopped for gdb: the vCPU parks before it runs again.
        return Ok(Flow::Continue);
    }
    let cr2 = ctx.vcpu.get_sregs().map(|s| s.cr2).unwrap_or_default();
    let mut registers = Registers::from(&frame);
    let kind = match CrashKind::system_call(&frame, cr2, ctx.memory) {
        // Unwound from the `syscall` instruction, the program's own code.
        Some((kind, at)) => {
            registers.rip = at;
            kind
        }
        None => CrashKind::exception(&frame, cr2, ctx.layout),
    };
    let thread = crate::vm::crashed_thread(
        ctx.memory,
        ctx.layout,
        ctx.vcpu_index,
        ctx.vcpus.several_started(),
    );
    Ok(stop(CrashReport::build(
        kind, registers, true, ctx.image, ctx.memory, thread,
    )))
}

fn stop(report: CrashReport) -> Flow {
    Flow::Stop(Outcome::Crashed(Box::new(report)))
}
