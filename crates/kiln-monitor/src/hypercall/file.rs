//! `File`: an operation on a host volume.
//!
//! This layer only translates between guest memory and
//! [`crate::volume::Volumes`]: paths are copied out (they are short, and the
//! host wants them NUL-terminated), data buffers are lent to the host call
//! in place, so file bytes move between the host file and guest memory with
//! no copy in between. A block the monitor cannot accept (a buffer outside
//! guest memory, a length over its limit, an unknown operation, a `Stat`
//! buffer of the wrong size) is a violation; everything the host refuses is
//! an errno in `result`. Deferred `Write`/`Close` blocks listed in
//! `pending` are carried out first, in order, each answering in its own
//! `result`.

use std::mem::offset_of;

use kiln_abi::GuestPtr;
use kiln_abi::file::{FileArgs, FileLock, FileOp, FileStat, IO_MAX, PATH_MAX, PENDING_MAX};
use kiln_abi::hypercall::Hypercall;

use super::{Context, Flow, GuestBuffer, Violation, read_buffer};
use crate::memory::{GuestAccessError, GuestMemory};
use crate::stats::LiveStats;
use crate::volume::{Errno, Volumes};

const CALL: Hypercall = Hypercall::File;

pub(super) fn file(ctx: &mut Context<'_>, gpa: u64) -> Result<Flow, Violation> {
    let args: FileArgs = ctx.args(CALL, gpa)?;
    let op = FileOp::from_number(args.op).ok_or(Violation::UnknownFileOp(args.op))?;
    let mut volumes = crate::vcpus::lock(ctx.volumes);
    serve_pending(ctx.memory, &mut volumes, ctx.stats, &args)?;
    let result = match serve(ctx.memory, &mut volumes, ctx.stats, op, &args)? {
        Answer::Opened(handle) => {
            write(
                ctx.memory,
                handle,
                gpa + offset_of!(FileArgs, handle) as u64,
            )?;
            Ok(0)
        }
        Answer::Done(result) => result,
    };
    let result = match result {
        Ok(value) => i64::try_from(value).unwrap_or(-i64::from(libc::EOVERFLOW)),
        Err(Errno(errno)) => -i64::from(errno),
    };
    write(
        ctx.memory,
        result,
        gpa + offset_of!(FileArgs, result) as u64,
    )?;
    Ok(Flow::Continue)
}

/// Carries out the deferred blocks `args.pending` lists, writing each one's
/// `result` back.
fn serve_pending(
    memory: &GuestMemory,
    volumes: &mut Volumes,
    stats: &LiveStats,
    args: &FileArgs,
) -> Result<(), Violation> {
    if args.pending_count > PENDING_MAX {
        return Err(Violation::TooManyPending(args.pending_count));
    }
    let size = size_of::<FileArgs>() as u64;
    let list = args.pending.addr();
    memory.check(list, args.pending_count * size).map_err(bad)?;
    for index in 0..args.pending_count {
        let at = list + index * size;
        let block: FileArgs = memory.read_obj(at).map_err(bad)?;
        let op = FileOp::from_number(block.op)
            .filter(|op| matches!(op, FileOp::Write | FileOp::Close))
            .filter(|_| block.pending_count == 0)
            .ok_or(Violation::BadPending {
                index,
                op: block.op,
                nested: block.pending_count,
            })?;
        let result = match serve(memory, volumes, stats, op, &block)? {
            Answer::Done(Ok(value)) => i64::try_from(value).unwrap_or(i64::MAX),
            Answer::Done(Err(Errno(errno))) => -i64::from(errno),
            // Only `Open` opens; it is never deferred.
            Answer::Opened(_) => 0,
        };
        write(memory, result, at + offset_of!(FileArgs, result) as u64)?;
    }
    Ok(())
}

/// What an operation gives back.
enum Answer {
    /// `Open` succeeded: the new handle (and `result` 0).
    Opened(u64),
    /// Any other outcome: `result`.
    Done(Result<u64, Errno>),
}

fn serve(
    memory: &GuestMemory,
    volumes: &mut Volumes,
    stats: &LiveStats,
    op: FileOp,
    args: &FileArgs,
) -> Result<Answer, Violation> {
    let path = || read_path(memory, args.path, args.path_len);
    let path2 = || read_path(memory, args.path2, args.path2_len);
    let (volume, handle) = (args.volume, args.handle);
    let done = match op {
        FileOp::Open => {
            return Ok(
                match volumes.open(volume, &path()?, args.flags, args.mode) {
                    Ok(handle) => Answer::Opened(handle),
                    Err(errno) => Answer::Done(Err(errno)),
                },
            );
        }
        FileOp::Close => volumes.close(handle),
        FileOp::Read => lend(memory, args.buf, args.len, |buf| {
            volumes.read(handle, args.offset, buf)
        })?
        .inspect(|&n| stats.volume(false, n)),
        FileOp::Write => lend(memory, args.buf, args.len, |buf| {
            volumes.write(handle, args.offset, buf)
        })?
        .inspect(|&n| stats.volume(true, n)),
        FileOp::Seek => volumes.seek(handle, args.offset, args.flags),
        FileOp::Stat => stat(memory, volumes, args)?,
        FileOp::Fsync => volumes.fsync(handle, args.flags),
        FileOp::Truncate => volumes.truncate(handle, args.offset),
        FileOp::ReadDir => lend(memory, args.buf, args.len, |buf| {
            volumes.read_dir(handle, buf)
        })?,
        FileOp::Mkdir => volumes.mkdir(volume, &path()?, args.mode),
        FileOp::Unlink => volumes.unlink(volume, &path()?, args.flags),
        FileOp::Rename => volumes.rename(volume, &path()?, &path2()?),
        FileOp::ReadLink => {
            let path = path()?;
            lend(memory, args.buf, args.len, |buf| {
                volumes.read_link(volume, &path, buf)
            })?
        }
        FileOp::Symlink => volumes.symlink(volume, &path()?, &path2()?),
        FileOp::Flush => Ok(0),
        FileOp::Flock => volumes.flock(handle, args.flags),
        FileOp::Lock => lock(memory, volumes, args)?,
        FileOp::SyncRange => volumes.sync_range(handle, args.offset, args.len, args.flags),
        FileOp::SetTimes => set_times(memory, volumes, args)?,
        FileOp::Allocate => volumes.allocate(handle, args.flags, args.offset, args.len),
        FileOp::SetMode => volumes.set_mode(handle, args.mode),
        // An operation the ABI crate knows and this monitor does not serve.
        _ => return Err(Violation::UnknownFileOp(args.op)),
    };
    Ok(Answer::Done(done))
}

/// `Stat`: of the handle (no path) or of the path; the `FileStat` goes to
/// `buf`, which must be exactly one.
fn stat(
    memory: &GuestMemory,
    volumes: &Volumes,
    args: &FileArgs,
) -> Result<Result<u64, Errno>, Violation> {
    if args.len != size_of::<FileStat>() as u64 {
        return Err(Violation::StatSize(args.len));
    }
    memory.check(args.buf.addr(), args.len).map_err(bad)?;
    let stat = if args.path_len == 0 {
        volumes.stat(args.handle)
    } else {
        let path = read_path(memory, args.path, args.path_len)?;
        volumes.stat_path(args.volume, &path, args.flags)
    };
    match stat {
        Ok(stat) => write(memory, stat, args.buf.addr()).map(|()| Ok(0)),
        Err(errno) => Ok(Err(errno)),
    }
}

/// Copies a path out of guest memory.
fn read_path(memory: &GuestMemory, data: GuestPtr<u8>, len: u64) -> Result<Vec<u8>, Violation> {
    let mut path = Vec::new();
    let buffer = GuestBuffer {
        data,
        len,
        max: PATH_MAX,
    };
    read_buffer(memory, CALL, buffer, &mut path)?;
    Ok(path)
}

/// `Lock`: the `FileLock` at `buf` (exactly one) in, and back out.
fn lock(
    memory: &GuestMemory,
    volumes: &Volumes,
    args: &FileArgs,
) -> Result<Result<u64, Errno>, Violation> {
    if args.len != size_of::<FileLock>() as u64 {
        return Err(Violation::BlockSize {
            what: "Lock",
            len: args.len,
            size: size_of::<FileLock>(),
        });
    }
    let mut lock: FileLock = memory.read_obj(args.buf.addr()).map_err(bad)?;
    match volumes.lock(args.handle, args.flags, &mut lock) {
        Ok(value) => write(memory, lock, args.buf.addr()).map(|()| Ok(value)),
        Err(errno) => Ok(Err(errno)),
    }
}

/// `SetTimes`: two `struct timespec` at `buf`, of the handle (no path) or
/// of the path.
fn set_times(
    memory: &GuestMemory,
    volumes: &Volumes,
    args: &FileArgs,
) -> Result<Result<u64, Errno>, Violation> {
    const SIZE: usize = 2 * size_of::<[i64; 2]>();
    if args.len != SIZE as u64 {
        return Err(Violation::BlockSize {
            what: "SetTimes",
            len: args.len,
            size: SIZE,
        });
    }
    let words: [i64; 4] = memory.read_obj(args.buf.addr()).map_err(bad)?;
    let times = [
        libc::timespec {
            tv_sec: words[0],
            tv_nsec: words[1],
        },
        libc::timespec {
            tv_sec: words[2],
            tv_nsec: words[3],
        },
    ];
    Ok(if args.path_len == 0 {
        volumes.set_times(args.handle, &times)
    } else {
        let path = read_path(memory, args.path, args.path_len)?;
        volumes.set_times_path(args.volume, &path, args.flags, &times)
    })
}

/// Lends the guest's `len` bytes at `data` to `f`, in place.
fn lend<R>(
    memory: &GuestMemory,
    data: GuestPtr<u8>,
    len: u64,
    f: impl FnOnce(&mut [u8]) -> R,
) -> Result<R, Violation> {
    if len > IO_MAX {
        return Err(Violation::TooLong {
            call: CALL,
            len,
            max: IO_MAX,
        });
    }
    if len == 0 {
        memory.check(data.addr(), 0).map_err(bad)?;
        return Ok(f(&mut []));
    }
    let slice = memory.slice(data.addr(), len).map_err(bad)?;
    let guard = slice.ptr_guard_mut();
    // SAFETY: `guard` points at `slice.len()` bytes of guest memory's host
    // mapping, bounds-checked above, which lives as long as `memory`. No
    // one else touches those bytes while `f` runs: the guest's only vCPU is
    // stopped in this exit, and this handler holds no other reference into
    // guest memory (paths were copied out; the argument block was read by
    // value and is written back only after `f` returns).
    let bytes = unsafe { std::slice::from_raw_parts_mut(guard.as_ptr(), slice.len()) };
    Ok(f(bytes))
}

fn write<T: vm_memory::ByteValued>(
    memory: &GuestMemory,
    value: T,
    addr: u64,
) -> Result<(), Violation> {
    memory.write_obj(value, addr).map_err(bad)
}

fn bad(error: GuestAccessError) -> Violation {
    Violation::BadAddress { call: CALL, error }
}
