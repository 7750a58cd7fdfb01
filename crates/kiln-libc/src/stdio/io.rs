//! Reading and writing streams: bytes, lines and blocks (`fread` ...
//! `getdelim`), and glibc's `__uflow`/`__overflow`, which its inline
//! `getc_unlocked`/`putc_unlocked` call.

use core::ffi::{CStr, c_char, c_void};
use core::sync::atomic::Ordering;

use super::stream::{self, EOF, File};
use crate::errno::{self, code};
use crate::malloc::realloc;
use crate::{CInt, CLong, c_slice, c_slice_mut};

fn standard_in() -> *mut File {
    stream::stdin.load(Ordering::Relaxed)
}

fn standard_out() -> *mut File {
    stream::stdout.load(Ordering::Relaxed)
}

/// `fread(3)`: whole items read.
///
/// # Safety
/// `buf` is valid for `size * count` bytes and `file` is an open stream.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fread(
    buf: *mut c_void,
    size: usize,
    count: usize,
    file: *mut File,
) -> usize {
    traced!("fread"(buf, size, count, file) {
    let Some(total) = size.checked_mul(count).filter(|&t| t > 0) else {
        return 0;
    };
    // SAFETY: per the caller.
    let (out, mut file) = unsafe { (c_slice_mut(buf.cast::<u8>(), total), stream::stream(file)) };
    file.read(out) / size
    })
}

/// `fwrite(3)`: whole items written.
///
/// # Safety
/// `buf` is valid for `size * count` bytes and `file` is an open stream.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fwrite(
    buf: *const c_void,
    size: usize,
    count: usize,
    file: *mut File,
) -> usize {
    traced!("fwrite"(buf, size, count, file) {
    let Some(total) = size.checked_mul(count).filter(|&t| t > 0) else {
        return 0;
    };
    // SAFETY: per the caller.
    let (data, mut file) = unsafe { (c_slice(buf.cast::<u8>(), total), stream::stream(file)) };
    if file.put(data) { count } else { 0 }
    })
}

/// `fgetc(3)`.
///
/// # Safety
/// `file` is an open stream.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fgetc(file: *mut File) -> CInt {
    // SAFETY: per the caller.
    unsafe { stream::stream(file) }
        .get()
        .map_or(EOF, CInt::from)
}

/// `getc(3)`.
///
/// # Safety
/// As [`fgetc`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getc(file: *mut File) -> CInt {
    // SAFETY: per the caller.
    unsafe { fgetc(file) }
}

/// `getchar(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn getchar() -> CInt {
    // SAFETY: `stdin` is a stream.
    unsafe { fgetc(standard_in()) }
}

/// glibc's `__uflow`: the next byte once the inline fast path found no
/// buffered input (always, here).
///
/// # Safety
/// As [`fgetc`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __uflow(file: *mut File) -> CInt {
    // SAFETY: per the caller.
    unsafe { fgetc(file) }
}

/// `ungetc(3)`: `EOF` is not pushed back.
///
/// # Safety
/// `file` is an open stream.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ungetc(c: CInt, file: *mut File) -> CInt {
    if c == EOF {
        return EOF;
    }
    // SAFETY: per the caller.
    if unsafe { stream::stream(file) }.unget(c as u8) {
        CInt::from(c as u8)
    } else {
        EOF
    }
}

/// `fputc(3)`.
///
/// # Safety
/// `file` is an open stream.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fputc(c: CInt, file: *mut File) -> CInt {
    let byte = c as u8;
    // SAFETY: per the caller.
    if unsafe { stream::stream(file) }.put(&[byte]) {
        CInt::from(byte)
    } else {
        EOF
    }
}

/// `putc(3)`.
///
/// # Safety
/// As [`fputc`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn putc(c: CInt, file: *mut File) -> CInt {
    // SAFETY: per the caller.
    unsafe { fputc(c, file) }
}

/// `putchar(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn putchar(c: CInt) -> CInt {
    // SAFETY: `stdout` is a stream.
    unsafe { fputc(c, standard_out()) }
}

/// glibc's `__overflow`: writes one byte once the inline fast path found
/// no room in the buffer (always, here).
///
/// # Safety
/// As [`fputc`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __overflow(file: *mut File, c: CInt) -> CInt {
    // SAFETY: per the caller.
    unsafe { fputc(c, file) }
}

/// `fputs(3)`: a non-negative number on success.
///
/// # Safety
/// `s` is a NUL-terminated string and `file` an open stream.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fputs(s: *const c_char, file: *mut File) -> CInt {
    // SAFETY: per the caller.
    let (text, mut file) = unsafe { (CStr::from_ptr(s).to_bytes(), stream::stream(file)) };
    if file.put(text) { 1 } else { EOF }
}

/// `puts(3)`: the string and a newline on `stdout`; glibc returns the
/// count written.
///
/// # Safety
/// `s` is a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn puts(s: *const c_char) -> CInt {
    // SAFETY: per the caller; `stdout` is a stream.
    let (text, mut file) =
        unsafe { (CStr::from_ptr(s).to_bytes(), stream::stream(standard_out())) };
    if file.put(text) && file.put(b"\n") {
        CInt::try_from(text.len() + 1).unwrap_or(CInt::MAX)
    } else {
        EOF
    }
}

/// `fgets(3)`: up to `size - 1` bytes, through the first newline; null at
/// end of file before any byte, or on error.
///
/// # Safety
/// `buf` is valid for `size` bytes and `file` is an open stream.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fgets(buf: *mut c_char, size: CInt, file: *mut File) -> *mut c_char {
    let Some(size) = usize::try_from(size).ok().filter(|&size| size > 0) else {
        return core::ptr::null_mut();
    };
    // SAFETY: per the caller.
    let (out, mut file) = unsafe { (c_slice_mut(buf.cast::<u8>(), size), stream::stream(file)) };
    let mut len = 0;
    while len + 1 < size {
        match file.get() {
            Some(byte) => {
                out[len] = byte;
                len += 1;
                if byte == b'\n' {
                    break;
                }
            }
            None => break,
        }
    }
    if len == 0 && size > 1 || file.has_error() {
        return core::ptr::null_mut();
    }
    out[len] = 0;
    buf
}

/// `getdelim(3)`: reads through `delimiter` into `*line` (grown with
/// `realloc`, `*capacity` updated); the length, or -1 at end of file
/// before any byte, on error, or with `EINVAL` for null arguments.
///
/// # Safety
/// `line` and `capacity` are valid; `*line` is null or a `malloc`
/// allocation of `*capacity` bytes; `file` is an open stream.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getdelim(
    line: *mut *mut c_char,
    capacity: *mut usize,
    delimiter: CInt,
    file: *mut File,
) -> CLong {
    traced!("getdelim"(line, capacity, delimiter, file) {
    if line.is_null() || capacity.is_null() || file.is_null() {
        return errno::fail(code::EINVAL);
    }
    // SAFETY: per the caller.
    let (line, capacity, mut file) = unsafe { (&mut *line, &mut *capacity, stream::stream(file)) };
    // glibc allocates first, even when nothing is read.
    if line.is_null() || *capacity == 0 {
        // SAFETY: `*line` is null or the caller's `malloc` allocation.
        let new = unsafe { realloc(line.cast(), 120) }.cast::<c_char>();
        if new.is_null() {
            return errno::fail(code::ENOMEM);
        }
        *line = new;
        *capacity = 120;
    }
    let mut len = 0;
    while let Some(byte) = file.get() {
        // Room for this byte and the NUL.
        if len + 2 > *capacity {
            let grown = (*capacity * 2).max(120).max(len + 2);
            // SAFETY: `*line` is null or the caller's `malloc` allocation.
            let new = unsafe { realloc(line.cast(), grown) }.cast::<c_char>();
            if new.is_null() {
                return errno::fail(code::ENOMEM);
            }
            *line = new;
            *capacity = grown;
        }
        // SAFETY: `len + 1 < capacity`.
        unsafe { line.add(len).write(byte as c_char) };
        len += 1;
        if CInt::from(byte) == delimiter & 0xff {
            break;
        }
    }
    if len == 0 {
        return -1;
    }
    // SAFETY: `len < capacity`.
    unsafe { line.add(len).write(0) };
    len as CLong
    })
}

/// `getline(3)`: [`getdelim`] through a newline.
///
/// # Safety
/// As [`getdelim`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getline(
    line: *mut *mut c_char,
    capacity: *mut usize,
    file: *mut File,
) -> CLong {
    // SAFETY: per the caller.
    unsafe { getdelim(line, capacity, CInt::from(b'\n'), file) }
}
