//! `Block`: idle the vCPU until a guest deadline, without spinning, or
//! until a frame arrives for the network device or stdin becomes readable.

use kiln_abi::hypercall::{BlockArgs, Hypercall, wait};

use super::{Context, Flow, Violation};
use crate::clock::{host_now_ns, sleep_until};

pub(super) fn block(ctx: &mut Context<'_>, gpa: u64) -> Result<Flow, Violation> {
    let mut args: BlockArgs = ctx.args(Hypercall::Block, gpa)?;
    let deadline = ctx.clock.host_ns_at_guest_ns(args.deadline_ns);
    let wants_stdin = args.wait & wait::STDIN != 0;
    let stdin = ctx.stdin.wait_fd().filter(|_| wants_stdin);
    // One wait per call: on a signal (the timeout) the guest is resumed and
    // the run loop sees the watchdog; a guest whose deadline is not reached
    // simply blocks again.
    let stdin_ready = if wants_stdin && stdin.is_none() {
        // An empty stdin is always at end of file: nothing to wait for.
        true
    } else if let Some(net) = ctx.net.as_deref_mut() {
        net.block(ctx.memory, deadline, stdin)?
    } else if stdin.is_some() {
        crate::stdin::wait(stdin, None, deadline).0
    } else {
        if deadline > host_now_ns(libc::CLOCK_MONOTONIC) {
            sleep_until(deadline);
        }
        false
    };
    args.ready = if stdin_ready { wait::STDIN } else { 0 };
    ctx.memory
        .write_obj(args, gpa)
        .map_err(|error| Violation::BadAddress {
            call: Hypercall::Block,
            error,
        })?;
    Ok(Flow::Continue)
}
