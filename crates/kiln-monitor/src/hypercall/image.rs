//! `ReadImage`: bytes of the image file the VM booted, for the program's
//! own backtraces (std reads its symbols through `/proc/self/exe`). The
//! monitor holds the whole file already; the guest has only the segments
//! the loader mapped.

use kiln_abi::hypercall::{Hypercall, READ_IMAGE_MAX, ReadImageArgs};

use super::{Context, Flow, Violation};

const CALL: Hypercall = Hypercall::ReadImage;

pub(super) fn read(ctx: &mut Context<'_>, gpa: u64) -> Result<Flow, Violation> {
    let mut args: ReadImageArgs = ctx.args(CALL, gpa)?;
    if args.len > READ_IMAGE_MAX {
        return Err(Violation::TooLong {
            call: CALL,
            len: args.len,
            max: READ_IMAGE_MAX,
        });
    }
    let file = ctx.image.bytes;
    let start = usize::try_from(args.offset).map_or(file.len(), |o| o.min(file.len()));
    let end = start.saturating_add(args.len as usize).min(file.len());
    ctx.memory
        .write_bytes(args.data.addr(), &file[start..end])
        .map_err(|error| Violation::BadAddress { call: CALL, error })?;
    args.copied = (end - start) as u64;
    ctx.memory
        .write_obj(args, gpa)
        .map_err(|error| Violation::BadAddress { call: CALL, error })?;
    Ok(Flow::Continue)
}
