//! `GrowMemory`: map more guest memory, up to the limit.

use kiln_abi::hypercall::{GrowMemoryArgs, Hypercall};

use super::{Context, Flow, Violation};

const CALL: Hypercall = Hypercall::GrowMemory;

pub(super) fn grow(ctx: &mut Context<'_>, gpa: u64) -> Result<Flow, Violation> {
    let mut args: GrowMemoryArgs = ctx.args(CALL, gpa)?;
    let grown = crate::vcpus::lock(ctx.growth)
        .grow(ctx.vm, ctx.memory, ctx.layout, args.at_least)
        .map_err(|e| Violation::Grow(e.to_string()))?;
    let usable = grown.unwrap_or(0..0);
    args.start = usable.start;
    args.len = usable.end - usable.start;
    ctx.memory
        .write_obj(args, gpa)
        .map_err(|error| Violation::BadAddress { call: CALL, error })?;
    Ok(Flow::Continue)
}
