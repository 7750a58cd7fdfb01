//! What glibc's name service switch answers from its `files` backend:
//! the records of `/etc/passwd` and `/etc/group` (read through the library
//! OS, so from the image or a volume), and the packing of a record's
//! strings into the buffer a `getpwnam_r`-style caller provides.

use alloc::vec::Vec;
use core::ffi::c_char;

use crate::errno::code;

/// The records of a colon-separated database: each non-blank line that is
/// not a `#` comment, split at its colons. A missing file has none.
pub(crate) fn records(path: &[u8]) -> Vec<Vec<Vec<u8>>> {
    let contents = crate::read_file(path).unwrap_or_default();
    contents
        .split(|&b| b == b'\n')
        .map(|line| line.trim_ascii_start())
        .filter(|line| !line.is_empty() && !line.starts_with(b"#"))
        .map(|line| line.split(|&b| b == b':').map(<[u8]>::to_vec).collect())
        .collect()
}

/// A user or group id field, or `None` if it is not a decimal number.
pub(crate) fn id(field: &[u8]) -> Option<u32> {
    core::str::from_utf8(field).ok()?.parse().ok()
}

/// Space in a caller's buffer, handed out front to back; `ERANGE` when it
/// runs out, as glibc reports a buffer too small for the record.
pub(crate) struct Packer<'a> {
    buf: &'a mut [u8],
    used: usize,
}

impl<'a> Packer<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, used: 0 }
    }

    /// `text` as a C string in the buffer.
    pub(crate) fn string(&mut self, text: &[u8]) -> Result<*mut c_char, i32> {
        let end = self.used + text.len() + 1;
        let target = self.buf.get_mut(self.used..end).ok_or(code::ERANGE)?;
        target[..text.len()].copy_from_slice(text);
        target[text.len()] = 0;
        let p = target.as_mut_ptr().cast::<c_char>();
        self.used = end;
        Ok(p)
    }

    /// An array of `count` string pointers, aligned for pointers.
    pub(crate) fn pointers(&mut self, count: usize) -> Result<&'a mut [*mut c_char], i32> {
        let align = core::mem::align_of::<*mut c_char>();
        let base = self.buf.as_ptr() as usize;
        let start = (base + self.used).next_multiple_of(align) - base;
        let bytes = count * core::mem::size_of::<*mut c_char>();
        let region = self.buf.get_mut(start..start + bytes).ok_or(code::ERANGE)?;
        self.used = start + bytes;
        let p = region.as_mut_ptr().cast::<*mut c_char>();
        // SAFETY: `region` is `count` pointers' worth of the buffer, aligned
        // for them, handed out once; the packer lives no longer than it.
        Ok(unsafe { core::slice::from_raw_parts_mut(p, count) })
    }
}

/// A record of a database, packed into the C structure callers get (its
/// strings in a buffer of theirs or the C library's).
pub(crate) trait Record {
    /// The C structure (`struct passwd`, `struct group`).
    type C;

    /// Fills `out`, its strings in `buf`; `ERANGE` if `buf` is too small.
    fn pack(&self, out: &mut Self::C, buf: &mut [u8]) -> Result<(), i32>;
}

/// The `_r` calls' contract: 0 and `*result = out` when found, 0 and null
/// when not, `ERANGE` (and null) when `buf` is too small.
///
/// # Safety
/// `out` and `result` must be valid for writes, `buf` for `len` bytes.
pub(crate) unsafe fn answer<R: Record>(
    record: Option<R>,
    out: *mut R::C,
    buf: *mut c_char,
    len: usize,
    result: *mut *mut R::C,
) -> i32 {
    // SAFETY: per the caller.
    unsafe { result.write(core::ptr::null_mut()) };
    let Some(record) = record else {
        return 0;
    };
    // SAFETY: per the caller.
    let (out_ref, buf) = unsafe { (&mut *out, crate::c_slice_mut(buf.cast::<u8>(), len)) };
    match record.pack(out_ref, buf) {
        // SAFETY: per the caller.
        Ok(()) => unsafe { result.write(out) },
        Err(e) => return e,
    }
    0
}

/// Packs `record` into `out` and `strings` (grown until it fits), for the
/// non-reentrant calls (`getpwnam`...): the pointer they return, valid
/// until the next call as glibc's, or null with `errno` set.
pub(crate) fn into_static<R: Record>(
    record: Option<R>,
    out: &mut R::C,
    strings: &mut Vec<u8>,
) -> *mut R::C {
    let Some(record) = record else {
        return core::ptr::null_mut();
    };
    if strings.is_empty() {
        strings.resize(1024, 0);
    }
    loop {
        match record.pack(out, strings) {
            Ok(()) => return out,
            Err(code::ERANGE) => {
                let bigger = strings.len() * 2;
                strings.resize(bigger, 0);
            }
            Err(e) => {
                crate::errno::set(e);
                return core::ptr::null_mut();
            }
        }
    }
}
