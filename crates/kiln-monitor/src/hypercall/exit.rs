//! `Exit`: the program ends with a status.

use kiln_abi::hypercall::{ExitArgs, Hypercall};

use super::{Context, Flow, Violation};
use crate::Outcome;

pub(super) fn exit(ctx: &mut Context<'_>, gpa: u64) -> Result<Flow, Violation> {
    let args: ExitArgs = ctx.args(Hypercall::Exit, gpa)?;
    Ok(Flow::Stop(Outcome::Exited(args.status)))
}
