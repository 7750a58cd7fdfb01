//! The printf family's entry points: where the formatted output goes
//! (a stream, a descriptor, a caller's buffer, a fresh allocation), the
//! fortified `__*_chk` forms, and the variadic trampolines.

use core::ffi::c_char;

use kiln_libos::fs;

use super::printf::{self, Sink};
use super::stream::{self, File};
use super::va_list::{VaList, variadic};
use crate::CInt;
use crate::errno::{self, code};
use crate::malloc::{free, realloc};

/// Collects output in a small stack buffer and hands it on in chunks, so
/// that an unbuffered stream (`stderr`) gets one write per call, as glibc
/// arranges, and a buffered one is not called per byte.
struct Chunked<W: FnMut(&[u8]) -> bool> {
    buf: [u8; 512],
    len: usize,
    write: W,
    failed: bool,
}

impl<W: FnMut(&[u8]) -> bool> Chunked<W> {
    fn new(write: W) -> Self {
        Self {
            buf: [0; 512],
            len: 0,
            write,
            failed: false,
        }
    }

    fn drain(&mut self) {
        if self.len > 0 && !self.failed {
            self.failed = !(self.write)(&self.buf[..self.len]);
        }
        self.len = 0;
    }

    /// Writes what is left; false if any write failed.
    fn finish(mut self) -> bool {
        self.drain();
        !self.failed
    }
}

impl<W: FnMut(&[u8]) -> bool> Sink for Chunked<W> {
    fn write(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.len == self.buf.len() {
                self.drain();
            }
            let n = bytes.len().min(self.buf.len() - self.len);
            self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
            self.len += n;
            bytes = &bytes[n..];
        }
    }
}

/// A caller's buffer of `capacity` bytes: what fits (leaving room for
/// the NUL) is kept, the rest only counted.
struct Buffer {
    ptr: *mut u8,
    capacity: usize,
    len: usize,
}

impl Sink for Buffer {
    fn write(&mut self, bytes: &[u8]) {
        let room = self.capacity.saturating_sub(1).saturating_sub(self.len);
        let n = bytes.len().min(room);
        // SAFETY: the caller's buffer holds `capacity` bytes; `len + n < capacity`.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr.add(self.len), n) };
        self.len += n;
    }
}

impl Buffer {
    /// NUL-terminates what was kept.
    fn terminate(&self) {
        if self.capacity > 0 {
            // SAFETY: `len < capacity`.
            unsafe { self.ptr.add(self.len).write(0) };
        }
    }
}

/// A growing `malloc` allocation, for `asprintf`.
struct Allocation {
    ptr: *mut u8,
    capacity: usize,
    len: usize,
    failed: bool,
}

impl Sink for Allocation {
    fn write(&mut self, bytes: &[u8]) {
        if self.failed {
            return;
        }
        let needed = self.len + bytes.len() + 1;
        if needed > self.capacity {
            let capacity = needed.max(self.capacity * 2).max(64);
            // SAFETY: `ptr` is null or this sink's allocation.
            let grown = unsafe { realloc(self.ptr.cast(), capacity) }.cast::<u8>();
            if grown.is_null() {
                self.failed = true;
                return;
            }
            self.ptr = grown;
            self.capacity = capacity;
        }
        // SAFETY: `len + bytes.len() < capacity`.
        unsafe {
            core::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr.add(self.len), bytes.len())
        };
        self.len += bytes.len();
    }
}

/// `vfprintf(3)`.
///
/// # Safety
/// `file` is an open stream, `format` a NUL-terminated string, and `args`
/// holds arguments of the types its conversions name.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vfprintf(
    file: *mut File,
    format: *const c_char,
    args: *mut VaList,
) -> CInt {
    traced!("vfprintf"(file, format) {
    // SAFETY: per the caller.
    let (mut file, args) = unsafe { (stream::stream(file), &mut *args) };
    let mut sink = Chunked::new(|bytes: &[u8]| file.put(bytes));
    // SAFETY: per the caller.
    let outcome = unsafe { printf::format(&mut sink, format, args) };
    if !sink.finish() {
        return -1;
    }
    printf::result(outcome)
    })
}

/// `vprintf(3)`.
///
/// # Safety
/// As [`vfprintf`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vprintf(format: *const c_char, args: *mut VaList) -> CInt {
    // SAFETY: per the caller.
    unsafe {
        vfprintf(
            stream::stdout.load(core::sync::atomic::Ordering::Relaxed),
            format,
            args,
        )
    }
}

/// `vdprintf(3)`: formatted output straight to a descriptor.
///
/// # Safety
/// As [`vfprintf`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vdprintf(fd: CInt, format: *const c_char, args: *mut VaList) -> CInt {
    traced!("vdprintf"(fd, format) {
    let mut error = 0;
    let mut sink = Chunked::new(|mut bytes: &[u8]| {
        while !bytes.is_empty() {
            match fs::write(fd, bytes, None) {
                Ok(n) if n > 0 => bytes = &bytes[n..],
                Ok(_) => error = code::EIO,
                Err(e) => error = e.0,
            }
            if error != 0 {
                return false;
            }
        }
        true
    });
    // SAFETY: per the caller.
    let outcome = unsafe { printf::format(&mut sink, format, &mut *args) };
    if !sink.finish() {
        return errno::fail(error);
    }
    printf::result(outcome)
    })
}

/// `vsnprintf(3)`: at most `size - 1` bytes and a NUL; returns the length
/// the whole output would have had.
///
/// # Safety
/// `buf` is valid for `size` bytes; otherwise as [`vfprintf`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vsnprintf(
    buf: *mut c_char,
    size: usize,
    format: *const c_char,
    args: *mut VaList,
) -> CInt {
    let mut sink = Buffer {
        ptr: buf.cast(),
        capacity: size,
        len: 0,
    };
    // SAFETY: per the caller.
    let outcome = unsafe { printf::format(&mut sink, format, &mut *args) };
    sink.terminate();
    printf::result(outcome)
}

/// `vsprintf(3)`: no bound (the caller promises room).
///
/// # Safety
/// `buf` has room for the whole output; otherwise as [`vfprintf`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vsprintf(
    buf: *mut c_char,
    format: *const c_char,
    args: *mut VaList,
) -> CInt {
    // SAFETY: per the caller.
    unsafe { vsnprintf(buf, isize::MAX as usize, format, args) }
}

/// `vasprintf(3)`: the output in a new `malloc` allocation; -1 (and
/// `*out` unspecified, here null) if memory runs out.
///
/// # Safety
/// `out` is valid for a write; otherwise as [`vfprintf`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vasprintf(
    out: *mut *mut c_char,
    format: *const c_char,
    args: *mut VaList,
) -> CInt {
    let mut sink = Allocation {
        ptr: core::ptr::null_mut(),
        capacity: 0,
        len: 0,
        failed: false,
    };
    // Allocates now, so that empty output is still a string.
    sink.write(b"");
    // SAFETY: per the caller.
    let outcome = unsafe { printf::format(&mut sink, format, &mut *args) };
    if sink.failed || outcome.is_err() {
        // SAFETY: the sink's own allocation (or null).
        unsafe { free(sink.ptr.cast()) };
        // SAFETY: per the caller.
        unsafe { out.write(core::ptr::null_mut()) };
        return match outcome {
            Err(value) => errno::fail(value),
            Ok(_) => errno::fail(code::ENOMEM),
        };
    }
    // SAFETY: `len < capacity`; `out` is valid per the caller.
    unsafe {
        sink.ptr.add(sink.len).write(0);
        out.write(sink.ptr.cast());
    }
    printf::result(outcome)
}

/// glibc's `__chk_fail`: a fortified call found the buffer too small.
fn buffer_overflow() -> ! {
    let message = b"*** buffer overflow detected ***: terminated\n";
    let _ = fs::write(2, message, None);
    crate::stdlib::abort()
}

/// `__vsnprintf_chk`: `vsnprintf`, checking `size` against the object's
/// real size `object_size`.
///
/// # Safety
/// As [`vsnprintf`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __vsnprintf_chk(
    buf: *mut c_char,
    size: usize,
    _flag: CInt,
    object_size: usize,
    format: *const c_char,
    args: *mut VaList,
) -> CInt {
    if size > object_size {
        buffer_overflow();
    }
    // SAFETY: per the caller.
    unsafe { vsnprintf(buf, size, format, args) }
}

/// `__vsprintf_chk`: `vsprintf` into an object of `object_size` bytes.
///
/// # Safety
/// As [`vsnprintf`] with `object_size`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __vsprintf_chk(
    buf: *mut c_char,
    _flag: CInt,
    object_size: usize,
    format: *const c_char,
    args: *mut VaList,
) -> CInt {
    // SAFETY: per the caller.
    let written = unsafe { vsnprintf(buf, object_size, format, args) };
    if written >= 0 && written as usize >= object_size {
        buffer_overflow();
    }
    written
}

/// `__vfprintf_chk`.
///
/// # Safety
/// As [`vfprintf`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __vfprintf_chk(
    file: *mut File,
    _flag: CInt,
    format: *const c_char,
    args: *mut VaList,
) -> CInt {
    // SAFETY: per the caller.
    unsafe { vfprintf(file, format, args) }
}

/// `__vprintf_chk`.
///
/// # Safety
/// As [`vfprintf`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __vprintf_chk(
    _flag: CInt,
    format: *const c_char,
    args: *mut VaList,
) -> CInt {
    // SAFETY: per the caller.
    unsafe { vprintf(format, args) }
}

/// `__vasprintf_chk`.
///
/// # Safety
/// As [`vasprintf`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __vasprintf_chk(
    out: *mut *mut c_char,
    _flag: CInt,
    format: *const c_char,
    args: *mut VaList,
) -> CInt {
    // SAFETY: per the caller.
    unsafe { vasprintf(out, format, args) }
}

/// `__vdprintf_chk`.
///
/// # Safety
/// As [`vdprintf`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __vdprintf_chk(
    fd: CInt,
    _flag: CInt,
    format: *const c_char,
    args: *mut VaList,
) -> CInt {
    // SAFETY: per the caller.
    unsafe { vdprintf(fd, format, args) }
}

/// `perror(3)`: `s: message` (or just the message) and a newline on
/// `stderr`.
///
/// # Safety
/// `s` is null or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn perror(s: *const c_char) {
    let message = crate::string::errors::message_or_unknown(errno::get());
    let file = stream::stderr.load(core::sync::atomic::Ordering::Relaxed);
    // SAFETY: `stderr` is a stream.
    let mut file = unsafe { stream::stream(file) };
    let mut sink = Chunked::new(|bytes: &[u8]| file.put(bytes));
    if !s.is_null() {
        // SAFETY: per the caller.
        let prefix = unsafe { core::ffi::CStr::from_ptr(s) }.to_bytes();
        if !prefix.is_empty() {
            sink.write(prefix);
            sink.write(b": ");
        }
    }
    sink.write(message.as_bytes());
    sink.write(b"\n");
    sink.finish();
}

variadic!("printf", 1, vprintf);
variadic!("fprintf", 2, vfprintf);
variadic!("dprintf", 2, vdprintf);
variadic!("sprintf", 2, vsprintf);
variadic!("snprintf", 3, vsnprintf);
variadic!("asprintf", 2, vasprintf);
variadic!("__printf_chk", 2, __vprintf_chk);
variadic!("__fprintf_chk", 3, __vfprintf_chk);
variadic!("__dprintf_chk", 3, __vdprintf_chk);
variadic!("__sprintf_chk", 4, __vsprintf_chk);
variadic!("__snprintf_chk", 5, __vsnprintf_chk);
variadic!("__asprintf_chk", 3, __vasprintf_chk);
