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

/// A growable buffer for the non-reentrant calls (`getpwnam`...): the
/// record they return lives in it until the next call, as in glibc.
pub(crate) fn retry_growing<T>(
    storage: &mut Vec<u8>,
    mut attempt: impl FnMut(&mut [u8]) -> Result<Option<T>, i32>,
) -> Result<Option<T>, i32> {
    if storage.is_empty() {
        storage.resize(1024, 0);
    }
    loop {
        match attempt(storage) {
            Err(code::ERANGE) => {
                let bigger = storage.len() * 2;
                storage.resize(bigger, 0);
            }
            other => return other,
        }
    }
}
