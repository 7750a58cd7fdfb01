//! `file-every-op`: every `File` operation, legal and hostile, on volume 0
//! (read-write) and volume 1 (the same host directory, read-only), so the
//! real monitor serves each one under its seccomp filter. Each answer is
//! compared with the expected one; a mismatch is printed on stderr.

use core::ptr::read_volatile;

use kiln_abi::GuestPtr;
use kiln_abi::errno::{EBADF, EBUSY, EEXIST, EINVAL, EISDIR, ELOOP, ENOENT, EROFS, EXDEV};
use kiln_abi::file::{
    CURRENT_POSITION, FSYNC_DATA_ONLY, FileArgs, FileOp, FileStat, STAT_NO_FOLLOW, UNLINK_DIRECTORY,
};

use crate::file_call;

const RW: u32 = 0;
const RO: u32 = 1;

// Linux `open` flags and `lseek` whences, as the File call takes them.
const O_RDONLY: u32 = 0;
const O_WRONLY: u32 = 0o1;
const O_RDWR: u32 = 0o2;
const O_CREAT: u32 = 0o100;
const O_EXCL: u32 = 0o200;
const O_TRUNC: u32 = 0o1000;
const O_DIRECTORY: u32 = 0o200000;
const O_NOFOLLOW: u32 = 0o400000;
const O_PATH: u32 = 0o10000000;
const O_TMPFILE: u32 = 0o20200000;
const SEEK_END: u32 = 2;
const S_IFMT: u32 = 0o170000;
const S_IFLNK: u32 = 0o120000;

/// Counts the answers that differ from the expected ones.
struct Checks(u32);

impl Checks {
    fn expect(&mut self, what: &str, got: i64, want: i64) {
        if got != want {
            kiln::eprintln!("{what}: got {got}, expected {want}");
            self.0 += 1;
        }
    }

    fn errno(&mut self, what: &str, got: i64, errno: i32) {
        self.expect(what, got, -i64::from(errno));
    }

    fn ok(&mut self, what: &str, got: i64) {
        self.expect(what, got, 0);
    }
}

fn on_path(op: FileOp, volume: u32, path: &[u8]) -> FileArgs {
    FileArgs {
        op: op as u32,
        volume,
        path: GuestPtr::from_ptr(path.as_ptr()),
        path_len: path.len() as u64,
        ..FileArgs::default()
    }
}

fn on_handle(op: FileOp, handle: u64) -> FileArgs {
    FileArgs {
        op: op as u32,
        handle,
        ..FileArgs::default()
    }
}

fn open(volume: u32, path: &[u8], flags: u32) -> FileArgs {
    file_call(FileArgs {
        flags,
        mode: 0o644,
        ..on_path(FileOp::Open, volume, path)
    })
}

fn path_call(op: FileOp, volume: u32, path: &[u8]) -> i64 {
    file_call(on_path(op, volume, path)).result
}

fn two_paths(op: FileOp, volume: u32, path: &[u8], path2: &[u8]) -> i64 {
    file_call(FileArgs {
        path2: GuestPtr::from_ptr(path2.as_ptr()),
        path2_len: path2.len() as u64,
        ..on_path(op, volume, path)
    })
    .result
}

fn unlink(volume: u32, path: &[u8], flags: u32) -> i64 {
    file_call(FileArgs {
        flags,
        ..on_path(FileOp::Unlink, volume, path)
    })
    .result
}

fn handle_call(op: FileOp, handle: u64, offset: i64, flags: u32) -> i64 {
    file_call(FileArgs {
        offset,
        flags,
        ..on_handle(op, handle)
    })
    .result
}

/// `Read`, `Write` or `ReadDir` with `len` bytes at guest address `buf`.
fn io(op: FileOp, handle: u64, offset: i64, buf: u64, len: u64) -> i64 {
    file_call(FileArgs {
        buf: GuestPtr::new(buf),
        len,
        offset,
        ..on_handle(op, handle)
    })
    .result
}

fn stat(mut args: FileArgs, out: &mut FileStat) -> i64 {
    args.buf = GuestPtr::from_ptr((out as *mut FileStat).cast());
    args.len = size_of::<FileStat>() as u64;
    let result = file_call(args).result;
    // SAFETY: `out` is a valid FileStat the monitor may have just filled.
    *out = unsafe { read_volatile(out) };
    result
}

pub fn every_op(memory: u64) -> i32 {
    let mut c = Checks(0);
    let mut buf = [0u8; 256];
    let at = |buf: &mut [u8]| buf.as_mut_ptr() as u64;

    // A file's life: create, write now and deferred, read, seek, stat,
    // fsync, truncate.
    let file = open(RW, b"f", O_RDWR | O_CREAT | O_EXCL);
    c.ok("create", file.result);
    let f = file.handle;
    let hello = b"hello world";
    c.expect(
        "write",
        io(FileOp::Write, f, CURRENT_POSITION, hello.as_ptr() as u64, 5),
        5,
    );
    let mut pending = [
        FileArgs {
            buf: GuestPtr::from_ptr(hello[5..].as_ptr()),
            len: 6,
            offset: 5,
            ..on_handle(FileOp::Write, f)
        },
        on_handle(FileOp::Close, 999),
    ];
    let flush = file_call(FileArgs {
        op: FileOp::Flush as u32,
        pending: GuestPtr::from_ptr(pending.as_mut_ptr()),
        pending_count: pending.len() as u64,
        ..FileArgs::default()
    });
    c.ok("flush", flush.result);
    // SAFETY: the blocks are valid FileArgs the monitor answered in.
    let answers = unsafe { [read_volatile(&pending[0]), read_volatile(&pending[1])] };
    c.expect("deferred write", answers[0].result, 6);
    c.errno("deferred close of no handle", answers[1].result, EBADF);
    c.expect("read", io(FileOp::Read, f, 0, at(&mut buf), 64), 11);
    c.expect("read bytes", i64::from(buf[..11] == *hello), 1);
    // The deferred write was at an explicit offset: the handle's own
    // position is still after the first write.
    let rest = io(FileOp::Read, f, CURRENT_POSITION, at(&mut buf), 64);
    c.expect("read on", rest, 6);
    let end = io(FileOp::Read, f, CURRENT_POSITION, at(&mut buf), 64);
    c.expect("read at the end", end, 0);
    c.expect(
        "read nothing at the end of memory",
        io(FileOp::Read, f, 0, memory, 0),
        0,
    );
    c.expect("seek", handle_call(FileOp::Seek, f, 0, SEEK_END), 11);
    let mut st = FileStat::default();
    c.ok("fstat", stat(on_handle(FileOp::Stat, f), &mut st));
    c.expect("fstat size", st.size as i64, 11);
    c.ok("fsync", handle_call(FileOp::Fsync, f, 0, 0));
    c.ok(
        "fdatasync",
        handle_call(FileOp::Fsync, f, 0, FSYNC_DATA_ONLY),
    );
    c.ok("truncate", handle_call(FileOp::Truncate, f, 5, 0));
    c.errno(
        "truncate negative",
        handle_call(FileOp::Truncate, f, -1, 0),
        EINVAL,
    );
    c.errno(
        "seek bad whence",
        handle_call(FileOp::Seek, f, 0, 99),
        EINVAL,
    );

    // Names: mkdir, rename, symlink, readlink, stat, readdir.
    c.ok("mkdir", {
        file_call(FileArgs {
            mode: 0o755,
            ..on_path(FileOp::Mkdir, RW, b"d")
        })
        .result
    });
    c.ok("rename", two_paths(FileOp::Rename, RW, b"f", b"d/f"));
    c.ok("symlink", two_paths(FileOp::Symlink, RW, b"l", b"d/f"));
    let link = file_call(FileArgs {
        buf: GuestPtr::from_ptr(buf.as_mut_ptr()),
        len: 64,
        ..on_path(FileOp::ReadLink, RW, b"l")
    });
    c.expect("readlink", link.result, 3);
    c.expect("readlink text", i64::from(buf[..3] == *b"d/f"), 1);
    c.ok("stat", stat(on_path(FileOp::Stat, RW, b"l"), &mut st));
    c.expect("stat size", st.size as i64, 5);
    let lstat = FileArgs {
        flags: STAT_NO_FOLLOW,
        ..on_path(FileOp::Stat, RW, b"l")
    };
    c.ok("lstat", stat(lstat, &mut st));
    c.expect(
        "lstat type",
        i64::from(st.mode & S_IFMT),
        i64::from(S_IFLNK),
    );
    let dir = open(RW, b"d", O_RDONLY | O_DIRECTORY);
    c.ok("open a directory", dir.result);
    let filled = io(FileOp::ReadDir, dir.handle, 0, at(&mut buf), 256);
    c.expect("readdir", i64::from(filled > 0), 1);
    c.errno(
        "write to a directory",
        io(FileOp::Write, dir.handle, 0, at(&mut buf), 1),
        EBADF,
    );
    c.errno(
        "truncate a directory",
        handle_call(FileOp::Truncate, dir.handle, 0, 0),
        EINVAL,
    );
    c.ok(
        "close a directory",
        handle_call(FileOp::Close, dir.handle, 0, 0),
    );

    // Ways out of the volume: links the guest plants, `..`, absolute paths.
    c.ok("plant ..", two_paths(FileOp::Symlink, RW, b"up", b".."));
    c.ok("plant /", two_paths(FileOp::Symlink, RW, b"abs", b"/etc"));
    c.errno(
        "open ../",
        open(RW, b"../outside/secret", O_RDONLY).result,
        EXDEV,
    );
    c.errno("open /", open(RW, b"/etc/passwd", O_RDONLY).result, EXDEV);
    c.errno(
        "open through up",
        open(RW, b"up/outside/secret", O_RDONLY).result,
        EXDEV,
    );
    c.errno(
        "create through up",
        open(RW, b"up/new", O_RDWR | O_CREAT).result,
        EXDEV,
    );
    c.errno(
        "open through abs",
        open(RW, b"abs/passwd", O_RDONLY).result,
        EXDEV,
    );
    c.errno(
        "mkdir through up",
        path_call(FileOp::Mkdir, RW, b"up/new"),
        EXDEV,
    );
    c.errno(
        "rename out",
        two_paths(FileOp::Rename, RW, b"d", b"up/d"),
        EXDEV,
    );
    c.errno(
        "rename in",
        two_paths(FileOp::Rename, RW, b"up/outside", b"o"),
        EXDEV,
    );
    c.errno(
        "symlink through up",
        two_paths(FileOp::Symlink, RW, b"up/l", b"x"),
        EXDEV,
    );
    c.errno("unlink ../", unlink(RW, b"../outside/secret", 0), EXDEV);
    c.errno(
        "stat through abs",
        stat(on_path(FileOp::Stat, RW, b"abs/passwd"), &mut st),
        EXDEV,
    );
    c.errno(
        "follow up at the end",
        open(RW, b"up", O_RDONLY).result,
        EXDEV,
    );
    c.errno(
        "nofollow",
        open(RW, b"l", O_RDONLY | O_NOFOLLOW).result,
        ELOOP,
    );
    c.errno("nul in a path", open(RW, b"d\0f", O_RDONLY).result, EINVAL);
    // Flags that are not passed on: O_TMPFILE keeps only O_DIRECTORY, and
    // O_PATH is dropped, so this is a plain open that can read.
    c.errno(
        "O_TMPFILE",
        open(RW, b"", O_TMPFILE | O_RDWR).result,
        EISDIR,
    );
    let plain = open(RW, b"d/f", O_PATH | O_RDONLY);
    c.ok("O_PATH", plain.result);
    c.expect(
        "read O_PATH",
        io(FileOp::Read, plain.handle, 0, at(&mut buf), 64),
        5,
    );
    c.ok(
        "close O_PATH",
        handle_call(FileOp::Close, plain.handle, 0, 0),
    );
    // The root itself.
    c.errno("rmdir the root", unlink(RW, b"", UNLINK_DIRECTORY), EBUSY);
    c.errno(
        "rename the root",
        two_paths(FileOp::Rename, RW, b"d/..", b"x"),
        EBUSY,
    );
    c.errno("mkdir the root", path_call(FileOp::Mkdir, RW, b"."), EEXIST);

    // The read-only view of the same directory.
    for flags in [
        O_WRONLY,
        O_RDWR,
        O_RDONLY | O_TRUNC,
        O_RDONLY | O_CREAT | O_TRUNC,
    ] {
        c.errno("open read-only", open(RO, b"d/f", flags).result, EROFS);
    }
    c.errno(
        "create read-only",
        open(RO, b"new", O_RDONLY | O_CREAT).result,
        EROFS,
    );
    c.errno(
        "mkdir read-only",
        path_call(FileOp::Mkdir, RO, b"new"),
        EROFS,
    );
    c.errno("unlink read-only", unlink(RO, b"d/f", 0), EROFS);
    c.errno(
        "rename read-only",
        two_paths(FileOp::Rename, RO, b"d/f", b"g"),
        EROFS,
    );
    c.errno(
        "symlink read-only",
        two_paths(FileOp::Symlink, RO, b"s", b"d"),
        EROFS,
    );
    let ro = open(RO, b"d/f", O_RDONLY | O_CREAT);
    c.ok("open existing read-only", ro.result);
    c.errno(
        "write read-only",
        io(FileOp::Write, ro.handle, 0, at(&mut buf), 1),
        EBADF,
    );
    c.errno(
        "truncate read-only",
        handle_call(FileOp::Truncate, ro.handle, 0, 0),
        EINVAL,
    );
    c.ok(
        "close read-only",
        handle_call(FileOp::Close, ro.handle, 0, 0),
    );

    // No such handle or volume.
    c.errno(
        "read no handle",
        io(FileOp::Read, 999, 0, at(&mut buf), 1),
        EBADF,
    );
    c.errno("mkdir no volume", path_call(FileOp::Mkdir, 7, b"x"), EBADF);

    // Clean up; the last close is deferred.
    for path in [&b"l"[..], b"up", b"abs", b"d/f"] {
        c.ok("unlink", unlink(RW, path, 0));
    }
    c.errno("unlink missing", unlink(RW, b"l", 0), ENOENT);
    c.ok("rmdir", unlink(RW, b"d", UNLINK_DIRECTORY));
    let mut close = [on_handle(FileOp::Close, f)];
    let flush = file_call(FileArgs {
        op: FileOp::Flush as u32,
        pending: GuestPtr::from_ptr(close.as_mut_ptr()),
        pending_count: 1,
        ..FileArgs::default()
    });
    c.ok("flush", flush.result);
    // SAFETY: the block is a valid FileArgs the monitor answered in.
    c.ok("deferred close", unsafe { read_volatile(&close[0]) }.result);
    c.errno("closed", handle_call(FileOp::Close, f, 0, 0), EBADF);

    if c.0 == 0 {
        kiln::println!("every file operation answered as expected");
        0
    } else {
        1
    }
}
