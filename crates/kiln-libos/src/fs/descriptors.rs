//! Descriptors themselves: closing, duplicating, their flags, and the
//! kinds made without a path (pipes, socket pairs, eventfds, sockets).

use super::*;

/// `isatty(3)`: whether `fd` is the guest's stdin and that is a terminal
/// on the host (the console's output streams are not terminals to it).
pub fn is_terminal(fd: i32) -> Result<bool> {
    with(|fs| {
        let (description, _, _) = fs.split(fd)?;
        Ok(matches!(description.object, Object::Console(0)) && platform::stdin_is_terminal())
    })
}

/// `close(2)`. As Linux, closing any descriptor of a file lets go of the
/// program's POSIX record locks on it.
pub fn close(fd: i32) -> Result<()> {
    with(|fs| {
        let entry = fs.fd(fd)?;
        if let Object::File(ino) | Object::Dir { ino, .. } = fs.description(fd)?.object
            && fs.locks.release(lock::Owner::Process, Some(ino))
        {
            lock::wake_waiters();
        }
        fs.fds[fd as usize] = None;
        fs.release(entry.description);
        Ok(())
    })
}

/// `dup(2)` / `fcntl(F_DUPFD)`: the lowest free descriptor at or above
/// `min` (`EINVAL` if `min` is beyond the limit, as Linux).
pub fn dup(fd: i32, min: i32, cloexec: bool) -> Result<i32> {
    with(|fs| {
        let entry = fs.fd(fd)?;
        let min = usize::try_from(min)
            .ok()
            .filter(|&min| min < descriptor_limit())
            .ok_or(Errno(EINVAL))?;
        let new = fs.free_fd(min)?;
        fs.descriptions[entry.description]
            .as_mut()
            .expect("live")
            .refs += 1;
        fs.set_fd(new, entry.description, cloexec);
        Ok(new as i32)
    })
}

/// `dup3(2)` (and `dup2(2)`): makes `new` refer to `old`'s description.
pub fn dup_to(old: i32, new: i32, cloexec: bool) -> Result<i32> {
    with(|fs| {
        let entry = fs.fd(old)?;
        let slot = usize::try_from(new)
            .ok()
            .filter(|&n| n < descriptor_limit())
            .ok_or(Errno(EBADF))?;
        if old == new {
            return Ok(new);
        }
        if let Ok(previous) = fs.fd(new) {
            fs.fds[slot] = None;
            fs.release(previous.description);
        }
        fs.descriptions[entry.description]
            .as_mut()
            .expect("live")
            .refs += 1;
        fs.set_fd(slot, entry.description, cloexec);
        Ok(new)
    })
}

/// Whether `fd` is closed on exec (`FD_CLOEXEC`).
pub fn cloexec(fd: i32) -> Result<bool> {
    with(|fs| Ok(fs.fd(fd)?.cloexec))
}

/// Sets `FD_CLOEXEC`.
pub fn set_cloexec(fd: i32, cloexec: bool) -> Result<()> {
    with(|fs| {
        let entry = fs.fd(fd)?;
        fs.set_fd(fd as usize, entry.description, cloexec);
        Ok(())
    })
}

/// The status flags (`F_GETFL`).
pub fn status(fd: i32) -> Result<i32> {
    with(|fs| Ok(fs.description(fd)?.status))
}

/// Sets the changeable status flags, `O_APPEND` and `O_NONBLOCK` (`F_SETFL`).
pub fn set_status(fd: i32, status: i32) -> Result<()> {
    with(|fs| {
        let description = fs.description(fd)?;
        let changeable = O_APPEND | O_NONBLOCK;
        description.status = (description.status & !changeable) | (status & changeable);
        Ok(())
    })
}

/// `pipe2(2)`: the read and the write end.
pub fn pipe(flags: i32) -> Result<[i32; 2]> {
    with(|fs| {
        let read_fd = fs.free_fd(0)?;
        if fs.free_fd(read_fd + 1).is_err() {
            return Err(Errno(EMFILE));
        }
        let index = fs.new_pipe();
        let cloexec = flags & O_CLOEXEC != 0;
        let nonblock = flags & O_NONBLOCK;
        let read = fs.install(
            Object::PipeRead(index),
            Vec::new(),
            O_RDONLY | nonblock,
            0,
            cloexec,
        )?;
        let write = fs.install(
            Object::PipeWrite(index),
            Vec::new(),
            O_WRONLY | nonblock,
            0,
            cloexec,
        )?;
        Ok([read, write])
    })
}

/// The socket `fd` refers to, and whether it is non-blocking
/// (`ENOTSOCK` for another kind of descriptor).
#[cfg(feature = "net")]
pub fn socket(fd: i32) -> Result<(crate::fd::SocketId, bool)> {
    with(|fs| {
        let description = fs.description(fd)?;
        match description.object {
            Object::Socket(id) => Ok((id, description.status & O_NONBLOCK != 0)),
            _ => Err(Errno(kiln_abi::errno::ENOTSOCK)),
        }
    })
}

/// A descriptor for socket `id` (`flags`: `O_NONBLOCK`, `O_CLOEXEC`). On
/// failure (`EMFILE`) the socket is closed.
#[cfg(feature = "net")]
pub fn install_socket(id: crate::fd::SocketId, flags: i32) -> Result<i32> {
    let installed = with(|fs| {
        fs.install(
            Object::Socket(id),
            Vec::new(),
            O_RDWR | (flags & O_NONBLOCK),
            0,
            flags & O_CLOEXEC != 0,
        )
    });
    if installed.is_err()
        && let Some(net) = crate::fd::socket_hooks()
    {
        (net.close)(id);
    }
    installed
}

/// `eventfd2(2)`: a counter starting at `initial` (`flags`: `O_NONBLOCK`,
/// `O_CLOEXEC`, and 1 for `EFD_SEMAPHORE`).
pub fn eventfd(initial: u32, flags: i32) -> Result<i32> {
    const EFD_SEMAPHORE: i32 = 1;
    if flags & !(EFD_SEMAPHORE | O_NONBLOCK | O_CLOEXEC) != 0 {
        return Err(Errno(EINVAL));
    }
    with(|fs| {
        fs.install(
            Object::EventFd {
                count: u64::from(initial),
                semaphore: flags & EFD_SEMAPHORE != 0,
                changes: 0,
            },
            Vec::new(),
            O_RDWR | (flags & O_NONBLOCK),
            0,
            flags & O_CLOEXEC != 0,
        )
    })
}

/// `socketpair(AF_UNIX, SOCK_STREAM)` (`flags`: `O_NONBLOCK`, `O_CLOEXEC`):
/// two connected ends, a pipe each way, within the program.
pub fn socketpair(flags: i32) -> Result<[i32; 2]> {
    with(|fs| {
        let first = fs.free_fd(0)?;
        if fs.free_fd(first + 1).is_err() {
            return Err(Errno(EMFILE));
        }
        let there = fs.new_pipe();
        let back = fs.new_pipe();
        let cloexec = flags & O_CLOEXEC != 0;
        let status = O_RDWR | (flags & O_NONBLOCK);
        let one = fs.install(
            Object::Pair {
                read: back,
                write: there,
            },
            Vec::new(),
            status,
            0,
            cloexec,
        )?;
        let other = fs.install(
            Object::Pair {
                read: there,
                write: back,
            },
            Vec::new(),
            status,
            0,
            cloexec,
        )?;
        Ok([one, other])
    })
}

/// Whether `fd` is an end of a [`socketpair`].
pub fn is_pair(fd: i32) -> bool {
    with(|fs| {
        fs.description(fd)
            .is_ok_and(|d| matches!(d.object, Object::Pair { .. }))
    })
}

impl Fs {
    /// A new, empty pipe in the first free slot: its number.
    pub(super) fn new_pipe(&mut self) -> usize {
        let index = match self.pipes.iter().position(Option::is_none) {
            Some(index) => index,
            None => {
                self.pipes.push(None);
                self.pipes.len() - 1
            }
        };
        self.pipes[index] = Some(Box::new(Pipe::new()));
        index
    }
}
