//! Unix-domain stream sockets within the program (`AF_UNIX`,
//! `SOCK_STREAM`). `bind` names a socket in the tree (a socket node, which
//! `stat` shows and `unlink` removes, as on Linux), `listen` gives the name
//! a queue, `connect` by the name queues a connection, two pipes as a
//! `socketpair`'s, and `accept` takes it: both ends are then
//! [`Object::Pair`]s. Nothing here reaches the host: a name on a host
//! volume is `EOPNOTSUPP` (`ENOTSUP`, the same number).

use alloc::collections::VecDeque;

use super::*;

/// A Unix-domain socket not connected (yet): a connected one is a `Pair`.
pub(super) enum Unix {
    /// Made by `socket`.
    Fresh,
    /// Named by `bind`: its node and the path it was given.
    Bound { ino: Ino, path: Vec<u8> },
    /// Listening on its name.
    Listening { ino: Ino, path: Vec<u8> },
}

/// The connections queued on a listening name (its node), each a pair of
/// pipes (to the server, to the client), and how many may wait.
pub(super) struct Listener {
    ino: Ino,
    queue: VecDeque<(usize, usize)>,
    backlog: usize,
}

/// Linux's `somaxconn` default: `listen`'s backlog is capped at it.
const MAX_BACKLOG: usize = 4096;

/// Threads waiting to accept on any listening name wait on this key (a
/// wake-up for another name only makes them look again).
static ACCEPT_KEY: u8 = 0;

fn accept_key() -> usize {
    &raw const ACCEPT_KEY as usize
}

/// `socket(AF_UNIX, SOCK_STREAM)` (`flags`: `O_NONBLOCK`, `O_CLOEXEC`).
pub fn unix_socket(flags: i32) -> Result<i32> {
    with(|fs| {
        fs.install(
            Object::Unix(Unix::Fresh),
            Vec::new(),
            O_RDWR | (flags & O_NONBLOCK),
            0,
            flags & O_CLOEXEC != 0,
        )
    })
}

/// Whether `fd` is a Unix-domain socket that is not connected (a
/// connected one is a [`super::is_pair`]).
pub fn is_unix(fd: i32) -> bool {
    with(|fs| {
        fs.description(fd)
            .is_ok_and(|d| matches!(d.object, Object::Unix(_)))
    })
}

/// `bind(2)` to `path`: a socket node there (`EADDRINUSE` if the name
/// exists).
pub fn unix_bind(fd: i32, path: &[u8]) -> Result<()> {
    with(|fs| {
        if !matches!(fs.description(fd)?.object, Object::Unix(Unix::Fresh)) {
            return Err(Errno(EINVAL));
        }
        let mode = 0o777 & !fs.umask;
        let ino = match fs.entry(AT_FDCWD, path)? {
            Entry::Tree { dir, name } => {
                let ino = fs
                    .tree
                    .create_socket(dir, &name, mode)
                    .map_err(|e| match e {
                        Errno(EEXIST) => Errno(EADDRINUSE),
                        e => e,
                    })?;
                fs.notify_created(dir, &name, false);
                ino
            }
            Entry::Volume { .. } => return Err(Errno(ENOTSUP)),
            Entry::Unnamed(_) => return Err(Errno(EADDRINUSE)),
        };
        fs.description(fd)?.object = Object::Unix(Unix::Bound {
            ino,
            path: path.to_vec(),
        });
        Ok(())
    })
}

/// `listen(2)`: connections to the name queue, at most `backlog` waiting.
pub fn unix_listen(fd: i32, backlog: i32) -> Result<()> {
    // As Linux: the backlog is read as unsigned (std and mio pass -1 for
    // "as many as allowed") and capped; 0 still lets one connection wait.
    let backlog = (backlog as u32 as usize).clamp(1, MAX_BACKLOG);
    with(|fs| {
        let description = fs.description(fd)?;
        let (ino, path) = match &mut description.object {
            Object::Unix(Unix::Bound { ino, path }) => (*ino, core::mem::take(path)),
            Object::Unix(Unix::Listening { ino, .. }) => {
                let ino = *ino;
                if let Some(listener) = fs.listener(ino) {
                    listener.backlog = backlog;
                }
                return Ok(());
            }
            _ => return Err(Errno(EINVAL)),
        };
        description.object = Object::Unix(Unix::Listening { ino, path });
        fs.listeners.push(Listener {
            ino,
            queue: VecDeque::new(),
            backlog,
        });
        Ok(())
    })
}

/// `connect(2)` to the listening name `path`: a connection waits in its
/// queue, and `fd` is its client end at once (`EAGAIN` if the queue is
/// full, `ECONNREFUSED` if nothing listens there).
pub fn unix_connect(fd: i32, path: &[u8]) -> Result<()> {
    let connected = with(|fs| {
        match fs.description(fd)?.object {
            Object::Unix(Unix::Fresh | Unix::Bound { .. }) => {}
            Object::Unix(Unix::Listening { .. }) => return Err(Errno(EINVAL)),
            _ => return Err(Errno(EISCONN)),
        }
        let ino = match fs.locate(AT_FDCWD, path, true)?.1 {
            Found::Node(ino) => ino,
            Found::Missing { .. } => return Err(Errno(ENOENT)),
            Found::Volume { .. } | Found::Fd { .. } => return Err(Errno(ECONNREFUSED)),
        };
        let full = match fs.listener(ino) {
            Some(listener) => listener.queue.len() >= listener.backlog,
            None => return Err(Errno(ECONNREFUSED)),
        };
        if full {
            return Err(Errno(EAGAIN));
        }
        let to_server = fs.new_pipe();
        let to_client = fs.new_pipe();
        if let Some(listener) = fs.listener(ino) {
            listener.queue.push_back((to_server, to_client));
        }
        fs.description(fd)?.object = Object::Pair {
            read: to_client,
            write: to_server,
        };
        Ok(())
    });
    if connected.is_ok() {
        wake_pipe_waiters(accept_key());
    }
    connected
}

/// `accept4(2)` (`flags`: `O_NONBLOCK`, `O_CLOEXEC`): the server end of
/// the oldest queued connection, waiting for one unless `fd` is
/// non-blocking.
pub fn unix_accept(fd: i32, flags: i32) -> Result<i32> {
    blocking(|fs| {
        let (ino, nonblocking) = match fs.description(fd) {
            Ok(description) => match description.object {
                Object::Unix(Unix::Listening { ino, .. }) => {
                    (ino, description.status & O_NONBLOCK != 0)
                }
                Object::Unix(_) => return Step::Done(Err(Errno(EINVAL))),
                _ => return Step::Done(Err(Errno(ENOTSOCK))),
            },
            Err(e) => return Step::Done(Err(e)),
        };
        let Some((to_server, to_client)) = fs
            .listener(ino)
            .and_then(|listener| listener.queue.pop_front())
        else {
            return match nonblocking {
                true => Step::Done(Err(Errno(EAGAIN))),
                false => Step::Block(accept_key()),
            };
        };
        let object = Object::Pair {
            read: to_server,
            write: to_client,
        };
        let status = O_RDWR | (flags & O_NONBLOCK);
        let installed = fs.install(object, Vec::new(), status, 0, flags & O_CLOEXEC != 0);
        if installed.is_err() {
            // No descriptor for it: the client sees the connection end.
            fs.close_pipe_end(to_server, true);
            fs.close_pipe_end(to_client, false);
        }
        Step::Done(installed)
    })
}

/// The name of `fd`'s socket (`getsockname`) or of its peer
/// (`getpeername`): its path, or empty for an unnamed socket. A connected
/// socket's ends are unnamed here (Linux names the listening end's path).
pub fn unix_name(fd: i32, peer: bool) -> Result<Vec<u8>> {
    with(|fs| match &fs.description(fd)?.object {
        Object::Unix(_) if peer => Err(Errno(ENOTCONN)),
        Object::Unix(Unix::Fresh) => Ok(Vec::new()),
        Object::Unix(Unix::Bound { path, .. } | Unix::Listening { path, .. }) => Ok(path.clone()),
        Object::Pair { .. } => Ok(Vec::new()),
        _ => Err(Errno(ENOTSOCK)),
    })
}

impl Fs {
    /// The listener of the name `ino`, if it listens.
    fn listener(&mut self, ino: Ino) -> Option<&mut Listener> {
        self.listeners.iter_mut().find(|l| l.ino == ino)
    }

    /// A listening name's last description is gone: the connections still
    /// queued there end (their clients read end of file).
    pub(super) fn stop_listening(&mut self, ino: Ino) {
        if let Some(index) = self.listeners.iter().position(|l| l.ino == ino) {
            for (to_server, to_client) in self.listeners.swap_remove(index).queue {
                self.close_pipe_end(to_server, true);
                self.close_pipe_end(to_client, false);
            }
        }
    }

    /// `poll` readiness of `fd` if it is a Unix-domain socket not
    /// connected: a listening one is readable while a connection waits.
    pub(super) fn unix_ready(&mut self, fd: i32, wanted: i16) -> Option<i16> {
        match self.description(fd).ok()?.object {
            Object::Unix(Unix::Listening { ino, .. }) => Some(
                match self.listener(ino).is_some_and(|l| !l.queue.is_empty()) {
                    true => wanted & events::POLLIN,
                    false => 0,
                },
            ),
            Object::Unix(_) => Some(0),
            _ => None,
        }
    }
}
