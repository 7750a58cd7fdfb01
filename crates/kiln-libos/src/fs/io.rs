//! Reading, writing and seeking descriptors, and the calls that change a
//! file's contents or size (`fsync`, `ftruncate`, `fallocate`).

use super::*;

/// Where a write through `description` to tree file `ino` goes: at `at`
/// (`pwrite`) or the description's offset, except that with `O_APPEND`
/// even `pwrite` appends, as on Linux.
fn file_write_offset(description: &Description, tree: &Tree, ino: Ino, at: Option<u64>) -> u64 {
    if description.status & O_APPEND != 0 {
        tree.contents(ino).len() as u64
    } else {
        at.unwrap_or(description.offset)
    }
}
impl Fs {
    /// `read(2)`, reporting an access to a node of the tree to inotify.
    pub(super) fn read(&mut self, fd: i32, buf: &mut [u8], at: Option<u64>) -> Step<usize> {
        if !self.mappings.is_empty()
            && let Ok(found) = self.fd(fd)
        {
            self.write_back(found.description);
        }
        let step = self.read_object(fd, buf, at);
        if let Step::Done(Ok(1..)) = step {
            self.notify_fd(fd, notify::mask::ACCESS);
        }
        step
    }

    /// `write(2)`, reporting a change to a node of the tree to inotify.
    pub(super) fn write(&mut self, fd: i32, data: &[u8], at: Option<u64>) -> Step<usize> {
        let step = self.write_mapped(fd, data, at);
        if let Step::Done(Ok(1..)) = step {
            self.notify_fd(fd, notify::mask::MODIFY);
        }
        step
    }

    pub(super) fn read_object(&mut self, fd: i32, buf: &mut [u8], at: Option<u64>) -> Step<usize> {
        let notify_read = self.notify_hooks.map(|hooks| hooks.read);
        let (description, tree, pipes) = match self.split(fd) {
            Ok(parts) => parts,
            Err(e) => return Step::Done(Err(e)),
        };
        if description.status & O_ACCMODE == O_WRONLY {
            return Step::Done(Err(Errno(EBADF)));
        }
        let result = match description.object {
            Object::Console(_) if at.is_some() => Err(Errno(ESPIPE)),
            Object::Console(0) => return stdin::read(buf, description.status & O_NONBLOCK != 0),
            Object::Console(_) | Object::PipeWrite(_) => Err(Errno(EBADF)),
            Object::Epoll(_) => Err(Errno(EINVAL)),
            // As Linux: a stream socket not connected.
            Object::Unix(_) => Err(Errno(ENOTCONN)),
            Object::EventFd { .. } | Object::Inotify(_) if at.is_some() => Err(Errno(ESPIPE)),
            Object::Inotify(ref instance) if !instance.is_readable() => {
                if description.status & O_NONBLOCK != 0 {
                    Err(Errno(EAGAIN))
                } else {
                    return Step::Block(&raw const NOTIFY_KEY as usize);
                }
            }
            Object::Inotify(ref mut instance) => {
                let read = notify_read.expect("an instance installed inotify's hooks");
                read(instance, buf)
            }
            Object::EventFd { .. } if buf.len() < 8 => Err(Errno(EINVAL)),
            Object::EventFd { count: 0, .. } if description.status & O_NONBLOCK != 0 => {
                Err(Errno(EAGAIN))
            }
            Object::EventFd { count: 0, .. } => {
                return Step::Block(&raw const EVENTFD_KEY as usize);
            }
            Object::EventFd {
                ref mut count,
                semaphore,
                ref mut changes,
            } => {
                let value = if semaphore { 1 } else { *count };
                *count -= value;
                *changes += 1;
                buf[..8].copy_from_slice(&value.to_ne_bytes());
                wake_pipe_waiters(&raw const EVENTFD_KEY as usize);
                Ok(8)
            }
            // Sockets are read through `net`, without the file lock.
            #[cfg(feature = "net")]
            Object::Socket(_) => Err(Errno(EBADF)),
            Object::Dir { .. } => Err(Errno(EISDIR)),
            Object::Volume { handle } => {
                in_range(at, buf.len()).and_then(|()| volume::read(handle, buf, at))
            }
            Object::Device { device, .. } => Ok(device.read(buf)),
            Object::File(_) | Object::Generated { .. } => {
                let offset = at.unwrap_or(description.offset);
                if let Err(e) = in_range(Some(offset), buf.len()) {
                    return Step::Done(Err(e));
                }
                let contents = match &description.object {
                    Object::Generated { contents, .. } => contents,
                    Object::File(ino) => tree.contents(*ino),
                    _ => unreachable!("matched above"),
                };
                let start = usize::try_from(offset)
                    .unwrap_or(usize::MAX)
                    .min(contents.len());
                let n = buf.len().min(contents.len() - start);
                buf[..n].copy_from_slice(&contents[start..start + n]);
                if at.is_none() {
                    description.offset = offset + n as u64;
                }
                Ok(n)
            }
            Object::PipeRead(n) | Object::Pair { read: n, .. } => {
                if at.is_some() {
                    return Step::Done(Err(Errno(ESPIPE)));
                }
                let nonblocking = description.status & O_NONBLOCK != 0;
                let pipe = pipes[n].as_mut().expect("open ends keep their pipe");
                if pipe.buffered() > 0 || buf.is_empty() {
                    let n = pipe.take(buf);
                    pipe.changes += 1;
                    wake_pipe_waiters(pipe.key());
                    Ok(n)
                } else if pipe.writers == 0 {
                    Ok(0)
                } else if nonblocking {
                    Err(Errno(EAGAIN))
                } else {
                    return Step::Block(pipe.key());
                }
            }
        };
        Step::Done(result)
    }

    /// [`Fs::write`], keeping the file's shared mappings current.
    pub(super) fn write_mapped(&mut self, fd: i32, data: &[u8], at: Option<u64>) -> Step<usize> {
        let index = match self.fd(fd) {
            Ok(fd) => fd.description,
            Err(e) => return Step::Done(Err(e)),
        };
        if !self.must_write_through(index) {
            return self.write_object(fd, data, at, false);
        }
        // Stores in writable mappings first, so those the program makes
        // after this write do not undo it.
        self.write_back(index);
        // Where a tree file's bytes go, worked out as `write_object` does.
        let tree_offset = self.descriptions[index]
            .as_ref()
            .and_then(|d| match d.object {
                Object::File(ino) => Some(file_write_offset(d, &self.tree, ino, at)),
                _ => None,
            });
        let step = self.write_object(fd, data, at, true);
        if let Step::Done(Ok(n)) = step {
            match tree_offset {
                Some(offset) => self.written(index, offset, &data[..n]),
                None => self.changed(index),
            }
        }
        step
    }

    /// [`Fs::write`] on the object; `mapped` when a shared mapping shows
    /// its file, so a volume's write is made at once, not deferred.
    pub(super) fn write_object(
        &mut self,
        fd: i32,
        data: &[u8],
        at: Option<u64>,
        mapped: bool,
    ) -> Step<usize> {
        let (description, tree, pipes) = match self.split(fd) {
            Ok(parts) => parts,
            Err(e) => return Step::Done(Err(e)),
        };
        if description.status & O_ACCMODE == O_RDONLY {
            return Step::Done(Err(Errno(EBADF)));
        }
        let result = match description.object {
            Object::Console(0) | Object::PipeRead(_) => Err(Errno(EBADF)),
            Object::Epoll(_) | Object::Inotify(_) => Err(Errno(EINVAL)),
            Object::Unix(_) => Err(Errno(ENOTCONN)),
            Object::EventFd { .. } if at.is_some() => Err(Errno(ESPIPE)),
            Object::EventFd {
                ref mut count,
                ref mut changes,
                ..
            } => {
                let value = match data.get(..8) {
                    Some(bytes) => u64::from_ne_bytes(bytes.try_into().expect("8 bytes")),
                    None => return Step::Done(Err(Errno(EINVAL))),
                };
                if value == u64::MAX {
                    Err(Errno(EINVAL))
                } else if value <= event::EVENTFD_MAX - *count {
                    *count += value;
                    *changes += 1;
                    wake_pipe_waiters(&raw const EVENTFD_KEY as usize);
                    Ok(8)
                } else if description.status & O_NONBLOCK != 0 {
                    Err(Errno(EAGAIN))
                } else {
                    return Step::Block(&raw const EVENTFD_KEY as usize);
                }
            }
            // Sockets are written through `net`, without the file lock.
            #[cfg(feature = "net")]
            Object::Socket(_) => Err(Errno(EBADF)),
            Object::Console(_) if at.is_some() => Err(Errno(ESPIPE)),
            Object::Console(stream) => {
                crate::console::write(stream, data);
                Ok(data.len())
            }
            Object::Dir { .. } => Err(Errno(EISDIR)),
            Object::Device { device, .. } => device.write(data.len()),
            // Opened read-only: writers were refused at `open`.
            Object::Generated { .. } => Err(Errno(EBADF)),
            Object::Volume { handle } => match volume::take_error(handle) {
                Some(error) => Err(error),
                None if in_range(at, data.len()).is_err() => Err(Errno(EINVAL)),
                None if !mapped && volume::write_behind(handle, data, at) => Ok(data.len()),
                None => volume::write(handle, data, at),
            },
            Object::File(ino) => {
                let offset = file_write_offset(description, tree, ino, at);
                if let Err(e) = in_range(Some(offset), data.len()) {
                    return Step::Done(Err(e));
                }
                let written = tree.write_at(ino, offset, data);
                if let (Ok(n), None) = (written, at) {
                    description.offset = offset + n as u64;
                }
                written
            }
            Object::PipeWrite(n) | Object::Pair { write: n, .. } => {
                if at.is_some() {
                    return Step::Done(Err(Errno(ESPIPE)));
                }
                let nonblocking = description.status & O_NONBLOCK != 0;
                let pipe = pipes[n].as_mut().expect("open ends keep their pipe");
                if pipe.readers == 0 {
                    Err(Errno(EPIPE))
                } else if pipe.takes_now(data.len()) {
                    let n = pipe.put(data);
                    pipe.changes += 1;
                    wake_pipe_waiters(pipe.key());
                    Ok(n)
                } else if nonblocking {
                    Err(Errno(EAGAIN))
                } else {
                    return Step::Block(pipe.key());
                }
            }
        };
        Step::Done(result)
    }

    /// Whether a write to `fd` goes on until all is written: a blocking
    /// pipe's does; other writes may be short.
    pub(super) fn writes_all(&mut self, fd: i32) -> bool {
        self.description(fd).is_ok_and(|d| {
            matches!(d.object, Object::PipeWrite(_) | Object::Pair { .. })
                && d.status & O_NONBLOCK == 0
        })
    }

    pub(super) fn seek(&mut self, fd: i32, offset: i64, whence: i32) -> Result<u64> {
        let (description, tree, _) = self.split(fd)?;
        match &mut description.object {
            Object::Console(_) | Object::PipeRead(_) | Object::PipeWrite(_) => Err(Errno(ESPIPE)),
            #[cfg(feature = "net")]
            Object::Socket(_) => Err(Errno(ESPIPE)),
            Object::Epoll(_)
            | Object::EventFd { .. }
            | Object::Inotify(_)
            | Object::Pair { .. }
            | Object::Unix(_) => Err(Errno(ESPIPE)),
            Object::Volume { handle } => volume::seek(*handle, offset, whence),
            // As Linux's memory devices: seeking goes nowhere.
            Object::Device { .. } => Ok(0),
            // A listing can be rewound, and asked where it is; its
            // positions are not addresses to seek to.
            Object::Dir { cursor, .. } => match (whence, offset) {
                (SEEK_SET, 0) => {
                    *cursor = Cursor::Dot;
                    description.offset = 0;
                    Ok(0)
                }
                (SEEK_CUR, 0) => Ok(description.offset),
                _ => Err(Errno(EINVAL)),
            },
            Object::File(_) | Object::Generated { .. } => {
                let len = match &description.object {
                    Object::Generated { contents, .. } => contents.len(),
                    Object::File(ino) => tree.contents(*ino).len(),
                    _ => unreachable!("matched above"),
                };
                let base = match whence {
                    SEEK_SET => 0,
                    SEEK_CUR => description.offset as i64,
                    SEEK_END => len as i64,
                    _ => return Err(Errno(EINVAL)),
                };
                let position = base.checked_add(offset).filter(|p| *p >= 0);
                let position = position.ok_or(Errno(EINVAL))? as u64;
                description.offset = position;
                Ok(position)
            }
        }
    }
}

/// Linux's check of a transfer at `offset` (when known): it may not end
/// past `i64::MAX` (`EINVAL`).
pub(super) fn in_range(offset: Option<u64>, len: usize) -> Result<()> {
    let end = offset.map_or(Some(0), |offset| offset.checked_add(len as u64));
    match end {
        Some(end) if end <= i64::MAX as u64 => Ok(()),
        _ => Err(Errno(EINVAL)),
    }
}

/// `read(2)`, or `pread(2)` with `at`. Blocks on an empty pipe.
pub fn read(fd: i32, buf: &mut [u8], at: Option<u64>) -> Result<usize> {
    #[cfg(feature = "net")]
    if let Ok((id, nonblocking)) = socket(fd) {
        return match at {
            Some(_) => Err(Errno(ESPIPE)),
            None => (net_hooks()?.recv)(id, buf, false, nonblocking).map(|(n, _)| n),
        };
    }
    blocking(|fs| fs.read(fd, buf, at))
}

/// `read(2)` that never waits: what is there now, 0 if nothing yet. For
/// the buffers after the first of a `readv`, which Linux fills from one
/// read, without waiting for more.
pub fn read_ready(fd: i32, buf: &mut [u8]) -> Result<usize> {
    #[cfg(feature = "net")]
    if let Ok((id, _)) = socket(fd) {
        return match (net_hooks()?.recv)(id, buf, false, true) {
            Err(Errno(EAGAIN)) => Ok(0),
            result => result.map(|(n, _)| n),
        };
    }
    with(|fs| match fs.read(fd, buf, None) {
        Step::Done(result) => result,
        Step::Block(_) => Ok(0),
    })
}

/// `write(2)`, or `pwrite(2)` with `at`. A blocking write to a pipe waits
/// until all of `data` is in it; as on Linux, one cut short by an error
/// (`EPIPE`: the readers went away) returns the count written so far.
pub fn write(fd: i32, data: &[u8], at: Option<u64>) -> Result<usize> {
    if let Some(stream) = console_while_reentered(fd) {
        platform::console_write(stream, data);
        return Ok(data.len());
    }
    #[cfg(feature = "net")]
    if let Ok((id, nonblocking)) = socket(fd) {
        return match at {
            Some(_) => Err(Errno(ESPIPE)),
            None => (net_hooks()?.send)(id, data, None, nonblocking),
        };
    }
    let mut done = 0;
    loop {
        match blocking(|fs| fs.write(fd, &data[done..], at)) {
            Ok(n) => done += n,
            Err(_) if done > 0 => return Ok(done),
            Err(e) => return Err(e),
        }
        if done == data.len() || !with(|fs| fs.writes_all(fd)) {
            return Ok(done);
        }
    }
}

/// `lseek(2)`.
pub fn seek(fd: i32, offset: i64, whence: i32) -> Result<u64> {
    with(|fs| fs.seek(fd, offset, whence))
}

/// `fsync(2)`, or `fdatasync(2)` with `data_only`: returns once the data is
/// on the host's disk (files in memory have nowhere further to go), or with
/// the error of an earlier write that did not get there.
pub fn fsync(fd: i32, data_only: bool) -> Result<()> {
    with(|fs| match fs.description(fd)?.object {
        Object::Volume { handle } => {
            volume::fsync(handle, data_only)?;
            volume::take_error(handle).map_or(Ok(()), Err)
        }
        Object::File(_) | Object::Dir { .. } => Ok(()),
        _ => Err(Errno(EINVAL)),
    })
}

/// `ftruncate(2)`.
pub fn truncate(fd: i32, len: u64) -> Result<()> {
    with(|fs| {
        let index = fs.fd(fd)?.description;
        fs.write_back(index);
        let (description, tree, _) = fs.split(fd)?;
        let writable = description.status & O_ACCMODE != O_RDONLY;
        match description.object {
            Object::Volume { handle } => volume::truncate(handle, len),
            Object::File(ino) if writable => {
                tree.truncate(ino, len)?;
                fs.notify_node(ino, notify::mask::MODIFY);
                Ok(())
            }
            _ => Err(Errno(EINVAL)),
        }?;
        fs.changed(index);
        Ok(())
    })
}

/// `fallocate(2)`: in memory, as tmpfs, mode 0 (reserve, growing the file),
/// `FALLOC_FL_KEEP_SIZE` (nothing to reserve) and
/// `FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE` (zeroes); a volume's file
/// is the host's. Checked in Linux's order.
pub fn allocate(fd: i32, mode: i32, offset: i64, len: i64) -> Result<()> {
    use kiln_abi::errno::{EFBIG, ENODEV, ENOTSUP};
    const KEEP_SIZE: i32 = 0x1;
    const PUNCH_HOLE: i32 = 0x2;
    with(|fs| {
        let (description, tree, _) = fs.split(fd)?;
        if offset < 0 || len <= 0 {
            return Err(Errno(EINVAL));
        }
        if let Object::Volume { handle } = description.object {
            return volume::allocate(handle, mode as u32, offset, len);
        }
        if mode & !(KEEP_SIZE | PUNCH_HOLE) != 0 || mode == PUNCH_HOLE {
            return Err(Errno(ENOTSUP));
        }
        if description.status & O_ACCMODE == O_RDONLY {
            return Err(Errno(EBADF));
        }
        let ino = match description.object {
            Object::File(ino) => ino,
            Object::PipeWrite(_) | Object::Pair { .. } => return Err(Errno(ESPIPE)),
            Object::Dir { .. } => return Err(Errno(EISDIR)),
            _ => return Err(Errno(ENODEV)),
        };
        let end = offset.checked_add(len).ok_or(Errno(EFBIG))? as u64;
        let size = tree.contents(ino).len() as u64;
        match mode {
            0 if end > size => tree.truncate(ino, end)?,
            _ if mode & PUNCH_HOLE != 0 && (offset as u64) < size => {
                tree.zero(ino, offset as u64, end.min(size))?;
            }
            _ => {}
        }
        fs.notify_node(ino, notify::mask::MODIFY);
        Ok(())
    })
}
