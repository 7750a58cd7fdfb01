//! `Block`: idle the vCPU until a guest deadline, without spinning, or
//! until a frame arrives for the network device or stdin becomes readable
//! (each if the guest asks), or another vCPU wakes this one. Every vCPU may block at once: the wait
//! holds no lock.

use kiln_abi::hypercall::{BlockArgs, Hypercall, wait};

use super::{Context, Flow, Violation};
use crate::net::BlockPlan;
use crate::vcpus::lock;

pub(super) fn block(ctx: &mut Context<'_>, gpa: u64) -> Result<Flow, Violation> {
    let mut args: BlockArgs = ctx.args(Hypercall::Block, gpa)?;
    // What the guest printed goes out before it idles (a prompt before a
    // read), without waiting for a slow reader, and not while the console
    // thread writes: the output is then on its way already.
    if let Ok(mut console) = ctx.console.try_lock() {
        console.drain(&ctx.guest(), &|| true)?;
    }
    let deadline = ctx.clock.host_ns_at_guest_ns(args.deadline_ns);
    let wants_stdin = args.wait & wait::STDIN != 0;
    let wants_frames = args.wait & wait::NETWORK != 0;
    let stdin = ctx.stdin.wait_fd().filter(|_| wants_stdin);
    let index = ctx.vcpu_index;
    // One wait per call: on a signal (the timeout) or a wake the guest is
    // resumed and the run loop sees whether the VM is stopping; a guest
    // whose deadline is not reached simply blocks again.
    let stdin_ready = if wants_stdin && stdin.is_none() {
        // An empty stdin is always at end of file: nothing to wait for.
        true
    } else {
        // Marked before the device is looked at: frames another vCPU's
        // exit delivers from then on come with a wake.
        ctx.vcpus.set_waits_for_frames(index, wants_frames);
        let plan = match ctx.net.filter(|_| wants_frames) {
            Some(net) => lock(net).before_block(ctx.memory, index),
            None => Ok(BlockPlan::Poll(None)),
        };
        let plan = plan.inspect_err(|_| ctx.vcpus.set_waits_for_frames(index, false))?;
        match plan {
            BlockPlan::Return => false,
            BlockPlan::Poll(frames) => {
                let wake = Some(ctx.vcpus.wake_fd(index));
                ctx.vcpus.block_begins();
                let [stdin_ready, frames_ready, woken] =
                    crate::wait::until([stdin, frames, wake], deadline);
                ctx.vcpus.block_ends();
                if let Some(net) = ctx.net.filter(|_| frames_ready) {
                    lock(net).after_block(ctx.memory, index)?;
                }
                if woken {
                    ctx.vcpus.take_wake(index);
                }
                stdin_ready
            }
        }
    };
    ctx.vcpus.set_waits_for_frames(index, false);
    args.ready = if stdin_ready { wait::STDIN } else { 0 };
    ctx.memory
        .write_obj(args, gpa)
        .map_err(|error| Violation::BadAddress {
            call: Hypercall::Block,
            error,
        })?;
    Ok(Flow::Continue)
}
