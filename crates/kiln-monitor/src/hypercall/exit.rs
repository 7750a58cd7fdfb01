//! `Exit` and `OutOfMemory`: the program ends, with a status or for want of
//! memory.

use kiln_abi::hypercall::{ExitArgs, Hypercall, OutOfMemoryArgs};

use super::{Context, Flow, Violation};
use crate::Outcome;

pub(super) fn exit(ctx: &mut Context<'_>, gpa: u64) -> Result<Flow, Violation> {
    let args: ExitArgs = ctx.args(Hypercall::Exit, gpa)?;
    Ok(Flow::Stop(Outcome::Exited(args.status)))
}

pub(super) fn out_of_memory(ctx: &mut Context<'_>, gpa: u64) -> Result<Flow, Violation> {
    let args: OutOfMemoryArgs = ctx.args(Hypercall::OutOfMemory, gpa)?;
    Ok(Flow::Stop(Outcome::OutOfMemory {
        requested: args.requested,
    }))
}
