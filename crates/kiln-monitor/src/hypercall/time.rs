//! `Block`: idle the vCPU until a guest deadline, without spinning, or
//! until a frame arrives for the network device.

use kiln_abi::hypercall::{BlockArgs, Hypercall};

use super::{Context, Flow, Violation};
use crate::clock::{host_now_ns, sleep_until};

pub(super) fn block(ctx: &mut Context<'_>, gpa: u64) -> Result<Flow, Violation> {
    let args: BlockArgs = ctx.args(Hypercall::Block, gpa)?;
    let deadline = ctx.clock.host_ns_at_guest_ns(args.deadline_ns);
    // One wait per call: on a signal (the timeout) the guest is resumed and
    // the run loop sees the watchdog; a guest whose deadline is not reached
    // simply blocks again.
    if let Some(net) = ctx.net.as_deref_mut() {
        net.block(ctx.memory, deadline)?;
    } else if deadline > host_now_ns(libc::CLOCK_MONOTONIC) {
        sleep_until(deadline);
    }
    Ok(Flow::Continue)
}
