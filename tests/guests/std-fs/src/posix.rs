//! The `posix DIR` section: the C calls `std` (and crates like `tempfile`
//! and `walkdir`) make, at their edges, each answer compared with what
//! Linux gives. `DIR` must not exist yet; the section makes it and leaves
//! it empty. It also runs natively (`cargo run -p std-fs -- posix DIR` on a
//! Linux host), which is how the expected answers were checked.

use std::ffi::{CStr, CString, c_char, c_int, c_long, c_void};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, MetadataExt, symlink as link_to};
use std::path::Path;

use crate::Checks;

mod sys {
    use super::*;
    unsafe extern "C" {
        pub fn __errno_location() -> *mut c_int;
        pub fn open(path: *const c_char, flags: c_int, ...) -> c_int;
        pub fn openat(dirfd: c_int, path: *const c_char, flags: c_int, ...) -> c_int;
        pub fn close(fd: c_int) -> c_int;
        pub fn read(fd: c_int, buf: *mut c_void, count: usize) -> isize;
        pub fn write(fd: c_int, buf: *const c_void, count: usize) -> isize;
        pub fn pread64(fd: c_int, buf: *mut c_void, count: usize, offset: i64) -> isize;
        pub fn pwrite64(fd: c_int, buf: *const c_void, count: usize, offset: i64) -> isize;
        pub fn lseek64(fd: c_int, offset: i64, whence: c_int) -> i64;
        pub fn ftruncate64(fd: c_int, len: i64) -> c_int;
        pub fn fstatat64(dirfd: c_int, path: *const c_char, buf: *mut u8, flags: c_int) -> c_int;
        pub fn dup(fd: c_int) -> c_int;
        pub fn dup2(old: c_int, new: c_int) -> c_int;
        pub fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int;
        pub fn fcntl(fd: c_int, command: c_int, ...) -> c_int;
        pub fn pipe2(fds: *mut c_int, flags: c_int) -> c_int;
        pub fn poll(fds: *mut PollFd, count: u64, timeout_ms: c_int) -> c_int;
        pub fn getdents64(fd: c_int, buf: *mut u8, len: usize) -> isize;
        pub fn mkdir(path: *const c_char, mode: u32) -> c_int;
        pub fn rmdir(path: *const c_char) -> c_int;
        pub fn unlink(path: *const c_char) -> c_int;
        pub fn rename(old: *const c_char, new: *const c_char) -> c_int;
        pub fn symlink(target: *const c_char, path: *const c_char) -> c_int;
        pub fn readlink(path: *const c_char, buf: *mut c_char, size: usize) -> isize;
        pub fn access(path: *const c_char, mode: c_int) -> c_int;
        pub fn faccessat(dirfd: c_int, path: *const c_char, mode: c_int, flags: c_int) -> c_int;
        pub fn umask(mask: u32) -> u32;
        pub fn readv(fd: c_int, iov: *const IoVec, count: c_int) -> isize;
        pub fn writev(fd: c_int, iov: *const IoVec, count: c_int) -> isize;
        pub fn realpath(path: *const c_char, resolved: *mut c_char) -> *mut c_char;
    }

    #[repr(C)]
    pub struct IoVec {
        pub base: *mut c_void,
        pub len: usize,
    }

    #[repr(C)]
    pub struct PollFd {
        pub fd: c_int,
        pub events: i16,
        pub revents: i16,
    }
}

const O_RDONLY: c_int = 0;
const O_WRONLY: c_int = 1;
const O_RDWR: c_int = 2;
const O_CREAT: c_int = 0o100;
const O_EXCL: c_int = 0o200;
const O_TRUNC: c_int = 0o1000;
const O_APPEND: c_int = 0o2000;
const O_NONBLOCK: c_int = 0o4000;
const O_DIRECTORY: c_int = 0o200000;
const O_NOFOLLOW: c_int = 0o400000;
const O_CLOEXEC: c_int = 0o2000000;
const AT_FDCWD: c_int = -100;
const AT_SYMLINK_NOFOLLOW: c_int = 0x100;
const AT_EMPTY_PATH: c_int = 0x1000;
const F_DUPFD: c_int = 0;
const F_GETFD: c_int = 1;
const F_GETFL: c_int = 3;
const F_SETFL: c_int = 4;
const F_DUPFD_CLOEXEC: c_int = 1030;
const SEEK_SET: c_int = 0;
const SEEK_CUR: c_int = 1;
const SEEK_END: c_int = 2;
const POLLIN: i16 = 0x1;
const POLLOUT: i16 = 0x4;
const POLLERR: i16 = 0x8;
const POLLHUP: i16 = 0x10;
const POLLNVAL: i16 = 0x20;
const W_OK: c_int = 2;

const ENOENT: i32 = 2;
const EBADF: i32 = 9;
const EAGAIN: i32 = 11;
const EACCES: i32 = 13;
const EBUSY: i32 = 16;
const EEXIST: i32 = 17;
const ENOTDIR: i32 = 20;
const EISDIR: i32 = 21;
const EINVAL: i32 = 22;
const ESPIPE: i32 = 29;
const EPIPE: i32 = 32;
const ENAMETOOLONG: i32 = 36;
const ENOTEMPTY: i32 = 39;
const ELOOP: i32 = 40;

/// A C call's answer: its value, or `errno`.
type Answer = Result<i64, i32>;

fn errno() -> i32 {
    // SAFETY: the calling thread's errno slot.
    unsafe { *sys::__errno_location() }
}

/// `ret`, or `errno` when it is `-1`.
fn answer(ret: impl Into<i64>) -> Answer {
    let ret = ret.into();
    if ret == -1 { Err(errno()) } else { Ok(ret) }
}

fn cstr(path: &str) -> CString {
    CString::new(path).expect("no NUL in test paths")
}

fn open(path: &str, flags: c_int) -> Answer {
    // SAFETY: a NUL-terminated path; the mode is read with O_CREAT.
    answer(unsafe { sys::open(cstr(path).as_ptr(), flags, 0o644) })
}

fn openat(dirfd: c_int, path: &str, flags: c_int) -> Answer {
    // SAFETY: as in `open`.
    answer(unsafe { sys::openat(dirfd, cstr(path).as_ptr(), flags, 0o644) })
}

fn close(fd: i64) -> Answer {
    // SAFETY: plain call.
    answer(unsafe { sys::close(fd as c_int) })
}

fn write(fd: i64, data: &[u8]) -> Answer {
    // SAFETY: `data` is valid for its length.
    answer(unsafe { sys::write(fd as c_int, data.as_ptr().cast(), data.len()) } as i64)
}

fn read(fd: i64, buf: &mut [u8]) -> Answer {
    // SAFETY: `buf` is valid for its length.
    answer(unsafe { sys::read(fd as c_int, buf.as_mut_ptr().cast(), buf.len()) } as i64)
}

fn lseek(fd: i64, offset: i64, whence: c_int) -> Answer {
    // SAFETY: plain call.
    answer(unsafe { sys::lseek64(fd as c_int, offset, whence) })
}

fn fcntl(fd: i64, command: c_int, arg: c_long) -> Answer {
    // SAFETY: these commands take an integer argument.
    answer(unsafe { sys::fcntl(fd as c_int, command, arg) })
}

fn path_call(f: unsafe extern "C" fn(*const c_char) -> c_int, path: &str) -> Answer {
    // SAFETY: a NUL-terminated path.
    answer(unsafe { f(cstr(path).as_ptr()) })
}

fn rename(old: &str, new: &str) -> Answer {
    // SAFETY: NUL-terminated paths.
    answer(unsafe { sys::rename(cstr(old).as_ptr(), cstr(new).as_ptr()) })
}

fn symlink(target: &str, path: &str) -> Answer {
    // SAFETY: NUL-terminated paths.
    answer(unsafe { sys::symlink(cstr(target).as_ptr(), cstr(path).as_ptr()) })
}

fn readlink(path: &str) -> Answer {
    let mut buf = [0 as c_char; 256];
    // SAFETY: a NUL-terminated path and a buffer of its stated size.
    answer(unsafe { sys::readlink(cstr(path).as_ptr(), buf.as_mut_ptr(), buf.len()) } as i64)
}

fn mkdir(path: &str) -> Answer {
    // SAFETY: a NUL-terminated path.
    answer(unsafe { sys::mkdir(cstr(path).as_ptr(), 0o755) })
}

/// `st_mode` and `st_nlink` from `fstatat`.
fn fstatat(dirfd: c_int, path: &str, flags: c_int) -> Result<(u32, u64), i32> {
    let mut buf = [0u8; 144];
    // SAFETY: a NUL-terminated path and a buffer the size of `struct stat64`.
    answer(unsafe { sys::fstatat64(dirfd, cstr(path).as_ptr(), buf.as_mut_ptr(), flags) })?;
    let mode = u32::from_le_bytes(buf[24..28].try_into().expect("4 bytes"));
    let nlink = u64::from_le_bytes(buf[16..24].try_into().expect("8 bytes"));
    Ok((mode, nlink))
}

const S_IFMT: u32 = 0o170000;
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFIFO: u32 = 0o010000;

fn kind(mode: u32) -> u32 {
    mode & S_IFMT
}

impl Checks {
    /// Checks that a C call failed with `errno`.
    fn errno(&mut self, what: &str, got: Answer, errno: i32) {
        self.check(what, got == Err(errno), got);
    }

    /// Checks that a C call succeeded.
    fn succeeds(&mut self, what: &str, got: Answer) {
        self.check(what, got.is_ok(), got);
    }
}

/// Runs every group in a fresh directory `dir`, removed at the end.
pub fn posix(c: &mut Checks, dir: &str) -> std::io::Result<()> {
    fs::create_dir(dir)?;
    opens(c, &format!("{dir}/opens"))?;
    io(c, &format!("{dir}/io"))?;
    stats(c, &format!("{dir}/stats"))?;
    listing(c, &format!("{dir}/listing"))?;
    removal(c, &format!("{dir}/removal"))?;
    renames(c, &format!("{dir}/renames"))?;
    links(c, &format!("{dir}/links"))?;
    names(c, &format!("{dir}/names"))?;
    descriptors(c, &format!("{dir}/fds"))?;
    pipes(c)?;
    lifecycle(c, &format!("{dir}/lifecycle"))?;
    let left = fs::read_dir(dir)?.count();
    c.check("posix: every group cleans up", left == 0, left);
    fs::remove_dir(dir)
}

fn opens(c: &mut Checks, d: &str) -> std::io::Result<()> {
    fs::create_dir(d)?;
    fs::write(format!("{d}/file"), b"hello")?;
    fs::create_dir(format!("{d}/dir"))?;
    link_to("new-target", format!("{d}/dangling"))?;
    link_to("dir", format!("{d}/dirlink"))?;
    c.errno(
        "O_CREAT|O_EXCL on a dangling link",
        open(&format!("{d}/dangling"), O_CREAT | O_EXCL | O_WRONLY),
        EEXIST,
    );
    let fd = open(&format!("{d}/dangling"), O_CREAT | O_WRONLY);
    c.succeeds("O_CREAT through a dangling link", fd);
    close(fd.unwrap_or(-1)).ok();
    c.check(
        "O_CREAT through a dangling link creates its target",
        Path::new(&format!("{d}/new-target")).is_file(),
        (),
    );
    c.errno(
        "O_NOFOLLOW on a link",
        open(&format!("{d}/dirlink"), O_RDONLY | O_NOFOLLOW),
        ELOOP,
    );
    let fd = open(&format!("{d}/dirlink"), O_RDONLY | O_DIRECTORY);
    c.succeeds("O_DIRECTORY through a link to a dir", fd);
    close(fd.unwrap_or(-1)).ok();
    c.errno(
        "O_DIRECTORY on a file",
        open(&format!("{d}/file"), O_RDONLY | O_DIRECTORY),
        ENOTDIR,
    );
    c.errno("open file/", open(&format!("{d}/file/"), O_RDONLY), ENOTDIR);
    c.errno(
        "open file/.",
        open(&format!("{d}/file/."), O_RDONLY),
        ENOTDIR,
    );
    c.errno(
        "open file/..",
        open(&format!("{d}/file/.."), O_RDONLY),
        ENOTDIR,
    );
    c.errno(
        "open missing/..",
        open(&format!("{d}/missing/.."), O_RDONLY),
        ENOENT,
    );
    c.errno(
        "O_CREAT missing/",
        open(&format!("{d}/missing/"), O_CREAT | O_WRONLY),
        EISDIR,
    );
    c.errno(
        "O_CREAT on a dir",
        open(&format!("{d}/dir"), O_CREAT | O_RDONLY),
        EISDIR,
    );
    c.errno(
        "O_CREAT|O_DIRECTORY",
        open(&format!("{d}/dir"), O_CREAT | O_DIRECTORY | O_RDONLY),
        EINVAL,
    );
    c.errno("O_RDWR on a dir", open(&format!("{d}/dir"), O_RDWR), EISDIR);
    let fd = open(&format!("{d}/file"), O_RDONLY | O_TRUNC);
    c.succeeds("O_RDONLY|O_TRUNC", fd);
    close(fd.unwrap_or(-1)).ok();
    c.check(
        "O_RDONLY|O_TRUNC truncates",
        fs::metadata(format!("{d}/file"))?.len() == 0,
        fs::metadata(format!("{d}/file"))?.len(),
    );
    let fd = openat(12345, &format!("{d}/file"), O_RDONLY);
    c.succeeds("openat ignores dirfd for an absolute path", fd);
    close(fd.unwrap_or(-1)).ok();
    c.errno("openat bad dirfd", openat(12345, "file", O_RDONLY), EBADF);
    let file = File::open(format!("{d}/file"))?;
    c.errno(
        "openat on a file's fd",
        openat(file.as_raw_fd(), "x", O_RDONLY),
        ENOTDIR,
    );
    let dir = File::open(format!("{d}/dir"))?;
    let fd = openat(dir.as_raw_fd(), "../file", O_RDONLY);
    c.succeeds("openat .. from a dir fd", fd);
    close(fd.unwrap_or(-1)).ok();
    // A directory's descriptor follows the directory when it moves, and
    // finds nothing once it is removed.
    fs::create_dir(format!("{d}/moving"))?;
    fs::write(format!("{d}/moving/inside"), b"")?;
    let moving = File::open(format!("{d}/moving"))?;
    fs::rename(format!("{d}/moving"), format!("{d}/moved"))?;
    let fd = openat(moving.as_raw_fd(), "inside", O_RDONLY);
    c.succeeds("openat in a dir that moved", fd);
    close(fd.unwrap_or(-1)).ok();
    fs::remove_dir_all(format!("{d}/moved"))?;
    fs::create_dir(format!("{d}/moved"))?;
    fs::write(format!("{d}/moved/inside"), b"")?;
    c.errno(
        "openat in a removed dir",
        openat(moving.as_raw_fd(), "inside", O_RDONLY),
        ENOENT,
    );
    drop(moving);
    // So does the working directory.
    let cwd = std::env::current_dir()?;
    fs::create_dir(format!("{d}/here"))?;
    std::env::set_current_dir(format!("{d}/here"))?;
    fs::rename(format!("{d}/here"), format!("{d}/there"))?;
    let now = std::env::current_dir()?;
    fs::write("file", b"")?;
    c.check(
        "the cwd follows its dir when it moves",
        now == fs::canonicalize(format!("{d}/there"))?
            && Path::new(&format!("{d}/there/file")).exists(),
        &now,
    );
    fs::remove_dir_all(format!("{d}/there"))?;
    let now = std::env::current_dir().map_err(|e| e.raw_os_error());
    c.check(
        "getcwd once the cwd is removed",
        now == Err(Some(ENOENT)),
        &now,
    );
    c.errno(
        "relative open once the cwd is removed",
        open("x", O_CREAT | O_WRONLY),
        ENOENT,
    );
    std::env::set_current_dir(cwd)?;
    c.errno("open empty path", open("", O_RDONLY), ENOENT);
    let fd = open(&format!("{d}/file"), O_RDONLY | O_CLOEXEC);
    c.check(
        "O_CLOEXEC sets FD_CLOEXEC",
        fd.and_then(|fd| fcntl(fd, F_GETFD, 0)) == Ok(1),
        fd,
    );
    close(fd.unwrap_or(-1)).ok();
    fs::remove_dir_all(d)
}

fn io(c: &mut Checks, d: &str) -> std::io::Result<()> {
    fs::create_dir(d)?;
    let path = format!("{d}/sparse");
    let fd = open(&path, O_CREAT | O_RDWR).expect("create");
    c.check("lseek past EOF", lseek(fd, 10, SEEK_SET) == Ok(10), ());
    write(fd, b"x").ok();
    let data = fs::read(&path)?;
    c.check(
        "write past EOF fills the gap with zeros",
        data == b"\0\0\0\0\0\0\0\0\0\0x",
        &data,
    );
    c.check("SEEK_END -1", lseek(fd, -1, SEEK_END) == Ok(10), ());
    c.check("SEEK_CUR", lseek(fd, 2, SEEK_CUR) == Ok(12), ());
    let mut buf = [0u8; 4];
    c.check("read past EOF", read(fd, &mut buf) == Ok(0), ());
    c.errno("lseek before 0", lseek(fd, -20, SEEK_END), EINVAL);
    c.errno("lseek bad whence", lseek(fd, 0, 7), EINVAL);
    // SAFETY: `buf` is valid for its length.
    let got =
        answer(unsafe { sys::pread64(fd as c_int, buf.as_mut_ptr().cast(), 4, i64::MAX) } as i64);
    c.errno("pread past i64::MAX", got, EINVAL);
    // SAFETY: as above.
    let got = answer(unsafe { sys::pread64(fd as c_int, buf.as_mut_ptr().cast(), 4, -1) } as i64);
    c.errno("pread at a negative offset", got, EINVAL);
    // SAFETY: as above.
    let got =
        answer(unsafe { sys::pwrite64(fd as c_int, b"y".as_ptr().cast(), 1, i64::MAX) } as i64);
    c.errno("pwrite past i64::MAX", got, EINVAL);
    c.check("write 0 bytes", write(fd, b"") == Ok(0), ());
    close(fd).ok();

    fs::write(&path, b"abc")?;
    let file = OpenOptions::new().append(true).open(&path)?;
    file.write_at(b"X", 0)?;
    let data = fs::read(&path)?;
    c.check(
        "pwrite with O_APPEND appends (as Linux)",
        data == b"abcX",
        &data,
    );
    drop(file);

    let fd = open(&path, O_RDONLY).expect("open");
    c.errno("write to O_RDONLY", write(fd, b"x"), EBADF);
    // SAFETY: plain call.
    c.errno(
        "ftruncate O_RDONLY",
        answer(unsafe { sys::ftruncate64(fd as c_int, 0) }),
        EINVAL,
    );
    close(fd).ok();
    let fd = open(&path, O_WRONLY).expect("open");
    c.errno("read from O_WRONLY", read(fd, &mut buf), EBADF);
    // SAFETY: plain call.
    answer(unsafe { sys::ftruncate64(fd as c_int, 6) }).ok();
    close(fd).ok();
    let data = fs::read(&path)?;
    c.check("ftruncate grows with zeros", data == b"abcX\0\0", &data);
    let dir = open(d, O_RDONLY).expect("open dir");
    c.errno("read a dir", read(dir, &mut buf), EISDIR);
    close(dir).ok();

    // Data stays readable through an open descriptor after unlink.
    let mut file = File::open(&path)?;
    fs::remove_file(&path)?;
    let mut data = Vec::new();
    file.read_to_end(&mut data)?;
    c.check("read after unlink", data == b"abcX\0\0", &data);
    let meta = file.metadata()?;
    c.check("nlink 0 after unlink", meta.nlink() == 0, meta.nlink());
    drop(file);

    // Renaming over an open file leaves its data to the descriptor.
    fs::write(format!("{d}/old"), b"old")?;
    fs::write(format!("{d}/new"), b"new")?;
    let mut file = File::open(format!("{d}/old"))?;
    fs::rename(format!("{d}/new"), format!("{d}/old"))?;
    let mut data = String::new();
    file.read_to_string(&mut data)?;
    c.check("read after being renamed over", data == "old", &data);
    drop(file);

    fs::write(format!("{d}/copy-src"), b"copied")?;
    let copied = fs::copy(format!("{d}/copy-src"), format!("{d}/copy-dst"));
    c.check(
        "fs::copy",
        copied.is_ok() && fs::read(format!("{d}/copy-dst"))? == b"copied",
        copied.map_err(|e| e.to_string()),
    );
    let modes = [
        fs::metadata(format!("{d}/copy-src"))?.mode(),
        fs::metadata(format!("{d}/copy-dst"))?.mode(),
    ];
    c.check("fs::copy copies the mode", modes[0] == modes[1], modes);
    fs::remove_dir_all(d)
}

fn stats(c: &mut Checks, d: &str) -> std::io::Result<()> {
    fs::create_dir(d)?;
    let nlink = |p: &str| fs::metadata(p).map(|m| m.nlink()).unwrap_or(0);
    c.check("new dir nlink 2", nlink(d) == 2, nlink(d));
    fs::create_dir(format!("{d}/sub"))?;
    c.check("nlink counts subdirs", nlink(d) == 3, nlink(d));
    fs::create_dir(format!("{d}/sub2"))?;
    fs::rename(format!("{d}/sub2"), format!("{d}/sub/inner"))?;
    c.check(
        "rename moves a subdir's link",
        nlink(d) == 3 && nlink(&format!("{d}/sub")) == 3,
        (nlink(d), nlink(&format!("{d}/sub"))),
    );
    fs::remove_dir(format!("{d}/sub/inner"))?;
    fs::remove_dir(format!("{d}/sub"))?;
    c.check("rmdir drops the link", nlink(d) == 2, nlink(d));
    for dir in ["/", "/tmp"] {
        let subdirs = fs::read_dir(dir)?
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            })
            .count() as u64;
        c.check(
            &format!("{dir} nlink is 2 + subdirs"),
            nlink(dir) == 2 + subdirs,
            (nlink(dir), subdirs),
        );
    }

    // SAFETY: plain calls.
    let old = unsafe { sys::umask(0o022) };
    fs::write(format!("{d}/file"), b"hello")?;
    fs::create_dir(format!("{d}/made"))?;
    let modes = [
        fs::metadata(format!("{d}/file"))?.mode(),
        fs::metadata(format!("{d}/made"))?.mode(),
    ];
    c.check("umask 022", modes == [0o100644, 0o40755], modes);
    // SAFETY: as above.
    let was = unsafe { sys::umask(0o077) };
    fs::write(format!("{d}/private"), b"")?;
    let mode = fs::metadata(format!("{d}/private"))?.mode();
    c.check("umask 077", was == 0o022 && mode == 0o100600, (was, mode));
    // SAFETY: as above.
    unsafe { sys::umask(old) };
    let meta = fs::metadata(format!("{d}/file"))?;
    c.check(
        "a small file takes a 4 KiB block",
        meta.blocks() == 8 && meta.size() == 5 && meta.blksize() == 4096,
        (meta.blocks(), meta.size(), meta.blksize()),
    );
    let empty = File::create(format!("{d}/empty"))?.metadata()?;
    c.check(
        "an empty file takes no blocks",
        empty.blocks() == 0,
        empty.blocks(),
    );
    link_to("file", format!("{d}/link"))?;
    link_to(".", format!("{d}/dirlink"))?;
    link_to("missing", format!("{d}/dangling"))?;
    let lmeta = fs::symlink_metadata(format!("{d}/link"))?;
    c.check(
        "lstat of a link",
        kind(lmeta.mode()) == S_IFLNK && lmeta.size() == 4 && lmeta.mode() & 0o777 == 0o777,
        (lmeta.mode(), lmeta.size()),
    );
    let at = |p: &str, flags| fstatat(AT_FDCWD, p, flags).map(|(m, _)| kind(m));
    c.check(
        "stat follows",
        at(&format!("{d}/link"), 0) == Ok(S_IFREG),
        at(&format!("{d}/link"), 0),
    );
    c.check(
        "lstat link-to-dir/ follows",
        at(&format!("{d}/dirlink/"), AT_SYMLINK_NOFOLLOW) == Ok(S_IFDIR),
        at(&format!("{d}/dirlink/"), AT_SYMLINK_NOFOLLOW),
    );
    c.check(
        "lstat link-to-file/",
        at(&format!("{d}/link/"), AT_SYMLINK_NOFOLLOW) == Err(ENOTDIR),
        at(&format!("{d}/link/"), AT_SYMLINK_NOFOLLOW),
    );
    c.check(
        "stat dangling",
        at(&format!("{d}/dangling"), 0) == Err(ENOENT),
        at(&format!("{d}/dangling"), 0),
    );
    c.check(
        "lstat dangling",
        at(&format!("{d}/dangling"), AT_SYMLINK_NOFOLLOW) == Ok(S_IFLNK),
        at(&format!("{d}/dangling"), AT_SYMLINK_NOFOLLOW),
    );
    let file = File::open(format!("{d}/file"))?;
    let got = fstatat(file.as_raw_fd(), "", AT_EMPTY_PATH).map(|(m, _)| kind(m));
    c.check("fstatat AT_EMPTY_PATH", got == Ok(S_IFREG), got);
    let got = fstatat(file.as_raw_fd(), "", 0);
    c.check("fstatat empty path", got == Err(ENOENT), got);
    let cwd = std::env::current_dir()?;
    std::env::set_current_dir(d)?;
    let got = fstatat(AT_FDCWD, "", AT_EMPTY_PATH);
    c.check(
        "fstatat AT_FDCWD AT_EMPTY_PATH is the cwd",
        got.is_ok_and(|(m, n)| kind(m) == S_IFDIR && n == 3),
        got,
    );
    std::env::set_current_dir(cwd)?;
    let (read, write) = std::io::pipe()?;
    let got = fstatat(read.as_raw_fd(), "", AT_EMPTY_PATH).map(|(m, _)| kind(m));
    c.check("a pipe is a FIFO", got == Ok(S_IFIFO), got);
    drop((read, write));
    c.succeeds("access W_OK", path_call_access(&format!("{d}/file"), W_OK));
    c.errno(
        "access bad mode",
        path_call_access(&format!("{d}/file"), 8),
        EINVAL,
    );
    c.errno(
        "access X_OK of a file with no x bit",
        path_call_access(&format!("{d}/file"), 1),
        EACCES,
    );
    c.succeeds("access X_OK of a dir", path_call_access(d, 1));
    c.errno(
        "access missing",
        path_call_access(&format!("{d}/nope"), 0),
        ENOENT,
    );
    // SAFETY: a NUL-terminated path.
    let got = answer(unsafe {
        sys::faccessat(
            AT_FDCWD,
            cstr(&format!("{d}/dangling")).as_ptr(),
            0,
            AT_SYMLINK_NOFOLLOW,
        )
    });
    c.succeeds("faccessat AT_SYMLINK_NOFOLLOW on a dangling link", got);
    fs::remove_dir_all(d)
}

fn path_call_access(path: &str, mode: c_int) -> Answer {
    // SAFETY: a NUL-terminated path.
    answer(unsafe { sys::access(cstr(path).as_ptr(), mode) })
}

/// One `linux_dirent64` record: inode, type, name.
fn records(buf: &[u8]) -> Vec<(u64, u8, String, u16)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        let ino = u64::from_le_bytes(buf[at..at + 8].try_into().expect("8 bytes"));
        let reclen = u16::from_le_bytes(buf[at + 16..at + 18].try_into().expect("2 bytes"));
        let kind = buf[at + 18];
        let name = CStr::from_bytes_until_nul(&buf[at + 19..at + reclen as usize])
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push((ino, kind, name, reclen));
        at += reclen.max(1) as usize;
    }
    out
}

fn getdents(fd: i64, buf: &mut [u8]) -> Answer {
    // SAFETY: `buf` is valid for its length.
    answer(unsafe { sys::getdents64(fd as c_int, buf.as_mut_ptr(), buf.len()) } as i64)
}

fn listing(c: &mut Checks, d: &str) -> std::io::Result<()> {
    fs::create_dir(d)?;
    fs::create_dir(format!("{d}/empty"))?;
    fs::write(format!("{d}/file"), b"")?;
    link_to("file", format!("{d}/link"))?;
    let fd = open(&format!("{d}/empty"), O_RDONLY | O_DIRECTORY).expect("open");
    let mut buf = [0u8; 4096];
    c.check(
        "where a fresh listing is",
        lseek(fd, 0, SEEK_CUR) == Ok(0),
        (),
    );
    let n = getdents(fd, &mut buf).unwrap_or(0) as usize;
    let got = records(&buf[..n]);
    let own = fs::metadata(format!("{d}/empty"))?.ino();
    let parent = fs::metadata(d)?.ino();
    let mut sorted = got.clone();
    sorted.sort_by(|a, b| a.2.cmp(&b.2));
    let ok = sorted.len() == 2
        && sorted[0] == (own, 4, ".".into(), 24)
        && sorted[1] == (parent, 4, "..".into(), 24);
    c.check("getdents64 of an empty dir: . and ..", ok, &got);
    c.check("getdents64 at the end", getdents(fd, &mut buf) == Ok(0), ());
    c.check("rewind a dir", lseek(fd, 0, SEEK_SET) == Ok(0), ());
    let again = getdents(fd, &mut buf).unwrap_or(0) as usize;
    c.check("list again after rewind", again == n, again);
    c.errno(
        "getdents64 too small a buffer",
        {
            lseek(fd, 0, SEEK_SET).ok();
            getdents(fd, &mut buf[..10])
        },
        EINVAL,
    );
    close(fd).ok();
    let fd = open(d, O_RDONLY | O_DIRECTORY).expect("open");
    let n = getdents(fd, &mut buf).unwrap_or(0) as usize;
    let mut types: Vec<(String, u8)> = records(&buf[..n])
        .into_iter()
        .map(|(_, t, name, _)| (name, t))
        .collect();
    types.sort();
    c.check(
        "d_type of each kind",
        types
            == [
                (".".into(), 4),
                ("..".into(), 4),
                ("empty".into(), 4),
                ("file".into(), 8),
                ("link".into(), 10),
            ],
        &types,
    );
    close(fd).ok();
    let fd = open(&format!("{d}/file"), O_RDONLY).expect("open");
    c.errno("getdents64 on a file", getdents(fd, &mut buf), ENOTDIR);
    close(fd).ok();

    // A removed directory lists nothing (Linux: ENOENT).
    let fd = open(&format!("{d}/empty"), O_RDONLY | O_DIRECTORY).expect("open");
    fs::remove_dir(format!("{d}/empty"))?;
    let got = getdents(fd, &mut buf);
    c.check(
        "getdents64 of a removed dir",
        got == Err(ENOENT),
        got.map(|n| records(&buf[..n as usize])),
    );
    close(fd).ok();

    // Listing while removing each entry, as remove_dir_all does.
    let many = format!("{d}/many");
    fs::create_dir(&many)?;
    for i in 0..300 {
        fs::write(format!("{many}/entry-with-a-longish-name-{i}"), b"")?;
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut twice = 0;
    for entry in fs::read_dir(&many)? {
        let entry = entry?;
        if !seen.insert(entry.file_name()) {
            twice += 1;
        }
        fs::remove_file(entry.path())?;
    }
    let left = fs::read_dir(&many)?.count();
    c.check(
        "read_dir while removing sees each entry once",
        seen.len() == 300 && twice == 0 && left == 0,
        (seen.len(), twice, left),
    );
    fs::remove_dir_all(d)
}

fn removal(c: &mut Checks, d: &str) -> std::io::Result<()> {
    fs::create_dir(d)?;
    fs::create_dir(format!("{d}/dir"))?;
    fs::write(format!("{d}/file"), b"x")?;
    link_to("dir", format!("{d}/dirlink"))?;
    link_to("missing", format!("{d}/dangling"))?;
    c.succeeds("mkdir with a trailing /", mkdir(&format!("{d}/made/")));
    c.errno(
        "mkdir over a dangling link",
        mkdir(&format!("{d}/dangling")),
        EEXIST,
    );
    c.errno("mkdir under a file", mkdir(&format!("{d}/file/x")), ENOTDIR);
    c.errno(
        "mkdir under a missing dir",
        mkdir(&format!("{d}/missing/x")),
        ENOENT,
    );
    c.errno("mkdir dir/.", mkdir(&format!("{d}/dir/.")), EEXIST);
    c.errno("mkdir dir/..", mkdir(&format!("{d}/dir/..")), EEXIST);
    c.errno(
        "rmdir dir/.",
        path_call(sys::rmdir, &format!("{d}/dir/.")),
        EINVAL,
    );
    c.errno(
        "rmdir dir/..",
        path_call(sys::rmdir, &format!("{d}/dir/..")),
        ENOTEMPTY,
    );
    c.errno(
        "rmdir a link to a dir",
        path_call(sys::rmdir, &format!("{d}/dirlink")),
        ENOTDIR,
    );
    c.errno(
        "rmdir link-to-dir/",
        path_call(sys::rmdir, &format!("{d}/dirlink/")),
        ENOTDIR,
    );
    c.errno(
        "rmdir missing",
        path_call(sys::rmdir, &format!("{d}/missing")),
        ENOENT,
    );
    c.errno(
        "unlink file/",
        path_call(sys::unlink, &format!("{d}/file/")),
        ENOTDIR,
    );
    c.errno(
        "unlink dir/",
        path_call(sys::unlink, &format!("{d}/dir/")),
        EISDIR,
    );
    c.errno(
        "unlink missing/",
        path_call(sys::unlink, &format!("{d}/missing/")),
        ENOENT,
    );
    c.errno(
        "unlink link-to-dir/",
        path_call(sys::unlink, &format!("{d}/dirlink/")),
        ENOTDIR,
    );
    c.errno(
        "unlink dir/.",
        path_call(sys::unlink, &format!("{d}/dir/.")),
        EISDIR,
    );
    c.check("file kept", Path::new(&format!("{d}/file")).is_file(), ());
    c.succeeds(
        "unlink a link to a dir",
        path_call(sys::unlink, &format!("{d}/dirlink")),
    );
    c.check("its dir kept", Path::new(&format!("{d}/dir")).is_dir(), ());
    c.succeeds("rmdir dir/", path_call(sys::rmdir, &format!("{d}/dir/")));
    fs::remove_dir_all(d)
}

fn renames(c: &mut Checks, d: &str) -> std::io::Result<()> {
    fs::create_dir(d)?;
    let p = |name: &str| format!("{d}/{name}");
    for dir in ["a", "a/sub", "empty", "full", "full/x"] {
        fs::create_dir(p(dir))?;
    }
    fs::write(p("file"), b"f")?;
    fs::write(p("other"), b"o")?;
    c.succeeds("rename a dir onto itself", rename(&p("a"), &p("a")));
    c.succeeds("rename a file onto itself", rename(&p("file"), &p("file")));
    c.errno(
        "rename a dir into itself",
        rename(&p("a"), &p("a/sub/a")),
        EINVAL,
    );
    c.errno(
        "rename a dir onto itself/sub",
        rename(&p("a"), &p("a/sub")),
        EINVAL,
    );
    c.errno(
        "rename a dir onto its parent",
        rename(&p("a/sub"), &p("a")),
        ENOTEMPTY,
    );
    c.errno(
        "rename a dir onto a non-empty dir",
        rename(&p("a"), &p("full")),
        ENOTEMPTY,
    );
    c.errno(
        "rename a file onto a dir",
        rename(&p("file"), &p("empty")),
        EISDIR,
    );
    c.errno(
        "rename a dir onto a file",
        rename(&p("a"), &p("file")),
        ENOTDIR,
    );
    c.errno("rename file/", rename(&p("file/"), &p("x")), ENOTDIR);
    c.errno("rename to x/", rename(&p("file"), &p("x/")), ENOTDIR);
    c.errno("rename missing", rename(&p("missing"), &p("x")), ENOENT);
    c.errno(
        "rename into missing",
        rename(&p("file"), &p("missing/x")),
        ENOENT,
    );
    c.errno("rename a/.", rename(&p("a/."), &p("x")), EBUSY);
    c.errno("rename onto a/..", rename(&p("file"), &p("a/..")), EBUSY);
    c.succeeds(
        "rename a dir onto an empty dir",
        rename(&p("a"), &p("empty")),
    );
    c.check(
        "the source is gone and the target holds its entries",
        !Path::new(&p("a")).exists() && Path::new(&p("empty/sub")).is_dir(),
        (),
    );
    c.succeeds("rename dir/ to new/", rename(&p("empty/"), &p("moved/")));
    c.succeeds("rename a file over a file", rename(&p("other"), &p("file")));
    c.check("its contents", fs::read(p("file"))? == b"o", ());
    link_to("file", p("link"))?;
    c.succeeds("rename a link", rename(&p("link"), &p("link2")));
    c.check(
        "moves the link, not its target",
        fs::read_link(p("link2"))? == Path::new("file") && Path::new(&p("file")).is_file(),
        (),
    );
    fs::remove_dir_all(d)
}

fn links(c: &mut Checks, d: &str) -> std::io::Result<()> {
    fs::create_dir(d)?;
    let p = |name: &str| format!("{d}/{name}");
    fs::create_dir_all(p("a/b"))?;
    fs::write(p("file"), b"data")?;
    link_to("loop2", p("loop1"))?;
    link_to("loop1", p("loop2"))?;
    link_to("self", p("self"))?;
    c.errno("open a link loop", open(&p("loop1"), O_RDONLY), ELOOP);
    c.check(
        "stat a link loop",
        fstatat(AT_FDCWD, &p("self"), 0) == Err(ELOOP),
        fstatat(AT_FDCWD, &p("self"), 0),
    );
    c.check(
        "lstat a link loop",
        fstatat(AT_FDCWD, &p("self"), AT_SYMLINK_NOFOLLOW).is_ok(),
        (),
    );
    c.errno(
        "create through a loop",
        open(&p("self"), O_CREAT | O_WRONLY),
        ELOOP,
    );
    // A chain of 40 links resolves; 41 is too many.
    link_to("file", p("chain0"))?;
    for i in 1..=41 {
        link_to(format!("chain{}", i - 1), p(&format!("chain{i}")))?;
    }
    c.succeeds("40 links", open(&p("chain39"), O_RDONLY).and_then(close));
    c.errno("41 links", open(&p("chain40"), O_RDONLY), ELOOP);
    c.errno("readlink a file", readlink(&p("file")), EINVAL);
    c.errno("readlink a dir", readlink(&p("a")), EINVAL);
    c.errno("readlink missing", readlink(&p("missing")), ENOENT);
    link_to("a", p("alink"))?;
    c.errno("readlink link-to-dir/", readlink(&p("alink/")), EINVAL);
    c.errno(
        "symlink to an empty target",
        symlink("", &p("empty")),
        ENOENT,
    );
    c.errno("symlink over a file", symlink("x", &p("file")), EEXIST);
    c.errno("symlink new/", symlink("x", &p("new/")), ENOENT);
    c.errno("symlink file/", symlink("x", &p("file/")), EEXIST);
    link_to("../file", p("a/up"))?;
    c.check(
        "a relative target is from the link's dir",
        fs::read(p("a/up"))? == b"data",
        (),
    );
    // `..` after a link goes up from where the link leads, not lexically.
    link_to("a/b", p("deep"))?;
    let up = fs::metadata(p("deep/.."))?.ino();
    c.check(".. after a link", up == fs::metadata(p("a"))?.ino(), ());
    c.check(
        "canonicalize resolves links",
        fs::canonicalize(p("deep"))? == fs::canonicalize(p("a/b"))?,
        fs::canonicalize(p("deep")),
    );
    c.check(
        "canonicalize link/..",
        fs::canonicalize(p("deep/.."))? == fs::canonicalize(p("a"))?,
        fs::canonicalize(p("deep/..")),
    );
    c.fails(
        "canonicalize a link loop",
        fs::canonicalize(p("loop1")),
        ELOOP,
    );
    let mut buf = [0 as c_char; 4096];
    // SAFETY: a NUL-terminated path and a buffer of PATH_MAX bytes.
    let got = unsafe { sys::realpath(cstr(&p("a/up")).as_ptr(), buf.as_mut_ptr()) };
    let expected = fs::canonicalize(p("file"))?;
    let ok = !got.is_null()
        // SAFETY: realpath filled `buf` with a NUL-terminated path.
        && unsafe { CStr::from_ptr(buf.as_ptr()) }.to_bytes() == expected.as_os_str().as_encoded_bytes();
    c.check("realpath into a buffer", ok, ());
    let cwd = std::env::current_dir()?;
    std::env::set_current_dir(p("deep"))?;
    let now = std::env::current_dir()?;
    c.check(
        "getcwd after chdir through a link",
        now == fs::canonicalize(p("a/b"))?,
        &now,
    );
    std::env::set_current_dir(cwd)?;
    fs::remove_dir_all(d)
}

fn names(c: &mut Checks, d: &str) -> std::io::Result<()> {
    fs::create_dir(d)?;
    let longest = "n".repeat(255);
    let too_long = "n".repeat(256);
    let fd = open(&format!("{d}/{longest}"), O_CREAT | O_WRONLY);
    c.succeeds("a 255-byte name", fd);
    close(fd.unwrap_or(-1)).ok();
    c.errno(
        "a 256-byte name",
        open(&format!("{d}/{too_long}"), O_CREAT | O_WRONLY),
        ENAMETOOLONG,
    );
    c.errno(
        "mkdir a 256-byte name",
        mkdir(&format!("{d}/{too_long}")),
        ENAMETOOLONG,
    );
    c.check(
        "stat a 256-byte name",
        fstatat(AT_FDCWD, &format!("{d}/{too_long}"), 0) == Err(ENAMETOOLONG),
        fstatat(AT_FDCWD, &format!("{d}/{too_long}"), 0),
    );
    c.errno(
        "a 256-byte directory on the way",
        open(&format!("{d}/{too_long}/x"), O_RDONLY),
        ENAMETOOLONG,
    );
    let long_path = format!("{d}/{}", "a/".repeat(2100));
    c.errno("a 4 KiB path", open(&long_path, O_RDONLY), ENAMETOOLONG);
    // A directory deeper than PATH_MAX: realpath into a PATH_MAX buffer
    // must refuse, not overrun it. (In the temporary directory: a host
    // volume cannot be that deep, each call carries a whole path.)
    let deep = std::env::temp_dir().join(format!("std-fs-deep-{}", std::process::id()));
    fs::create_dir(&deep)?;
    let cwd = std::env::current_dir()?;
    std::env::set_current_dir(&deep)?;
    for _ in 0..21 {
        fs::create_dir(&longest[..200])?;
        std::env::set_current_dir(&longest[..200])?;
    }
    let mut buf = [0x55 as c_char; 8192];
    // SAFETY: a NUL-terminated path and a buffer of more than PATH_MAX bytes.
    let got = unsafe { sys::realpath(c".".as_ptr(), buf.as_mut_ptr()) };
    let error = errno();
    let untouched = buf[4096..].iter().all(|&b| b == 0x55);
    c.check(
        "realpath of a path longer than PATH_MAX",
        got.is_null() && error == ENAMETOOLONG && untouched,
        (error, untouched),
    );
    std::env::set_current_dir(cwd)?;
    fs::remove_dir_all(deep)?;
    c.errno(
        "a 4 KiB symlink target",
        symlink(&"t".repeat(4096), &format!("{d}/long")),
        ENAMETOOLONG,
    );
    fs::remove_dir_all(d)
}

fn descriptors(c: &mut Checks, d: &str) -> std::io::Result<()> {
    fs::create_dir(d)?;
    let path = format!("{d}/f");
    fs::write(&path, b"0123456789")?;
    let a = open(&path, O_RDONLY).expect("open");
    let b = open(&path, O_RDONLY).expect("open");
    close(a).ok();
    c.check(
        "the lowest free descriptor",
        open(&path, O_RDONLY) == Ok(a),
        a,
    );
    close(a).ok();
    c.errno("close -1", close(-1), EBADF);
    c.errno("close an unused fd", close(999), EBADF);
    close(b).ok();
    c.errno("close twice", close(b), EBADF);
    let fd = open(&path, O_RDWR | O_APPEND).expect("open");
    // SAFETY: plain calls.
    unsafe {
        c.check(
            "dup2 onto itself",
            answer(sys::dup2(fd as c_int, fd as c_int)) == Ok(fd),
            (),
        );
        c.errno("dup2 from a bad fd", answer(sys::dup2(999, 50)), EBADF);
        c.errno("dup2 to -1", answer(sys::dup2(fd as c_int, -1)), EBADF);
        c.errno(
            "dup2 beyond the limit",
            answer(sys::dup2(fd as c_int, 5000)),
            EBADF,
        );
        c.errno(
            "dup3 onto itself",
            answer(sys::dup3(fd as c_int, fd as c_int, 0)),
            EINVAL,
        );
        let got = answer(sys::dup3(fd as c_int, 60, O_CLOEXEC));
        c.check(
            "dup3 O_CLOEXEC",
            got == Ok(60) && fcntl(60, F_GETFD, 0) == Ok(1),
            got,
        );
        let got = answer(sys::dup2(fd as c_int, 60));
        c.check(
            "dup2 clears FD_CLOEXEC",
            got == Ok(60) && fcntl(60, F_GETFD, 0) == Ok(0),
            got,
        );
        close(60).ok();
        let got = answer(sys::dup(fd as c_int));
        c.check("dup takes the lowest", got == Ok(b), got);
        close(b).ok();
    }
    let got = fcntl(fd, F_DUPFD, 100);
    c.check("F_DUPFD 100", got == Ok(100), got);
    let got = fcntl(fd, F_DUPFD, 100);
    c.check("F_DUPFD 100 again", got == Ok(101), got);
    close(100).ok();
    close(101).ok();
    let got = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    c.check(
        "F_DUPFD_CLOEXEC",
        got.is_ok_and(|n| fcntl(n, F_GETFD, 0) == Ok(1)),
        got,
    );
    close(got.unwrap_or(-1)).ok();
    c.errno("F_DUPFD -1", fcntl(fd, F_DUPFD, -1), EINVAL);
    c.errno(
        "F_DUPFD beyond the limit",
        fcntl(fd, F_DUPFD, 1 << 20),
        EINVAL,
    );
    c.errno("fcntl on a bad fd", fcntl(999, F_GETFL, 0), EBADF);
    let flags = fcntl(fd, F_GETFL, 0).unwrap_or(0) as c_int;
    c.check(
        "F_GETFL",
        flags & 3 == O_RDWR && flags & O_APPEND != 0 && flags & O_NONBLOCK == 0,
        flags,
    );
    fcntl(fd, F_SETFL, (O_APPEND | O_NONBLOCK) as c_long).ok();
    let flags = fcntl(fd, F_GETFL, 0).unwrap_or(0) as c_int;
    c.check(
        "F_SETFL O_NONBLOCK",
        flags & O_NONBLOCK != 0 && flags & 3 == O_RDWR,
        flags,
    );
    close(fd).ok();
    fs::remove_dir_all(d)
}

fn pipe(flags: c_int) -> (i64, i64) {
    let mut fds = [0 as c_int; 2];
    // SAFETY: room for two descriptors.
    answer(unsafe { sys::pipe2(fds.as_mut_ptr(), flags) }).expect("pipe2");
    (fds[0].into(), fds[1].into())
}

fn poll_one(fd: i64, events: i16) -> i16 {
    let mut p = sys::PollFd {
        fd: fd as c_int,
        events,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    unsafe { sys::poll(&mut p, 1, 0) };
    p.revents
}

fn pipes(c: &mut Checks) -> std::io::Result<()> {
    let (r, w) = pipe(0);
    let mut buf = [0u8; 8];
    c.check(
        "poll: an empty pipe",
        poll_one(r, POLLIN) == 0,
        poll_one(r, POLLIN),
    );
    c.check(
        "poll: room to write",
        poll_one(w, POLLOUT) == POLLOUT,
        poll_one(w, POLLOUT),
    );
    write(w, b"abc").ok();
    c.check(
        "poll: data to read",
        poll_one(r, POLLIN) == POLLIN,
        poll_one(r, POLLIN),
    );
    close(w).ok();
    c.check(
        "poll: data and no writers",
        poll_one(r, POLLIN) == POLLIN | POLLHUP,
        poll_one(r, POLLIN),
    );
    c.check("read what is left", read(r, &mut buf) == Ok(3), ());
    c.check("then EOF", read(r, &mut buf) == Ok(0), ());
    c.check(
        "poll: no writers",
        poll_one(r, POLLIN) == POLLHUP,
        poll_one(r, POLLIN),
    );
    // SAFETY: a valid buffer.
    let got = answer(unsafe { sys::pread64(r as c_int, buf.as_mut_ptr().cast(), 1, 0) } as i64);
    c.errno("pread on a pipe", got, ESPIPE);
    c.errno("lseek on a pipe", lseek(r, 0, SEEK_CUR), ESPIPE);
    close(r).ok();
    c.check(
        "poll: a closed fd",
        poll_one(r, POLLIN) == POLLNVAL,
        poll_one(r, POLLIN),
    );
    // SAFETY: a count beyond the limit is refused before the array is read.
    let got = answer(unsafe { sys::poll(std::ptr::null_mut(), 1 << 20, 0) });
    c.errno("poll: more entries than the descriptor limit", got, EINVAL);

    let (r, w) = pipe(0);
    close(r).ok();
    c.errno("write with no readers", write(w, b"x"), EPIPE);
    c.check(
        "poll: no readers",
        poll_one(w, POLLOUT) == POLLOUT | POLLERR,
        poll_one(w, POLLOUT),
    );
    close(w).ok();

    let (r, w) = pipe(O_NONBLOCK);
    c.errno(
        "O_NONBLOCK read of an empty pipe",
        read(r, &mut buf),
        EAGAIN,
    );
    let mut total = 0;
    while let Ok(n) = write(w, &[7; 4096]) {
        total += n;
    }
    c.check("a pipe holds 64 KiB", total == 65536, total);
    c.errno("O_NONBLOCK write to a full pipe", write(w, b"x"), EAGAIN);
    close(r).ok();
    close(w).ok();

    // A write of up to PIPE_BUF bytes is all or nothing.
    let (r, w) = pipe(O_NONBLOCK);
    write(w, &vec![1; 65536 - 100]).ok();
    c.errno(
        "O_NONBLOCK write of 200 into 100 free",
        write(w, &[2; 200]),
        EAGAIN,
    );
    close(r).ok();
    close(w).ok();

    // Writes of up to PIPE_BUF bytes from two threads never interleave.
    let (r, w) = pipe(0);
    let writers: Vec<_> = [b'a', b'b']
        .map(|byte| {
            // Small stacks: the guest has 8 MiB.
            std::thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || {
                    for _ in 0..64 {
                        write(w, &[byte; 4096]).ok();
                    }
                })
                .expect("spawn")
        })
        .into();
    let mut got = Vec::with_capacity(2 * 64 * 4096);
    let mut chunk = vec![0; 1000];
    while got.len() < 2 * 64 * 4096 {
        match read(r, &mut chunk) {
            Ok(n @ 1..) => got.extend_from_slice(&chunk[..n as usize]),
            _ => break,
        }
    }
    for writer in writers {
        writer.join().expect("writer");
    }
    let whole = got
        .chunks(4096)
        .all(|block| block.iter().all(|&b| b == block[0]));
    c.check(
        "PIPE_BUF writes are atomic",
        whole && got.len() == 2 * 64 * 4096,
        got.len(),
    );
    close(r).ok();
    close(w).ok();

    // Each pipe is an inode of its own, shared by its two ends.
    let (r1, w1) = std::io::pipe()?;
    let (r2, _w2) = std::io::pipe()?;
    let ino = |fd: &dyn AsRawFd| {
        let mut buf = [0u8; 144];
        // SAFETY: an empty path with AT_EMPTY_PATH and a `struct stat64` buffer.
        unsafe {
            sys::fstatat64(
                fd.as_raw_fd(),
                c"".as_ptr(),
                buf.as_mut_ptr(),
                AT_EMPTY_PATH,
            )
        };
        u64::from_le_bytes(buf[8..16].try_into().expect("8 bytes"))
    };
    let inos = [ino(&r1), ino(&w1), ino(&r2)];
    c.check(
        "pipes' inode numbers",
        inos[0] == inos[1] && inos[0] != inos[2],
        inos,
    );

    // readv takes what is there: it does not wait to fill every buffer.
    let (r, w) = pipe(0);
    write(w, b"12345").ok();
    let mut first = [0u8; 5];
    let mut second = [0u8; 5];
    let iov = [
        sys::IoVec {
            base: first.as_mut_ptr().cast(),
            len: 5,
        },
        sys::IoVec {
            base: second.as_mut_ptr().cast(),
            len: 5,
        },
    ];
    // SAFETY: two valid buffers.
    let got = answer(unsafe { sys::readv(r as c_int, iov.as_ptr(), 2) } as i64);
    c.check("readv of a pipe takes what is there", got == Ok(5), got);
    close(r).ok();
    close(w).ok();

    // A writev of up to PIPE_BUF bytes is all or nothing, like a write.
    let (r, w) = pipe(O_NONBLOCK);
    write(w, &vec![1; 65536 - 100]).ok();
    let (mut a, mut b) = ([2u8; 50], [3u8; 150]);
    let iov = [
        sys::IoVec {
            base: a.as_mut_ptr().cast(),
            len: a.len(),
        },
        sys::IoVec {
            base: b.as_mut_ptr().cast(),
            len: b.len(),
        },
    ];
    // SAFETY: two valid buffers.
    let got = answer(unsafe { sys::writev(w as c_int, iov.as_ptr(), 2) } as i64);
    c.errno("writev of 200 into 100 free", got, EAGAIN);
    close(r).ok();
    close(w).ok();

    // A larger non-blocking write may be short, but says what it wrote.
    let (r, w) = pipe(O_NONBLOCK);
    write(w, &vec![1; 65536 - 100]).ok();
    let got = write(w, &[2; 8000]);
    let mut drained = 0;
    let mut chunk = vec![0; 65536];
    while let Ok(n @ 1..) = read(r, &mut chunk) {
        drained += n;
    }
    c.check(
        "a short non-blocking write says what it wrote",
        drained == 65436 + got.unwrap_or(0),
        (got, drained),
    );
    close(r).ok();
    close(w).ok();

    // A blocked writer whose reader goes away returns what it wrote.
    let (r, w) = pipe(0);
    let writer = std::thread::spawn(move || write(w, &vec![3; 100_000]));
    std::thread::sleep(std::time::Duration::from_millis(50));
    let mut chunk = vec![0; 1000];
    read(r, &mut chunk).ok();
    std::thread::sleep(std::time::Duration::from_millis(50));
    close(r).ok();
    let got = writer.join().expect("writer");
    c.check(
        "a blocked writer's reader closes: the count so far",
        got.is_ok_and(|n| (65536..100_000).contains(&n)),
        got,
    );
    close(w).ok();

    // A reader blocks until a writer thread delivers.
    let (r, w) = pipe(0);
    let writer = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(20));
        write(w, b"late")
    });
    let got = read(r, &mut buf);
    c.check(
        "a reader waits for data",
        got == Ok(4) && &buf[..4] == b"late",
        got,
    );
    writer.join().expect("writer").ok();
    close(r).ok();
    close(w).ok();
    Ok(())
}

/// Files, directories and pipes are freed with their last link and
/// descriptor: churning far more than the guest's memory must keep working.
fn lifecycle(c: &mut Checks, d: &str) -> std::io::Result<()> {
    fs::create_dir(d)?;
    let block = vec![9u8; 256 * 1024];
    let mut failed = None;
    for i in 0..200 {
        let path = format!("{d}/churn");
        let result = (|| {
            let mut f = File::create(&path)?;
            f.write_all(&block)?;
            let keep = File::open(&path)?;
            fs::remove_file(&path)?;
            drop(keep);
            fs::create_dir(format!("{d}/dir{i}"))?;
            fs::remove_dir(format!("{d}/dir{i}"))?;
            let (r, mut w) = std::io::pipe()?;
            w.write_all(&block[..60_000])?;
            drop((r, w));
            std::io::Result::Ok(())
        })();
        if let Err(e) = result {
            failed = Some((i, e.to_string()));
            break;
        }
    }
    c.check("50 MiB of churn in memory", failed.is_none(), failed);
    fs::remove_dir_all(d)
}
