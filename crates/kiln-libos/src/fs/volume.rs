//! Host volumes: file operations the monitor carries out beneath a host
//! directory, one `File` hypercall each (see `kiln_abi::file`).
//!
//! Every exit to the monitor costs ~30 µs on our hosts, so small writes and
//! closes are *deferred*: the write's bytes are copied to a staging buffer
//! and both wait in a queue that rides along with the next call (see
//! `kiln_abi::file`), which the monitor carries out first. Nothing else is
//! cached: every other call, `fsync` included, sees all earlier writes done.
//! A deferred write that fails reports its error at the handle's next write
//! or `fsync`, as a kernel's write-back does. The queue is also flushed
//! before the vCPU idles and when the program ends.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;

use kiln_abi::GuestPtr;
use kiln_abi::file::{
    CURRENT_POSITION, FSYNC_DATA_ONLY, FileArgs, FileLock, FileOp, FileStat, IO_MAX, PATH_MAX,
    PENDING_MAX, STAT_NO_FOLLOW, UNLINK_DIRECTORY,
};
use kiln_abi::fs_image::kind;

use super::{Errno, Result};
use crate::platform;
use crate::preempt::Lock;

/// A monitor-side open file.
pub type Handle = u64;

/// Linux's limit on symbolic links followed in one lookup.
const MAX_LINKS: u32 = 40;

/// The largest write that is deferred; larger ones go at once, without a copy.
const DEFER_MAX: usize = 64 * 1024;

/// Bytes of deferred writes held at once.
const STAGING: usize = 256 * 1024;

/// Deferred writes and closes, waiting for the next call.
struct Queue {
    blocks: [FileArgs; PENDING_MAX as usize],
    count: usize,
    /// The deferred writes' bytes (allocated on first use).
    staging: Option<Box<[u8]>>,
    used: usize,
}

/// Errors of deferred writes, not yet reported. Apart from [`QUEUE`]: an
/// empty `Vec` is not all zeros, and inside the queue it would put the
/// whole queue in the image's `.data` rather than `.bss`. Taken after
/// `QUEUE` when both are held.
static FAILED: Lock<Vec<(Handle, Errno)>> = Lock::new(Vec::new());

static QUEUE: Lock<Queue> = Lock::new(Queue {
    blocks: [FileArgs {
        op: 0,
        volume: 0,
        handle: 0,
        path: GuestPtr::NULL,
        path_len: 0,
        path2: GuestPtr::NULL,
        path2_len: 0,
        buf: GuestPtr::NULL,
        len: 0,
        offset: 0,
        flags: 0,
        mode: 0,
        result: 0,
        pending: GuestPtr::NULL,
        pending_count: 0,
    }; PENDING_MAX as usize],
    count: 0,
    staging: None,
    used: 0,
});

/// Drops the unreported errors of `handle`'s deferred writes.
fn forget_errors(handle: Handle) {
    FAILED.lock().retain(|(h, _)| *h != handle);
}

impl Queue {
    /// Makes `args` with the queued blocks in front, and notes the errors
    /// of the deferred writes among them.
    fn submit(&mut self, args: &mut FileArgs) {
        args.pending = GuestPtr::from_ptr(self.blocks.as_ptr());
        args.pending_count = self.count as u64;
        platform::file_call(args);
        for block in &self.blocks[..self.count] {
            if block.op == FileOp::Close as u32 {
                // Its errors go with the handle, whose number the monitor
                // may give the next file opened.
                forget_errors(block.handle);
                continue;
            }
            let short = block.op == FileOp::Write as u32
                && (block.result < 0 || block.result as u64 != block.len);
            if short {
                let errno = if block.result < 0 {
                    Errno(-block.result as i32)
                } else {
                    Errno(kiln_abi::errno::ENOSPC)
                };
                FAILED.lock().push((block.handle, errno));
            }
        }
        self.count = 0;
        self.used = 0;
    }

    /// Queues `block`, flushing first if the queue is full.
    fn push(&mut self, block: FileArgs) {
        if self.count == self.blocks.len() {
            self.flush();
        }
        self.blocks[self.count] = block;
        self.count += 1;
    }

    fn flush(&mut self) {
        if self.count > 0 {
            let mut args = FileArgs {
                op: FileOp::Flush as u32,
                ..Default::default()
            };
            self.submit(&mut args);
        }
    }
}

fn call(mut args: FileArgs) -> Result<(i64, FileArgs)> {
    // A path built from a deep working directory can be longer than one
    // call may carry (the monitor would end the VM for it): refuse it as
    // Linux refuses an overlong path.
    if args.path_len >= PATH_MAX || args.path2_len >= PATH_MAX {
        return Err(Errno(kiln_abi::errno::ENAMETOOLONG));
    }
    QUEUE.lock().submit(&mut args);
    if args.result < 0 {
        Err(Errno(-args.result as i32))
    } else {
        Ok((args.result, args))
    }
}

/// Carries out the deferred writes and closes now, unless this vCPU is
/// inside the queue (the program is crashing there): then there is nothing
/// consistent to flush.
pub fn flush_if_idle() {
    if let Some(mut queue) = crate::preempt::lock_unless_reentered(&QUEUE) {
        queue.flush();
    }
}

/// Defers a write of `data` at `offset` (or the handle's position); false
/// if it is too large to defer (then it must be written at once).
pub fn write_behind(handle: Handle, data: &[u8], offset: Option<u64>) -> bool {
    if data.len() > DEFER_MAX {
        return false;
    }
    let mut queue = QUEUE.lock();
    // Flush now if either the bytes or the block would not fit: flushing
    // later, in `push`, would free the staging buffer under this block's
    // bytes, for the next write to overwrite before they are sent.
    if queue.used + data.len() > STAGING || queue.count == queue.blocks.len() {
        queue.flush();
    }
    let queue = &mut *queue;
    let staging = queue
        .staging
        .get_or_insert_with(|| alloc::vec![0; STAGING].into_boxed_slice());
    let copy = &mut staging[queue.used..queue.used + data.len()];
    copy.copy_from_slice(data);
    let block = transfer(FileOp::Write, handle, copy.as_ptr(), copy.len(), offset);
    queue.used += data.len();
    queue.push(block);
    true
}

/// The error of an earlier deferred write on `handle`, if one failed (reported once).
pub fn take_error(handle: Handle) -> Option<Errno> {
    let mut failed = FAILED.lock();
    let at = failed.iter().position(|(h, _)| *h == handle)?;
    Some(failed.remove(at).1)
}

fn on_path(op: FileOp, volume: u32, path: &[u8]) -> FileArgs {
    FileArgs {
        op: op as u32,
        volume,
        path: GuestPtr::from_ptr(path.as_ptr()),
        path_len: path.len() as u64,
        ..Default::default()
    }
}

fn on_handle(op: FileOp, handle: Handle) -> FileArgs {
    FileArgs {
        op: op as u32,
        handle,
        ..Default::default()
    }
}

/// Opens `path` in `volume` with Linux `O_*` `flags`.
pub fn open(volume: u32, path: &[u8], flags: i32, mode: u32) -> Result<Handle> {
    let args = FileArgs {
        flags: flags as u32,
        mode,
        ..on_path(FileOp::Open, volume, path)
    };
    call(args).map(|(_, args)| args.handle)
}

/// Closes a handle (deferred: the handle is gone either way, and a close
/// error on a host file has nothing left to report).
pub fn close(handle: Handle) {
    let mut queue = QUEUE.lock();
    forget_errors(handle);
    queue.push(on_handle(FileOp::Close, handle));
}

/// A `Read` or `Write` block for the `len` bytes at `buf` (at most
/// [`IO_MAX`] of them) at `offset`, or at the handle's position if `None`.
/// For a read the monitor writes there: `buf` must come from a `&mut`.
fn transfer(
    op: FileOp,
    handle: Handle,
    buf: *const u8,
    len: usize,
    offset: Option<u64>,
) -> FileArgs {
    FileArgs {
        buf: GuestPtr::from_ptr(buf),
        len: len.min(IO_MAX as usize) as u64,
        offset: offset.map_or(CURRENT_POSITION, |o| o as i64),
        ..on_handle(op, handle)
    }
}

/// Reads at `offset`, or at the handle's position if `None`.
pub fn read(handle: Handle, buf: &mut [u8], offset: Option<u64>) -> Result<usize> {
    let block = transfer(FileOp::Read, handle, buf.as_mut_ptr(), buf.len(), offset);
    call(block).map(|(n, _)| n as usize)
}

/// Writes at `offset`, or at the handle's position (or end, with
/// `O_APPEND`) if `None`.
pub fn write(handle: Handle, data: &[u8], offset: Option<u64>) -> Result<usize> {
    let block = transfer(FileOp::Write, handle, data.as_ptr(), data.len(), offset);
    call(block).map(|(n, _)| n as usize)
}

/// `lseek`.
pub fn seek(handle: Handle, offset: i64, whence: i32) -> Result<u64> {
    let args = FileArgs {
        offset,
        flags: whence as u32,
        ..on_handle(FileOp::Seek, handle)
    };
    call(args).map(|(position, _)| position as u64)
}

fn stat_into(mut args: FileArgs) -> Result<FileStat> {
    let mut stat = FileStat::default();
    args.buf = GuestPtr::from_ptr((&raw mut stat).cast());
    args.len = size_of::<FileStat>() as u64;
    call(args)?;
    Ok(stat)
}

/// `fstat` of a handle.
pub fn stat_handle(handle: Handle) -> Result<FileStat> {
    stat_into(on_handle(FileOp::Stat, handle))
}

/// `stat` (or `lstat` without `follow`) of a path; the empty path is the
/// volume's root.
pub fn stat_path(volume: u32, path: &[u8], follow: bool) -> Result<FileStat> {
    if path.is_empty() {
        let handle = open(
            volume,
            b".",
            super::flags::O_RDONLY | super::flags::O_DIRECTORY,
            0,
        )?;
        let stat = stat_handle(handle);
        close(handle);
        return stat;
    }
    let args = FileArgs {
        flags: if follow { 0 } else { STAT_NO_FOLLOW },
        ..on_path(FileOp::Stat, volume, path)
    };
    stat_into(args)
}

/// `fsync`/`fdatasync`: returns once the host has flushed the file.
pub fn fsync(handle: Handle, data_only: bool) -> Result<()> {
    let args = FileArgs {
        flags: if data_only { FSYNC_DATA_ONLY } else { 0 },
        ..on_handle(FileOp::Fsync, handle)
    };
    call(args).map(drop)
}

/// `ftruncate`.
pub fn truncate(handle: Handle, len: u64) -> Result<()> {
    let args = FileArgs {
        offset: len as i64,
        ..on_handle(FileOp::Truncate, handle)
    };
    call(args).map(drop)
}

/// `flock` on the host file, never waiting (`EWOULDBLOCK` on a conflict).
pub fn flock(handle: Handle, operation: u32) -> Result<()> {
    let args = FileArgs {
        flags: operation,
        ..on_handle(FileOp::Flock, handle)
    };
    call(args).map(drop)
}

/// A record-lock `fcntl` command on the host file, never waiting; `lock`
/// is updated for the `GETLK`s.
pub fn lock(handle: Handle, command: u32, lock: &mut FileLock) -> Result<()> {
    let args = FileArgs {
        flags: command,
        buf: GuestPtr::from_ptr((&raw mut *lock).cast()),
        len: size_of::<FileLock>() as u64,
        ..on_handle(FileOp::Lock, handle)
    };
    call(args).map(drop)
}

/// `fallocate` on the host file.
pub fn allocate(handle: Handle, mode: u32, offset: i64, len: i64) -> Result<()> {
    let args = FileArgs {
        offset,
        len: len as u64,
        flags: mode,
        ..on_handle(FileOp::Allocate, handle)
    };
    call(args).map(drop)
}

/// `fchmod` of the host file: its permission bits.
pub fn set_mode(handle: Handle, mode: u32) -> Result<()> {
    let args = FileArgs {
        mode,
        ..on_handle(FileOp::SetMode, handle)
    };
    call(args).map(drop)
}

/// `sync_file_range` on the host file.
pub fn sync_range(handle: Handle, offset: i64, len: i64, flags: u32) -> Result<()> {
    let args = FileArgs {
        offset,
        len: len as u64,
        flags,
        ..on_handle(FileOp::SyncRange, handle)
    };
    call(args).map(drop)
}

/// Sets times as `utimensat` takes them: `[atime, mtime]` as
/// `(seconds, nanoseconds)`, of a handle or (with `path`) a path.
pub fn set_times(target: TimesOf<'_>, times: &[[i64; 2]; 2]) -> Result<()> {
    let base = match target {
        TimesOf::Handle(handle) => on_handle(FileOp::SetTimes, handle),
        TimesOf::Path {
            volume,
            path,
            follow,
        } => FileArgs {
            flags: if follow { 0 } else { STAT_NO_FOLLOW },
            ..on_path(FileOp::SetTimes, volume, path)
        },
    };
    let args = FileArgs {
        buf: GuestPtr::from_ptr(times.as_ptr().cast()),
        len: size_of::<[[i64; 2]; 2]>() as u64,
        ..base
    };
    call(args).map(drop)
}

/// Whose times [`set_times`] sets.
pub enum TimesOf<'a> {
    /// An open file.
    Handle(Handle),
    /// A path in a volume (the empty path is its root).
    Path {
        volume: u32,
        path: &'a [u8],
        follow: bool,
    },
}

/// `getdents64` on a directory handle.
pub fn read_dir(handle: Handle, buf: &mut [u8]) -> Result<usize> {
    let args = FileArgs {
        buf: GuestPtr::from_ptr(buf.as_mut_ptr()),
        len: buf.len().min(IO_MAX as usize) as u64,
        ..on_handle(FileOp::ReadDir, handle)
    };
    call(args).map(|(n, _)| n as usize)
}

/// `mkdir`.
pub fn mkdir(volume: u32, path: &[u8], mode: u32) -> Result<()> {
    let args = FileArgs {
        mode,
        ..on_path(FileOp::Mkdir, volume, path)
    };
    call(args).map(drop)
}

/// `unlink`, or `rmdir` with `directory`.
pub fn unlink(volume: u32, path: &[u8], directory: bool) -> Result<()> {
    let args = FileArgs {
        flags: if directory { UNLINK_DIRECTORY } else { 0 },
        ..on_path(FileOp::Unlink, volume, path)
    };
    call(args).map(drop)
}

/// `rename` within one volume.
pub fn rename(volume: u32, from: &[u8], to: &[u8]) -> Result<()> {
    let args = FileArgs {
        path2: GuestPtr::from_ptr(to.as_ptr()),
        path2_len: to.len() as u64,
        ..on_path(FileOp::Rename, volume, from)
    };
    call(args).map(drop)
}

/// `readlink`: the target's length (truncated to `buf`).
pub fn readlink(volume: u32, path: &[u8], buf: &mut [u8]) -> Result<usize> {
    let args = FileArgs {
        buf: GuestPtr::from_ptr(buf.as_mut_ptr()),
        len: buf.len().min(IO_MAX as usize) as u64,
        ..on_path(FileOp::ReadLink, volume, path)
    };
    call(args).map(|(n, _)| n as usize)
}

/// `symlink`: `path` pointing at `target`.
pub fn symlink(volume: u32, path: &[u8], target: &[u8]) -> Result<()> {
    let args = FileArgs {
        path2: GuestPtr::from_ptr(target.as_ptr()),
        path2_len: target.len() as u64,
        ..on_path(FileOp::Symlink, volume, path)
    };
    call(args).map(drop)
}

/// `path` beneath `volume`'s root with the host's symbolic links resolved,
/// as `realpath(3)` does: the components of the canonical path (relative
/// to the root). One `Stat` per component, and a `ReadLink` per link: for
/// `realpath` and `chdir`, not for every call. A link that leads out of
/// the volume (absolute, or `..` above its root) is `EXDEV`, as the host
/// answers for the other calls.
pub fn canonical(volume: u32, path: &[u8]) -> Result<Vec<Vec<u8>>> {
    use kiln_abi::errno::{ELOOP, EXDEV};
    let mut queue: VecDeque<Vec<u8>> = path.split(|&b| b == b'/').map(<[u8]>::to_vec).collect();
    let mut done: Vec<Vec<u8>> = Vec::new();
    let mut links = 0;
    while let Some(name) = queue.pop_front() {
        match name.as_slice() {
            b"" | b"." => continue,
            b".." => {
                done.pop().ok_or(Errno(EXDEV))?;
                continue;
            }
            _ => done.push(name),
        }
        let here = done.join(&b'/');
        if stat_path(volume, &here, false)?.mode & kind::MASK != kind::SYMLINK {
            continue;
        }
        links += 1;
        if links > MAX_LINKS {
            return Err(Errno(ELOOP));
        }
        let mut target = alloc::vec![0; PATH_MAX as usize];
        let len = readlink(volume, &here, &mut target)?;
        target.truncate(len);
        if target.first() == Some(&b'/') {
            return Err(Errno(EXDEV));
        }
        done.pop();
        for part in target.split(|&b| b == b'/').rev() {
            queue.push_front(part.to_vec());
        }
    }
    Ok(done)
}
