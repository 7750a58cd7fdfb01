//! Host volumes: file operations the monitor carries out beneath a host
//! directory, one `File` hypercall each (see `kiln_abi::file`).
//!
//! Nothing is cached in the guest: every read and write reaches the host
//! file, so what `fsync` flushes is everything written before it.

use kiln_abi::GuestPtr;
use kiln_abi::file::{
    CURRENT_POSITION, FSYNC_DATA_ONLY, FileArgs, FileOp, FileStat, IO_MAX, STAT_NO_FOLLOW,
    UNLINK_DIRECTORY,
};

use super::{Errno, Result};
use crate::platform;

/// A monitor-side open file.
pub type Handle = u64;

fn call(mut args: FileArgs) -> Result<(i64, FileArgs)> {
    platform::file_call(&mut args);
    if args.result < 0 {
        Err(Errno(-args.result as i32))
    } else {
        Ok((args.result, args))
    }
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

/// Closes a handle.
pub fn close(handle: Handle) {
    // A close that fails leaves nothing to do: the handle is gone either way.
    let _ = call(on_handle(FileOp::Close, handle));
}

/// Reads at `offset`, or at the handle's position if `None`.
pub fn read(handle: Handle, buf: &mut [u8], offset: Option<u64>) -> Result<usize> {
    let len = buf.len().min(IO_MAX as usize);
    let args = FileArgs {
        buf: GuestPtr::from_ptr(buf.as_mut_ptr()),
        len: len as u64,
        offset: offset.map_or(CURRENT_POSITION, |o| o as i64),
        ..on_handle(FileOp::Read, handle)
    };
    call(args).map(|(n, _)| n as usize)
}

/// Writes at `offset`, or at the handle's position (or end, with
/// `O_APPEND`) if `None`.
pub fn write(handle: Handle, data: &[u8], offset: Option<u64>) -> Result<usize> {
    let len = data.len().min(IO_MAX as usize);
    let args = FileArgs {
        buf: GuestPtr::from_ptr(data.as_ptr()),
        len: len as u64,
        offset: offset.map_or(CURRENT_POSITION, |o| o as i64),
        ..on_handle(FileOp::Write, handle)
    };
    call(args).map(|(n, _)| n as usize)
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
