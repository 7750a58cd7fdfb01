//! File-descriptor I/O and paths (`unistd.h`), on the library OS's files
//! (`kiln_libos::fs`): descriptors 0-2 start as the console; files come
//! from the image, memory (`/tmp`) and host volumes; pipes stay within the
//! program.

use core::ffi::{c_char, c_void};

use kiln_libos::fs::{self, flags::AT_FDCWD};

use crate::errno::{self, code};
use crate::{CInt, CLong, c_path, c_slice, c_slice_mut};

/// Linux's largest single read or write (`MAX_RW_COUNT`).
const MAX_TRANSFER: usize = 0x7fff_f000;

/// `read(2)`.
///
/// # Safety
/// `buf` must be valid for `count` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn read(fd: CInt, buf: *mut c_void, count: usize) -> CLong {
    traced!("read"(fd, buf, count) {
    // SAFETY: per the caller.
    let buf = unsafe { c_slice_mut(buf.cast::<u8>(), count.min(MAX_TRANSFER)) };
    errno::check(fs::read(fd, buf, None))
    })
}

/// `pread64(2)`.
///
/// # Safety
/// `buf` must be valid for `count` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pread64(fd: CInt, buf: *mut c_void, count: usize, offset: CLong) -> CLong {
    traced!("pread64"(fd, buf, count, offset) {
    let Ok(offset) = u64::try_from(offset) else {
        return errno::fail(code::EINVAL);
    };
    // SAFETY: per the caller.
    let buf = unsafe { c_slice_mut(buf.cast::<u8>(), count.min(MAX_TRANSFER)) };
    errno::check(fs::read(fd, buf, Some(offset)))
    })
}

/// `write(2)`.
///
/// # Safety
/// `buf` must be valid for `count` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn write(fd: CInt, buf: *const c_void, count: usize) -> CLong {
    traced!("write"(fd, buf, count) {
    // SAFETY: per the caller.
    let data = unsafe { c_slice(buf.cast::<u8>(), count.min(MAX_TRANSFER)) };
    errno::check(fs::write(fd, data, None))
    })
}

/// `pwrite64(2)`.
///
/// # Safety
/// `buf` must be valid for `count` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pwrite64(
    fd: CInt,
    buf: *const c_void,
    count: usize,
    offset: CLong,
) -> CLong {
    traced!("pwrite64"(fd, buf, count, offset) {
    let Ok(offset) = u64::try_from(offset) else {
        return errno::fail(code::EINVAL);
    };
    // SAFETY: per the caller.
    let data = unsafe { c_slice(buf.cast::<u8>(), count.min(MAX_TRANSFER)) };
    errno::check(fs::write(fd, data, Some(offset)))
    })
}

/// One element of a `readv`/`writev` array (`struct iovec`).
#[repr(C)]
pub struct IoVec {
    pub(crate) base: *mut c_void,
    pub(crate) len: usize,
}

/// Checks an iovec count and returns the array.
///
/// # Safety
/// `iov` must point to `count` valid `iovec`s.
pub(crate) unsafe fn io_vectors<'a>(iov: *const IoVec, count: CInt) -> Option<&'a [IoVec]> {
    const IOV_MAX: usize = 1024;
    let count = usize::try_from(count).ok().filter(|&n| n <= IOV_MAX)?;
    // SAFETY: per the caller.
    Some(unsafe { c_slice(iov, count) })
}

/// `readv(2)`: fills the buffers in turn, stopping at a short read. Only
/// the first read may wait (for a pipe): as on Linux, `readv` returns what
/// is there rather than wait to fill every buffer.
///
/// # Safety
/// `iov` must point to `count` valid `iovec`s describing writable buffers.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn readv(fd: CInt, iov: *const IoVec, count: CInt) -> CLong {
    traced!("readv"(fd, iov, count) {
    // SAFETY: per the caller.
    let Some(vectors) = (unsafe { io_vectors(iov, count) }) else {
        return errno::fail(code::EINVAL);
    };
    let mut total = 0;
    for v in vectors {
        // SAFETY: each iovec describes a valid buffer, per the caller.
        let buf = unsafe { c_slice_mut(v.base.cast::<u8>(), v.len.min(MAX_TRANSFER - total)) };
        let result = if total == 0 { fs::read(fd, buf, None) } else { fs::read_ready(fd, buf) };
        match result {
            Ok(n) => {
                total += n;
                if n < buf.len() || total == MAX_TRANSFER {
                    break;
                }
            }
            Err(e) if total == 0 => return errno::fail(e.0),
            Err(_) => break,
        }
    }
    total as CLong
    })
}

/// A `writev` of at most `PIPE_BUF` bytes, as one write: so that it is as
/// atomic on a pipe as Linux makes it (and one call, not several). `None`
/// for a larger one.
fn write_gathered(fd: CInt, vectors: &[IoVec]) -> Option<fs::Result<usize>> {
    const PIPE_BUF: usize = 4096;
    let mut buf = [0u8; PIPE_BUF];
    let mut len = 0;
    for v in vectors {
        let end = len + v.len;
        if v.len > PIPE_BUF || end > PIPE_BUF {
            return None;
        }
        // SAFETY: each iovec describes a valid buffer (per `writev`'s caller).
        buf[len..end].copy_from_slice(unsafe { c_slice(v.base.cast_const().cast::<u8>(), v.len) });
        len = end;
    }
    Some(fs::write(fd, &buf[..len], None))
}

/// `writev(2)`: writes the buffers in turn, stopping at a short write (one
/// write for up to `PIPE_BUF` bytes in all).
///
/// # Safety
/// `iov` must point to `count` valid `iovec`s.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn writev(fd: CInt, iov: *const IoVec, count: CInt) -> CLong {
    traced!("writev"(fd, iov, count) {
    // SAFETY: per the caller.
    let Some(vectors) = (unsafe { io_vectors(iov, count) }) else {
        return errno::fail(code::EINVAL);
    };
    if let Some(result) = write_gathered(fd, vectors) {
        return errno::check(result);
    }
    let mut total = 0;
    for v in vectors {
        // SAFETY: each iovec describes a valid buffer, per the caller.
        let data = unsafe { c_slice(v.base.cast_const().cast::<u8>(), v.len.min(MAX_TRANSFER - total)) };
        match fs::write(fd, data, None) {
            Ok(n) => {
                total += n;
                if n < data.len() || total == MAX_TRANSFER {
                    break;
                }
            }
            Err(e) if total == 0 => return errno::fail(e.0),
            Err(_) => break,
        }
    }
    total as CLong
    })
}

/// `sendfile64(2)`: not provided. `std::io::copy` (under `fs::copy`) falls
/// back to `read` and `write` on `ENOSYS`, as on a kernel without it.
#[unsafe(no_mangle)]
pub extern "C" fn sendfile64(out_fd: CInt, in_fd: CInt, _offset: *mut i64, count: usize) -> CLong {
    traced!("sendfile64"(out_fd, in_fd, count) {
    errno::fail(code::ENOSYS)
    })
}

/// `close(2)`.
#[unsafe(no_mangle)]
pub extern "C" fn close(fd: CInt) -> CInt {
    traced!("close"(fd) {
    errno::check(fs::close(fd).map(|()| 0)) as CInt
    })
}

/// `lseek64(2)`.
#[unsafe(no_mangle)]
pub extern "C" fn lseek64(fd: CInt, offset: CLong, whence: CInt) -> CLong {
    traced!("lseek64"(fd, offset, whence) {
    errno::check(fs::seek(fd, offset, whence))
    })
}

// On x86_64 `off_t` is 64 bits: the plain names glibc also exports (and
// C code built without `_FILE_OFFSET_BITS=64` calls) are the same calls.

/// `lseek(2)`.
#[unsafe(no_mangle)]
pub extern "C" fn lseek(fd: CInt, offset: CLong, whence: CInt) -> CLong {
    lseek64(fd, offset, whence)
}

/// `pread(2)`.
///
/// # Safety
/// As [`pread64`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pread(fd: CInt, buf: *mut c_void, count: usize, offset: CLong) -> CLong {
    // SAFETY: per the caller.
    unsafe { pread64(fd, buf, count, offset) }
}

/// `pwrite(2)`.
///
/// # Safety
/// As [`pwrite64`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pwrite(
    fd: CInt,
    buf: *const c_void,
    count: usize,
    offset: CLong,
) -> CLong {
    // SAFETY: per the caller.
    unsafe { pwrite64(fd, buf, count, offset) }
}

/// `isatty(3)`: stdin is a terminal when the host's is (`kiln run` from a
/// terminal); the console's output streams and everything else are not.
#[unsafe(no_mangle)]
pub extern "C" fn isatty(fd: CInt) -> CInt {
    traced!("isatty"(fd) {
    match fs::is_terminal(fd) {
        Ok(true) => 1,
        Ok(false) => {
            errno::set(code::ENOTTY);
            0
        }
        Err(e) => {
            errno::set(e.0);
            0
        }
    }
    })
}

/// `fsync(2)`: returns once the data is on the host's disk.
#[unsafe(no_mangle)]
pub extern "C" fn fsync(fd: CInt) -> CInt {
    traced!("fsync"(fd) {
    errno::check(fs::fsync(fd, false).map(|()| 0)) as CInt
    })
}

/// `fdatasync(2)`.
#[unsafe(no_mangle)]
pub extern "C" fn fdatasync(fd: CInt) -> CInt {
    traced!("fdatasync"(fd) {
    errno::check(fs::fsync(fd, true).map(|()| 0)) as CInt
    })
}

/// `ftruncate64(2)`.
#[unsafe(no_mangle)]
pub extern "C" fn ftruncate64(fd: CInt, len: CLong) -> CInt {
    traced!("ftruncate64"(fd, len) {
    let Ok(len) = u64::try_from(len) else {
        return errno::fail(code::EINVAL);
    };
    errno::check(fs::truncate(fd, len).map(|()| 0)) as CInt
    })
}

/// `ftruncate(2)`: `off_t` is 64 bits on x86_64, so it is `ftruncate64`.
#[unsafe(no_mangle)]
pub extern "C" fn ftruncate(fd: CInt, len: CLong) -> CInt {
    ftruncate64(fd, len)
}

/// `truncate64(2)`: the file at `path`, opened for writing as Linux
/// requires (`EISDIR` for a directory, `EACCES` without write access).
///
/// # Safety
/// `path` must be a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn truncate64(path: *const c_char, len: CLong) -> CInt {
    traced!("truncate64"(len) {
    let Ok(len) = u64::try_from(len) else {
        return errno::fail(code::EINVAL);
    };
    // SAFETY: per the caller.
    let truncated = unsafe { c_path(path) }
        .and_then(|path| fs::open(AT_FDCWD, path, fs::flags::O_WRONLY | fs::flags::O_CLOEXEC, 0))
        .and_then(|fd| {
            let result = fs::truncate(fd, len);
            let _ = fs::close(fd);
            result
        });
    errno::check(truncated.map(|()| 0)) as CInt
    })
}

/// `truncate(2)`: as [`truncate64`].
///
/// # Safety
/// `path` must be a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn truncate(path: *const c_char, len: CLong) -> CInt {
    // SAFETY: per the caller.
    unsafe { truncate64(path, len) }
}

/// `getcwd(3)`; with a null `buf`, a `malloc`ed one (glibc's extension).
///
/// # Safety
/// `buf` must be null or valid for `size` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getcwd(buf: *mut c_char, size: usize) -> *mut c_char {
    traced!("getcwd"(buf, size) {
    let cwd = match fs::cwd() {
        Ok(cwd) => cwd,
        Err(e) => return errno::fail_null(e.0),
    };
    let needed = cwd.len() + 1;
    let buf = if buf.is_null() {
        crate::malloc::malloc(size.max(needed)).cast::<c_char>()
    } else if size == 0 {
        return errno::fail_null(code::EINVAL);
    } else if size < needed {
        return errno::fail_null(code::ERANGE);
    } else {
        buf
    };
    if buf.is_null() {
        return buf;
    }
    // SAFETY: `buf` has room for the path and its NUL (checked or allocated above).
    unsafe {
        core::ptr::copy_nonoverlapping(cwd.as_ptr(), buf.cast::<u8>(), cwd.len());
        buf.add(cwd.len()).write(0);
    }
    buf
    })
}

/// `chdir(2)`.
///
/// # Safety
/// `path` must be null or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chdir(path: *const c_char) -> CInt {
    traced!("chdir"(path) {
    // SAFETY: per the caller.
    errno::check(unsafe { c_path(path) }.and_then(fs::chdir).map(|()| 0)) as CInt
    })
}

/// `ioctl(2)`: `FIONBIO` sets non-blocking mode; `TIOCGWINSZ` answers for
/// the terminal stdin (see [`crate::termios`]), `ENOTTY` elsewhere.
///
/// # Safety
/// For `FIONBIO`, `arg` must be null or point to an `int`; for
/// `TIOCGWINSZ`, null or valid for writing a `struct winsize`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ioctl(fd: CInt, request: u64, arg: *mut c_void) -> CInt {
    traced!("ioctl"(fd, request) {
    const FIONBIO: u64 = 0x5421;
    const FIOCLEX: u64 = 0x5451;
    const FIONCLEX: u64 = 0x5450;
    const TIOCGWINSZ: u64 = 0x5413;
    let result = match request {
        FIONBIO if arg.is_null() => Err(fs::Errno(code::EFAULT)),
        FIONBIO => fs::status(fd).and_then(|status| {
            // SAFETY: FIONBIO's argument is a readable int (checked non-null).
            let on = unsafe { arg.cast::<CInt>().read() } != 0;
            let nonblock = fs::flags::O_NONBLOCK;
            fs::set_status(fd, if on { status | nonblock } else { status & !nonblock })
        }),
        FIOCLEX | FIONCLEX => fs::set_cloexec(fd, request == FIOCLEX),
        TIOCGWINSZ => crate::termios::window_size(fd).and_then(|size| {
            if arg.is_null() {
                return Err(fs::Errno(code::EFAULT));
            }
            // SAFETY: per the caller (checked non-null).
            unsafe { arg.cast::<crate::termios::WindowSize>().write_unaligned(size) };
            Ok(())
        }),
        _ => fs::fstat(fd).and(Err(fs::Errno(code::ENOTTY))),
    };
    errno::check(result.map(|()| 0)) as CInt
    })
}

/// `pipe2(2)`.
///
/// # Safety
/// `fds` must be valid for two `int`s.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pipe2(fds: *mut CInt, flags: CInt) -> CInt {
    traced!("pipe2"(fds, flags) {
    let allowed = fs::flags::O_CLOEXEC | fs::flags::O_NONBLOCK;
    if flags & !allowed != 0 {
        return errno::fail(code::EINVAL);
    }
    match fs::pipe(flags) {
        Ok(pair) => {
            // SAFETY: per the caller.
            unsafe { fds.cast::<[CInt; 2]>().write_unaligned(pair) };
            0
        }
        Err(e) => errno::fail(e.0),
    }
    })
}

/// `pipe(2)`.
///
/// # Safety
/// `fds` must be valid for two `int`s.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pipe(fds: *mut CInt) -> CInt {
    // SAFETY: per the caller.
    unsafe { pipe2(fds, 0) }
}

/// `readlinkat(2)`.
///
/// # Safety
/// `path` must be null or a NUL-terminated string; `buf` valid for `size` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn readlinkat(
    dirfd: CInt,
    path: *const c_char,
    buf: *mut c_char,
    size: usize,
) -> CLong {
    traced!("readlinkat"(dirfd, path, buf, size) {
    if size == 0 {
        return errno::fail(code::EINVAL);
    }
    // SAFETY: per the caller.
    let buf = unsafe { c_slice_mut(buf.cast::<u8>(), size) };
    // SAFETY: per the caller.
    errno::check(unsafe { c_path(path) }.and_then(|path| fs::readlink(dirfd, path, buf)))
    })
}

/// `readlink(2)`. There is no `/proc/self/exe`: `std::env::current_exe` fails.
///
/// # Safety
/// As [`readlinkat`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn readlink(path: *const c_char, buf: *mut c_char, size: usize) -> CLong {
    // SAFETY: per the caller.
    unsafe { readlinkat(AT_FDCWD, path, buf, size) }
}

/// `symlinkat(2)`.
///
/// # Safety
/// `target` and `path` must be null or NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn symlinkat(
    target: *const c_char,
    dirfd: CInt,
    path: *const c_char,
) -> CInt {
    traced!("symlinkat"(target, dirfd, path) {
    // SAFETY: per the caller.
    let result = unsafe { c_path(target).and_then(|t| c_path(path).map(|p| (t, p))) }
        .and_then(|(target, path)| fs::symlink(target, dirfd, path));
    errno::check(result.map(|()| 0)) as CInt
    })
}

/// `symlink(2)`.
///
/// # Safety
/// As [`symlinkat`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn symlink(target: *const c_char, path: *const c_char) -> CInt {
    // SAFETY: per the caller.
    unsafe { symlinkat(target, AT_FDCWD, path) }
}

/// `unlinkat(2)`: `AT_REMOVEDIR` removes a directory.
///
/// # Safety
/// `path` must be null or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn unlinkat(dirfd: CInt, path: *const c_char, flags: CInt) -> CInt {
    traced!("unlinkat"(dirfd, path, flags) {
    const AT_REMOVEDIR: CInt = 0x200;
    if flags & !AT_REMOVEDIR != 0 {
        return errno::fail(code::EINVAL);
    }
    // SAFETY: per the caller.
    let result = unsafe { c_path(path) }
        .and_then(|path| fs::unlink(dirfd, path, flags & AT_REMOVEDIR != 0));
    errno::check(result.map(|()| 0)) as CInt
    })
}

/// `unlink(2)`.
///
/// # Safety
/// `path` must be null or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn unlink(path: *const c_char) -> CInt {
    // SAFETY: per the caller.
    unsafe { unlinkat(AT_FDCWD, path, 0) }
}

/// `rmdir(2)`.
///
/// # Safety
/// `path` must be null or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmdir(path: *const c_char) -> CInt {
    // SAFETY: per the caller.
    unsafe { unlinkat(AT_FDCWD, path, 0x200) }
}

/// `linkat(2)`: no filesystem here supports hard links.
#[unsafe(no_mangle)]
pub extern "C" fn linkat(
    _olddirfd: CInt,
    _old: *const c_char,
    _newdirfd: CInt,
    _new: *const c_char,
    _flags: CInt,
) -> CInt {
    traced!("linkat"() {
    errno::fail(code::EPERM)
    })
}

/// `link(2)`.
#[unsafe(no_mangle)]
pub extern "C" fn link(old: *const c_char, new: *const c_char) -> CInt {
    linkat(AT_FDCWD, old, AT_FDCWD, new, 0)
}

/// `faccessat(2)`: the program is the superuser, who may do anything to
/// a file that exists but write to a read-only filesystem or execute a
/// file with no execute bit (see `fs::access`).
///
/// # Safety
/// `path` must be null or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn faccessat(
    dirfd: CInt,
    path: *const c_char,
    mode: CInt,
    flags: CInt,
) -> CInt {
    traced!("faccessat"(dirfd, path, mode, flags) {
    const AT_EACCESS: CInt = 0x200;
    const AT_SYMLINK_NOFOLLOW: CInt = 0x100;
    if mode & !0o7 != 0 || flags & !(AT_EACCESS | AT_SYMLINK_NOFOLLOW) != 0 {
        return errno::fail(code::EINVAL);
    }
    let follow = flags & AT_SYMLINK_NOFOLLOW == 0;
    // SAFETY: per the caller.
    let result = unsafe { c_path(path) }.and_then(|path| fs::access(dirfd, path, mode, follow));
    errno::check(result.map(|()| 0)) as CInt
    })
}

/// `access(2)`.
///
/// # Safety
/// `path` must be null or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn access(path: *const c_char, mode: CInt) -> CInt {
    // SAFETY: per the caller.
    unsafe { faccessat(AT_FDCWD, path, mode, 0) }
}

/// `dup(2)`.
#[unsafe(no_mangle)]
pub extern "C" fn dup(fd: CInt) -> CInt {
    traced!("dup"(fd) {
    errno::check(fs::dup(fd, 0, false)) as CInt
    })
}

/// `dup3(2)`.
#[unsafe(no_mangle)]
pub extern "C" fn dup3(old: CInt, new: CInt, flags: CInt) -> CInt {
    traced!("dup3"(old, new, flags) {
    if old == new || flags & !fs::flags::O_CLOEXEC != 0 {
        return errno::fail(code::EINVAL);
    }
    errno::check(fs::dup_to(old, new, flags != 0)) as CInt
    })
}

/// `dup2(2)`.
#[unsafe(no_mangle)]
pub extern "C" fn dup2(old: CInt, new: CInt) -> CInt {
    traced!("dup2"(old, new) {
    if old == new {
        // As Linux: the identity, if `old` is open.
        return errno::check(fs::status(old).map(|_| new)) as CInt;
    }
    errno::check(fs::dup_to(old, new, false)) as CInt
    })
}

/// `struct pollfd`.
#[repr(C)]
pub struct PollFd {
    fd: CInt,
    events: i16,
    revents: i16,
}

/// `poll(2)`: files are always ready; a pipe when it has data or room; a
/// wait lets the other threads run until a pipe changes or the timeout passes.
///
/// # Safety
/// `fds` must point to `count` valid `pollfd`s.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn poll(fds: *mut PollFd, count: u64, timeout_ms: CInt) -> CInt {
    traced!("poll"(fds, count, timeout_ms) {
    // As Linux: no more entries than descriptors may be open.
    let Some(count) = usize::try_from(count).ok().filter(|&n| n <= fs::MAX_FDS) else {
        return errno::fail(code::EINVAL);
    };
    let now = kiln_libos::time::Instant::now().as_nanos_since_boot();
    let deadline = match u64::try_from(timeout_ms) {
        Ok(ms) => now.saturating_add(ms.saturating_mul(1_000_000)),
        Err(_) => u64::MAX,
    };
    // SAFETY: per the caller.
    let entries = unsafe { c_slice_mut(fds, count) };
    loop {
        // A change made by another thread after this is counted, so the
        // wait below does not sleep through it.
        let seen = fs::changes();
        let mut ready = 0;
        for p in entries.iter_mut() {
            p.revents = if p.fd < 0 { 0 } else { fs::poll_ready(p.fd, p.events) };
            if p.revents != 0 {
                ready += 1;
            }
        }
        if ready > 0 || kiln_libos::time::Instant::now().as_nanos_since_boot() >= deadline {
            return ready;
        }
        fs::wait_for_change(seen, deadline);
    }
    })
}

/// `sysconf(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn sysconf(name: CInt) -> CLong {
    traced!("sysconf"(name) {
    const SC_CLK_TCK: CInt = 2;
    const SC_PAGESIZE: CInt = 30;
    const SC_NPROCESSORS_CONF: CInt = 83;
    const SC_NPROCESSORS_ONLN: CInt = 84;
    match name {
        SC_CLK_TCK => 100,
        SC_PAGESIZE => 4096,
        // The CPUs the scheduler runs threads on: `available_parallelism`.
        SC_NPROCESSORS_CONF | SC_NPROCESSORS_ONLN => kiln_libos::sched::cpus() as CLong,
        _ => errno::fail(code::EINVAL),
    }
    })
}

/// `getauxval(3)`: the auxiliary vector a Linux kernel would pass.
#[unsafe(no_mangle)]
pub extern "C" fn getauxval(kind: u64) -> u64 {
    traced!("getauxval"(kind) {
    const AT_PAGESZ: u64 = 6;
    match kind {
        AT_PAGESZ => 4096,
        _ => {
            errno::set(code::ENOENT);
            0
        }
    }
    })
}
