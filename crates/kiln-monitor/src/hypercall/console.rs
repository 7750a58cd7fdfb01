//! `ConsoleWrite`: guest bytes to the host's stdout or stderr, after what
//! the guest's standard-output ring holds ([`crate::console`]).

use kiln_abi::hypercall::{CONSOLE_WRITE_MAX, ConsoleWriteArgs, Hypercall};

use super::{Context, Flow, GuestBuffer, Violation, read_buffer};

pub(super) fn write(ctx: &mut Context<'_>, gpa: u64) -> Result<Flow, Violation> {
    let call = Hypercall::ConsoleWrite;
    let args: ConsoleWriteArgs = ctx.args(call, gpa)?;
    let buffer = GuestBuffer {
        data: args.data,
        len: args.len,
        max: CONSOLE_WRITE_MAX,
    };
    let read = |bytes: &mut Vec<u8>| read_buffer(ctx.memory, call, buffer, bytes);
    crate::vcpus::lock(ctx.console).write(&ctx.guest(), args.stream, read, &ctx.give_up())?;
    Ok(Flow::Continue)
}
