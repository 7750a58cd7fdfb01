//! Opening, closing and positioning streams, their buffering mode and
//! status (`fopen` ... `clearerr`), and `remove`.

use core::ffi::c_char;
use core::sync::atomic::{AtomicU32, Ordering};

use kiln_libos::fs::{
    self,
    flags::{AT_FDCWD, O_ACCMODE, O_APPEND, O_CREAT, O_EXCL, O_RDONLY, O_RDWR, O_WRONLY, SEEK_SET},
};

use super::stream::{self, Buffering, EOF, File, Mode, parse_mode};
use crate::errno::{self, code};
use crate::{CInt, CLong, c_path};

/// The mode string, or `EINVAL`.
///
/// # Safety
/// `mode` is a NUL-terminated string.
unsafe fn mode_of(mode: *const c_char) -> Option<Mode> {
    // SAFETY: per the caller.
    let mode = unsafe { core::ffi::CStr::from_ptr(mode) }.to_bytes();
    let parsed = parse_mode(mode);
    if parsed.is_none() {
        errno::set(code::EINVAL);
    }
    parsed
}

/// `fopen(3)`.
///
/// # Safety
/// `path` and `mode` are NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fopen(path: *const c_char, mode: *const c_char) -> *mut File {
    traced!("fopen"(path, mode) {
    // SAFETY: per the caller.
    let Some(mode) = (unsafe { mode_of(mode) }) else {
        return core::ptr::null_mut();
    };
    // SAFETY: per the caller.
    let opened = unsafe { c_path(path) }.and_then(|path| fs::open(AT_FDCWD, path, mode.flags, 0o666));
    match opened {
        Ok(fd) => {
            let file = stream::allocate(fd, &mode);
            if file.is_null() {
                let _ = fs::close(fd);
            }
            file
        }
        Err(e) => errno::fail_null(e.0),
    }
    })
}

/// `fopen64`: the same (offsets are 64-bit already).
///
/// # Safety
/// As [`fopen`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fopen64(path: *const c_char, mode: *const c_char) -> *mut File {
    // SAFETY: per the caller.
    unsafe { fopen(path, mode) }
}

/// `fdopen(3)`: a stream on an open descriptor whose access mode allows
/// the stream's (`EINVAL` otherwise); `a` turns on `O_APPEND`.
///
/// # Safety
/// `mode` is a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fdopen(fd: CInt, mode: *const c_char) -> *mut File {
    traced!("fdopen"(fd, mode) {
    // SAFETY: per the caller.
    let Some(mode) = (unsafe { mode_of(mode) }) else {
        return core::ptr::null_mut();
    };
    let status = match fs::status(fd) {
        Ok(status) => status,
        Err(e) => return errno::fail_null(e.0),
    };
    let access = status & O_ACCMODE;
    if (mode.readable && access == O_WRONLY) || (mode.writable && access == O_RDONLY) {
        return errno::fail_null(code::EINVAL);
    }
    if mode.flags & O_APPEND != 0
        && status & O_APPEND == 0
        && let Err(e) = fs::set_status(fd, status | O_APPEND)
    {
        return errno::fail_null(e.0);
    }
    stream::allocate(fd, &mode)
    })
}

/// `freopen(3)`: closes the stream's descriptor and opens `path` in its
/// place. A null `path` (changing the mode of the same file) is not
/// supported: `EINVAL`.
///
/// # Safety
/// `path` is null or a NUL-terminated string, `mode` a NUL-terminated
/// string, `file` an open stream.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn freopen(
    path: *const c_char,
    mode: *const c_char,
    file: *mut File,
) -> *mut File {
    traced!("freopen"(path, mode, file) {
    // SAFETY: per the caller.
    let mut stream_ref = unsafe { stream::stream(file) };
    let _ = stream_ref.close();
    if path.is_null() {
        return errno::fail_null(code::EINVAL);
    }
    // SAFETY: per the caller.
    let Some(mode) = (unsafe { mode_of(mode) }) else {
        return core::ptr::null_mut();
    };
    // SAFETY: per the caller.
    let opened = unsafe { c_path(path) }.and_then(|path| fs::open(AT_FDCWD, path, mode.flags, 0o666));
    match opened {
        Ok(fd) => {
            stream::reinit(&mut stream_ref, fd, &mode);
            file
        }
        Err(e) => errno::fail_null(e.0),
    }
    })
}

/// `freopen64`.
///
/// # Safety
/// As [`freopen`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn freopen64(
    path: *const c_char,
    mode: *const c_char,
    file: *mut File,
) -> *mut File {
    // SAFETY: per the caller.
    unsafe { freopen(path, mode, file) }
}

/// `fclose(3)`: flushes, closes the descriptor and frees the stream.
///
/// # Safety
/// `file` is an open stream, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fclose(file: *mut File) -> CInt {
    traced!("fclose"(file) {
    // SAFETY: per the caller.
    let closed = unsafe { stream::stream(file) }.close();
    // SAFETY: per the caller, no one uses the stream any more.
    unsafe { stream::discard(file) };
    if closed { 0 } else { EOF }
    })
}

/// Tells `tmpfile` names apart within the program.
static TMPFILE_COUNTER: AtomicU32 = AtomicU32::new(0);

/// `tmpfile(3)`: a new file in `/tmp` opened `w+`, already unlinked.
#[unsafe(no_mangle)]
pub extern "C" fn tmpfile() -> *mut File {
    traced!("tmpfile"() {
    let mode = Mode { flags: O_RDWR | O_CREAT | O_EXCL, readable: true, writable: true };
    loop {
        let n = TMPFILE_COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut name = *b"/tmp/tmpf00000000";
        for (i, slot) in name[9..].iter_mut().enumerate() {
            *slot = b"0123456789abcdef"[(n >> (28 - 4 * i)) as usize & 0xf];
        }
        match fs::open(AT_FDCWD, &name, mode.flags, 0o600) {
            Ok(fd) => {
                let _ = fs::unlink(AT_FDCWD, &name, false);
                let file = stream::allocate(fd, &mode);
                if file.is_null() {
                    let _ = fs::close(fd);
                }
                return file;
            }
            Err(e) if e.0 == code::EEXIST => continue,
            Err(e) => return errno::fail_null(e.0),
        }
    }
    })
}

/// `tmpfile64`.
#[unsafe(no_mangle)]
pub extern "C" fn tmpfile64() -> *mut File {
    tmpfile()
}

/// `remove(3)`: `unlink`, or `rmdir` for a directory, as glibc does.
///
/// # Safety
/// `path` is a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn remove(path: *const c_char) -> CInt {
    traced!("remove"(path) {
    // SAFETY: per the caller.
    let path = match unsafe { c_path(path) } {
        Ok(path) => path,
        Err(e) => return errno::fail(e.0),
    };
    let result = match fs::unlink(AT_FDCWD, path, false) {
        Err(e) if e.0 == code::EISDIR => fs::unlink(AT_FDCWD, path, true),
        result => result,
    };
    errno::check(result.map(|()| 0)) as CInt
    })
}

/// `setvbuf(3)`: `_IOFBF` (0), `_IOLBF` (1) or `_IONBF` (2), with the
/// caller's buffer or (null) one allocated when first needed.
///
/// # Safety
/// `file` is an open stream; `buf` is null or valid for `size` bytes for
/// as long as the stream uses it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn setvbuf(
    file: *mut File,
    buf: *mut c_char,
    mode: CInt,
    size: usize,
) -> CInt {
    traced!("setvbuf"(file, buf, mode, size) {
    let buffering = match mode {
        0 => Buffering::Full,
        1 => Buffering::Line,
        2 => Buffering::Unbuffered,
        // glibc fails an unknown mode without setting `errno`.
        _ => return EOF,
    };
    // SAFETY: per the caller.
    unsafe { stream::stream(file) }.set_buffering(buffering, buf.cast(), size);
    0
    })
}

/// `setbuf(3)`: `buf` (of `BUFSIZ`, 8192 bytes) fully buffers; null unbuffers.
///
/// # Safety
/// As [`setvbuf`] with `size` 8192.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn setbuf(file: *mut File, buf: *mut c_char) {
    let mode = if buf.is_null() { 2 } else { 0 };
    // SAFETY: per the caller.
    unsafe { setvbuf(file, buf, mode, 8192) };
}

/// `setlinebuf(3)`.
///
/// # Safety
/// `file` is an open stream.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn setlinebuf(file: *mut File) {
    // SAFETY: per the caller.
    unsafe { setvbuf(file, core::ptr::null_mut(), 1, 0) };
}

/// `fileno(3)`.
///
/// # Safety
/// `file` is an open stream.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fileno(file: *mut File) -> CInt {
    // SAFETY: per the caller.
    let fd = unsafe { stream::stream(file) }.fd;
    if fd < 0 { errno::fail(code::EBADF) } else { fd }
}

/// `fflush(3)`: one stream, or (null) every stream with pending output.
///
/// # Safety
/// `file` is null or an open stream.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fflush(file: *mut File) -> CInt {
    traced!("fflush"(file) {
    let flushed = if file.is_null() {
        stream::flush_all()
    } else {
        // SAFETY: per the caller.
        unsafe { stream::stream(file) }.flush()
    };
    if flushed { 0 } else { EOF }
    })
}

/// `fseeko(3)`.
///
/// # Safety
/// `file` is an open stream.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fseeko(file: *mut File, offset: CLong, whence: CInt) -> CInt {
    traced!("fseeko"(file, offset, whence) {
    // SAFETY: per the caller.
    errno::check(unsafe { stream::stream(file) }.seek(offset, whence).map(|()| 0)) as CInt
    })
}

/// `fseek(3)`.
///
/// # Safety
/// As [`fseeko`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fseek(file: *mut File, offset: CLong, whence: CInt) -> CInt {
    // SAFETY: per the caller.
    unsafe { fseeko(file, offset, whence) }
}

/// `fseeko64`.
///
/// # Safety
/// As [`fseeko`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fseeko64(file: *mut File, offset: CLong, whence: CInt) -> CInt {
    // SAFETY: per the caller.
    unsafe { fseeko(file, offset, whence) }
}

/// `ftello(3)`.
///
/// # Safety
/// `file` is an open stream.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ftello(file: *mut File) -> CLong {
    traced!("ftello"(file) {
    // SAFETY: per the caller.
    errno::check(unsafe { stream::stream(file) }.tell())
    })
}

/// `ftell(3)`.
///
/// # Safety
/// As [`ftello`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ftell(file: *mut File) -> CLong {
    // SAFETY: per the caller.
    unsafe { ftello(file) }
}

/// `ftello64`.
///
/// # Safety
/// As [`ftello`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ftello64(file: *mut File) -> CLong {
    // SAFETY: per the caller.
    unsafe { ftello(file) }
}

/// `rewind(3)`: to the start, with the error flag cleared too.
///
/// # Safety
/// `file` is an open stream.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rewind(file: *mut File) {
    // SAFETY: per the caller.
    let mut file = unsafe { stream::stream(file) };
    let _ = file.seek(0, SEEK_SET);
    file.clear_flags();
}

/// `feof(3)`.
///
/// # Safety
/// `file` is an open stream.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn feof(file: *mut File) -> CInt {
    // SAFETY: per the caller.
    CInt::from(unsafe { stream::stream(file) }.at_eof())
}

/// `ferror(3)`.
///
/// # Safety
/// `file` is an open stream.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ferror(file: *mut File) -> CInt {
    // SAFETY: per the caller.
    CInt::from(unsafe { stream::stream(file) }.has_error())
}

/// `clearerr(3)`.
///
/// # Safety
/// `file` is an open stream.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn clearerr(file: *mut File) {
    // SAFETY: per the caller.
    unsafe { stream::stream(file) }.clear_flags();
}
