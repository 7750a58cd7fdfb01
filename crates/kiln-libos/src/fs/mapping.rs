//! Files mapped into memory (`mmap` of a descriptor).
//!
//! Guest code runs at CPL3 without a page-table interface of its own, and
//! the guest's files are its own memory or a host's (volumes), so a mapping
//! is a copy: page-aligned heap memory filled from the file when it is
//! made, as unikernels without a page cache do. That is exactly POSIX for
//! `MAP_PRIVATE` (whether later changes to the file show through a private
//! mapping is unspecified). A `MAP_SHARED` mapping must show the file as it
//! changes, and its stores must reach the file: the program's own writes
//! (`write`, `pwrite`, `ftruncate`) to a mapped file are copied into its
//! shared mappings (the one writer a unikernel has besides the host), and
//! a writable shared mapping is written back to its file (never past the
//! file's end, as a page beyond it is not the file's) before anything else
//! reads or changes that file, at `msync` and `munmap`, and when the
//! program ends. A shared mapping keeps its open file description alive,
//! as Linux's keeps the file, until `munmap`.
//!
//! What a copy cannot do: see the host change a volume file, and keep two
//! writable shared mappings of the same bytes in step (each sees the
//! other's stores only once one is written back).

use alloc::vec::Vec;
use core::alloc::{GlobalAlloc, Layout};

use kiln_abi::errno::*;
use kiln_abi::fs_image::kind;

use super::system::Device;
use super::tree::Kind;
use super::{Errno, Fs, Object, Result, flags::*, volume, with};
use crate::heap::HEAP;

const PAGE: usize = 4096;

/// A live shared mapping.
#[derive(Clone, Copy)]
pub(super) struct Mapping {
    /// The open file description it keeps alive (one of its `refs`).
    description: usize,
    /// Where in the file it starts.
    offset: u64,
    /// Its memory.
    addr: usize,
    len: usize,
    /// Its stores go back to the file.
    writable: bool,
}

/// What a mapping of a descriptor needs from `mmap`'s arguments.
#[derive(Clone, Copy, Debug)]
pub struct Request {
    /// The descriptor.
    pub fd: i32,
    /// Bytes to map (not 0).
    pub len: usize,
    /// Where in the file (page-aligned).
    pub offset: u64,
    /// `MAP_SHARED` rather than `MAP_PRIVATE`.
    pub shared: bool,
    /// `PROT_WRITE`.
    pub writable: bool,
}

/// The layout of a `len`-byte mapping.
pub fn layout(len: usize) -> Option<Layout> {
    let size = len.checked_next_multiple_of(PAGE)?;
    Layout::from_size_align(size, PAGE).ok()
}

/// Maps `request.len` bytes of `request.fd`'s file: the address of a copy,
/// registered for the program's later writes when shared.
pub fn map(request: Request) -> Result<*mut u8> {
    let layout = layout(request.len).ok_or(Errno(ENOMEM))?;
    with(|fs| {
        let index = fs.fd(request.fd)?.description;
        let description = fs.descriptions[index]
            .as_ref()
            .expect("descriptors refer to live descriptions");
        let access = description.status & O_ACCMODE;
        // Checked in Linux's order: the descriptor must be readable, and a
        // shared writable mapping needs it open for writing too.
        if access == O_WRONLY
            || (request.shared && request.writable && access != O_RDWR)
            || (request.shared && request.writable && description.status & O_APPEND != 0)
        {
            return Err(Errno(EACCES));
        }
        let zero_device = matches!(
            description.object,
            Object::Device {
                device: Device::Zero,
                ..
            }
        );
        let file = match description.object {
            Object::File(_) => true,
            Object::Volume { handle } => {
                volume::stat_handle(handle)?.mode & kind::MASK == kind::FILE
            }
            // A generated file outside `/proc` (the program's own file
            // above all, which backtraces map), never procfs's, as Linux.
            Object::Generated { ino, .. } => {
                matches!(fs.tree.node(ino).kind, Kind::Generated(g) if !g.in_proc())
            }
            _ => false,
        };
        if !(file || zero_device) {
            return Err(Errno(ENODEV));
        }
        // SAFETY: a non-zero-sized layout.
        let memory = unsafe { HEAP.alloc_zeroed(layout) };
        if memory.is_null() {
            return Err(Errno(ENOMEM));
        }
        if zero_device {
            // As Linux: `/dev/zero` maps anonymous memory, shared or not.
            return Ok(memory);
        }
        // SAFETY: `memory` is a fresh allocation of at least `len` bytes.
        let copy = unsafe { core::slice::from_raw_parts_mut(memory, request.len) };
        fs.write_back(index);
        if let Err(e) = fill(fs, index, request.offset, copy) {
            // SAFETY: allocated above with this layout, not handed out.
            unsafe { HEAP.dealloc(memory, layout) };
            return Err(e);
        }
        if request.shared {
            fs.descriptions[index].as_mut().expect("checked above").refs += 1;
            fs.mappings.push(Mapping {
                description: index,
                offset: request.offset,
                addr: memory as usize,
                len: request.len,
                writable: request.writable,
            });
        }
        Ok(memory)
    })
}

/// Forgets the shared mapping at `addr`, if there is one, after writing it
/// back, releasing its file description; the caller frees the memory.
pub fn unmap(addr: usize) {
    with(|fs| {
        if let Some(at) = fs.mappings.iter().position(|m| m.addr == addr) {
            let mapping = fs.mappings.swap_remove(at);
            store(fs, &mapping);
            fs.release(mapping.description);
        }
    });
}

/// `msync`: writes back the writable shared mappings that overlap
/// `addr..addr + len`.
pub fn sync(addr: usize, len: usize) {
    with(|fs| {
        let end = addr.saturating_add(len);
        for i in 0..fs.mappings.len() {
            let m = fs.mappings[i];
            if m.addr < end && addr < m.addr + m.len {
                store(fs, &m);
            }
        }
    });
}

/// Writes every writable shared mapping back, as the program ends. Not
/// when it ends inside a file call (out of memory there, or a panic): the
/// file state is mid-change, and the end is being reported.
pub fn write_back_all() {
    let Some(mut state) = crate::preempt::lock_unless_reentered(&super::FS) else {
        return;
    };
    let Some(fs) = state.as_mut() else {
        return;
    };
    for i in 0..fs.mappings.len() {
        let m = fs.mappings[i];
        store(fs, &m);
    }
}

/// Writes a writable mapping's bytes back to its file, up to the file's
/// end. An error is dropped: as for a page Linux fails to write back, the
/// program learns of it only from `msync`'s answer, which Kiln does not
/// give (the stores stay in memory, shown to later mappings).
fn store(fs: &mut Fs, m: &Mapping) {
    if !m.writable {
        return;
    }
    let Some(description) = fs.descriptions[m.description].as_ref() else {
        return;
    };
    let size = match description.object {
        Object::File(ino) => fs.tree.contents(ino).len() as u64,
        Object::Volume { handle } => match volume::stat_handle(handle) {
            Ok(stat) => stat.size,
            Err(_) => return,
        },
        _ => return,
    };
    let len = size.saturating_sub(m.offset).min(m.len as u64) as usize;
    if len == 0 {
        return;
    }
    // SAFETY: the first `len` of the mapping's live bytes.
    let bytes = unsafe { core::slice::from_raw_parts(m.addr as *const u8, len) };
    let _ = match description.object {
        Object::File(ino) => fs.tree.write_at(ino, m.offset, bytes).map(|_| ()),
        Object::Volume { handle } => volume::write(handle, bytes, Some(m.offset)).map(|_| ()),
        _ => Ok(()),
    };
}

/// Reads the file of description `index` from `offset` into `buf`, up to
/// its end (the rest stays zero, as the tail of a mapping past the end of
/// its file reads on Linux).
fn fill(fs: &mut Fs, index: usize, offset: u64, buf: &mut [u8]) -> Result<()> {
    let description = fs.descriptions[index]
        .as_ref()
        .expect("mapped descriptions are live");
    let mut done = 0;
    while done < buf.len() {
        let at = offset + done as u64;
        let n = match &description.object {
            Object::File(ino) => copy_from(fs.tree.contents(*ino), at, &mut buf[done..]),
            Object::Generated { contents, .. } => copy_from(contents, at, &mut buf[done..]),
            Object::Volume { handle } => volume::read(*handle, &mut buf[done..], Some(at))?,
            _ => 0,
        };
        if n == 0 {
            break;
        }
        done += n;
    }
    Ok(())
}

/// Copies `contents` from `at` into `buf`, as far as both go; the count.
fn copy_from(contents: &[u8], at: u64, buf: &mut [u8]) -> usize {
    let start = usize::try_from(at)
        .unwrap_or(usize::MAX)
        .min(contents.len());
    let n = buf.len().min(contents.len() - start);
    buf[..n].copy_from_slice(&contents[start..start + n]);
    n
}

impl Fs {
    /// Whether any shared mapping shows description `index`'s file.
    fn mapped(&self, index: usize) -> bool {
        !self.mappings.is_empty() && self.mappings.iter().any(|m| self.same_file(m, index))
    }

    /// Whether mapping `m` shows the file description `index` refers to:
    /// the same node of the tree, or the same path on a volume (kept up to
    /// date by renames).
    fn same_file(&self, m: &Mapping, index: usize) -> bool {
        let (Some(mapped), Some(other)) = (
            self.descriptions[m.description].as_ref(),
            self.descriptions[index].as_ref(),
        ) else {
            return false;
        };
        match (&mapped.object, &other.object) {
            (Object::File(a), Object::File(b)) => a == b,
            (Object::Volume { .. }, Object::Volume { .. }) => {
                !mapped.path.is_empty() && mapped.path == other.path
            }
            _ => false,
        }
    }

    /// After `data` was written at `offset` of a tree file through
    /// description `index`: the same bytes in its shared mappings.
    pub(super) fn written(&mut self, index: usize, offset: u64, data: &[u8]) {
        if !self.mapped(index) {
            return;
        }
        for m in self.mappings.iter().filter(|m| self.same_file(m, index)) {
            let start = offset.max(m.offset);
            let end = (offset + data.len() as u64).min(m.offset + m.len as u64);
            if start >= end {
                continue;
            }
            let from = &data[(start - offset) as usize..(end - offset) as usize];
            // SAFETY: `[start, end)` lies inside the mapping's `len` bytes of
            // live memory (clamped above); the program may be reading them,
            // as it may read a shared page another process writes.
            unsafe {
                let to = (m.addr as *mut u8).add((start - m.offset) as usize);
                core::ptr::copy_nonoverlapping(from.as_ptr(), to, from.len());
            }
        }
    }

    /// After description `index`'s file changed in a way whose bytes are
    /// not at hand (a volume write at the host's position, a truncation):
    /// its shared mappings read the file again.
    pub(super) fn changed(&mut self, index: usize) {
        if !self.mapped(index) {
            return;
        }
        let stale: Vec<(usize, u64, usize, usize)> = self
            .mappings
            .iter()
            .filter(|m| self.same_file(m, index))
            .map(|m| (m.description, m.offset, m.addr, m.len))
            .collect();
        for (description, offset, addr, len) in stale {
            // SAFETY: the mapping's `len` bytes of live memory.
            let copy = unsafe { core::slice::from_raw_parts_mut(addr as *mut u8, len) };
            copy.fill(0);
            // A read error leaves zeros, as a mapping past the file's end
            // reads: nothing better can be shown.
            let _ = fill(self, description, offset, copy);
        }
    }

    /// Whether writes through description `index` must be made at once
    /// (not deferred): a shared mapping must see them.
    pub(super) fn must_write_through(&self, index: usize) -> bool {
        self.mapped(index)
    }

    /// Before description `index`'s file is read or changed: the stores of
    /// its writable shared mappings go to the file first.
    pub(super) fn write_back(&mut self, index: usize) {
        if !self.mappings.iter().any(|m| m.writable) || !self.mapped(index) {
            return;
        }
        for i in 0..self.mappings.len() {
            let m = self.mappings[i];
            if self.same_file(&m, index) {
                store(self, &m);
            }
        }
    }
}
