//! `StdinRead`: what the host's stdin holds now, into a guest buffer.

use kiln_abi::hypercall::{Hypercall, STDIN_READ_MAX, StdinReadArgs};

use super::{Context, Flow, Violation};

const CALL: Hypercall = Hypercall::StdinRead;

pub(super) fn read(ctx: &mut Context<'_>, gpa: u64) -> Result<Flow, Violation> {
    let mut args: StdinReadArgs = ctx.args(CALL, gpa)?;
    if args.len > STDIN_READ_MAX {
        return Err(Violation::TooLong {
            call: CALL,
            len: args.len,
            max: STDIN_READ_MAX,
        });
    }
    let bad = |error| Violation::BadAddress { call: CALL, error };
    // Checked before reading: bytes taken from the host's stdin must have
    // somewhere to go.
    let (result, revents) = if args.len == 0 {
        ctx.memory.check(args.data.addr(), 0).map_err(bad)?;
        // SAFETY: a zero-length read writes nothing.
        unsafe { ctx.stdin.read(std::ptr::NonNull::dangling().as_ptr(), 0) }
    } else {
        let slice = ctx.memory.slice(args.data.addr(), args.len).map_err(bad)?;
        let guard = slice.ptr_guard_mut();
        // SAFETY: `guard` points at `slice.len()` bytes of guest memory's
        // host mapping, bounds-checked above, which lives as long as
        // `ctx.memory`. The calling vCPU is stopped in this exit; another
        // may touch the same bytes meanwhile, which only gives the guest
        // mixed bytes in its own buffer, as a racing thread would on Linux.
        unsafe { ctx.stdin.read(guard.as_ptr(), slice.len()) }
    };
    args.result = result;
    args.revents = revents;
    ctx.memory.write_obj(args, gpa).map_err(bad)?;
    Ok(Flow::Continue)
}
