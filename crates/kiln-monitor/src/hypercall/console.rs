//! `ConsoleWrite`: guest bytes to the host's stdout or stderr.

use std::io::Write;

use kiln_abi::hypercall::{CONSOLE_WRITE_MAX, ConsoleWriteArgs, Hypercall, stream};

use super::{Context, Flow, GuestBuffer, Violation, read_buffer};

/// The host side of the guest console.
#[derive(Debug, Default)]
pub struct Console {
    scratch: Vec<u8>,
    /// Bytes written per stream (stdout, stderr).
    pub bytes: [u64; 2],
}

pub(super) fn write(ctx: &mut Context<'_>, gpa: u64) -> Result<Flow, Violation> {
    let call = Hypercall::ConsoleWrite;
    let args: ConsoleWriteArgs = ctx.args(call, gpa)?;
    let buffer = GuestBuffer {
        data: args.data,
        len: args.len,
        max: CONSOLE_WRITE_MAX,
    };
    let mut console = crate::vcpus::lock(ctx.console);
    let console = &mut *console;
    read_buffer(ctx.memory, call, buffer, &mut console.scratch)?;
    // A host stream that is gone (a closed pipe) drops the guest's output
    // rather than ending it: the guest cannot do anything about it.
    let result = match args.stream {
        stream::STDOUT => {
            console.bytes[0] += args.len;
            ctx.stats.console(0, args.len);
            let mut out = std::io::stdout().lock();
            out.write_all(&console.scratch).and_then(|()| out.flush())
        }
        stream::STDERR => {
            console.bytes[1] += args.len;
            ctx.stats.console(1, args.len);
            std::io::stderr().write_all(&console.scratch)
        }
        other => return Err(Violation::BadStream(other)),
    };
    drop(result);
    Ok(Flow::Continue)
}
