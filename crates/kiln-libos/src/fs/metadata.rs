//! What a file is: `stat`, `fstat`, `access`, `chmod`.

use super::*;

/// `fstat(2)`.
pub fn fstat(fd: i32) -> Result<Stat> {
    with(|fs| fs.fd_stat(fd))
}

impl Fs {
    /// The status of what descriptor `fd` refers to.
    pub(super) fn fd_stat(&mut self, fd: i32) -> Result<Stat> {
        let (description, tree, _) = self.split(fd)?;
        Ok(match description.object {
            Object::Console(_) => Stat {
                mode: 0o020000 | 0o620,
                nlink: 1,
                blksize: 1024,
                ..Stat::default()
            },
            #[cfg(feature = "net")]
            Object::Socket(id) => socket_stat(id as u64 + 1, SOCKET_DEVICE),
            // As Linux's pipefs: both ends of a pipe are one inode, and
            // each pipe has its own (`same_file` and the like compare them).
            Object::PipeRead(n) | Object::PipeWrite(n) => Stat {
                dev: PIPE_DEVICE,
                ino: n as u64 + 1,
                mode: 0o010000 | 0o600,
                nlink: 1,
                blksize: 4096,
                ..Stat::default()
            },
            Object::Pair { read, .. } => socket_stat(read as u64 + 1, PIPE_DEVICE),
            // As Linux's sockfs: a socket's own inode, not its name's.
            Object::Unix(_) => socket_stat(fd as u64 + 1, ANON_DEVICE),
            // As Linux's anonymous inodes: no file type, mode 0600.
            Object::Epoll(_) | Object::EventFd { .. } | Object::Inotify(_) => Stat {
                dev: ANON_DEVICE,
                ino: 1,
                mode: 0o600,
                nlink: 1,
                blksize: 4096,
                ..Stat::default()
            },
            Object::Volume { handle } => volume::stat_handle(handle)?,
            Object::File(ino)
            | Object::Dir { ino, .. }
            | Object::Device { ino, .. }
            | Object::Generated { ino, .. } => tree.stat(ino),
        })
    }
}

/// What `fstat` says of a socket: type and mode as Linux's sockfs gives.
fn socket_stat(ino: u64, dev: u64) -> Stat {
    Stat {
        mode: 0o140000 | 0o777,
        nlink: 1,
        ino,
        dev,
        blksize: 4096,
        ..Stat::default()
    }
}

/// `fstatat(2)`: `stat`, or `lstat` without `follow`.
pub fn stat(dirfd: i32, path: &[u8], follow: bool) -> Result<Stat> {
    with(|fs| match fs.locate(dirfd, path, follow)?.1 {
        Found::Node(ino) => Ok(fs.tree.stat(ino)),
        Found::Volume { volume, rest } => volume_stat(volume, &rest, path, follow),
        Found::Fd { fd, follow: true } => fs.fd_target_stat(fd),
        Found::Fd { fd, follow: false } => fs.fd_link_stat(fd),
        Found::Missing { .. } => Err(Errno(ENOENT)),
    })
}

/// `stat` beneath a volume, with the rules of a trailing `/` (the host
/// sees the path without it): a final link is followed, and what it
/// leads to must be a directory.
pub(super) fn volume_stat(volume: u32, rest: &[u8], path: &[u8], follow: bool) -> Result<Stat> {
    let wants_dir = path::demands_directory(path);
    let stat = volume::stat_path(volume, rest, follow || wants_dir)?;
    if wants_dir && stat.mode & kind::MASK != kind::DIRECTORY {
        return Err(Errno(ENOTDIR));
    }
    Ok(stat)
}

/// `faccessat(2)` with `mode` (`R_OK` 4, `W_OK` 2, `X_OK` 1, or 0 for
/// existence), for the superuser the program is: Linux lets it do
/// anything but write to a read-only filesystem (`EROFS`: baked files, `:ro`
/// volumes) or execute a file with no execute bit (`EACCES`).
pub fn access(dirfd: i32, path: &[u8], mode: i32, follow: bool) -> Result<()> {
    const W_OK: i32 = 2;
    const X_OK: i32 = 1;
    with(|fs| {
        let (stat, read_only) = match fs.locate(dirfd, path, follow)?.1 {
            // Device nodes are read-only in that they cannot be removed
            // or renamed; they can be written.
            Found::Node(ino) => {
                let node = fs.tree.node(ino);
                let read_only = node.baked && !matches!(node.kind, Kind::Device(_));
                (fs.tree.stat(ino), read_only)
            }
            Found::Fd { fd, follow } => {
                let stat = match follow {
                    true => fs.fd_target_stat(fd)?,
                    false => fs.fd_link_stat(fd)?,
                };
                (stat, false)
            }
            Found::Volume { volume, rest } => {
                let read_only = platform::volumes()
                    .nth(volume as usize)
                    .is_some_and(|(_, read_only)| read_only);
                (volume_stat(volume, &rest, path, follow)?, read_only)
            }
            Found::Missing { .. } => return Err(Errno(ENOENT)),
        };
        if mode & W_OK != 0 && read_only {
            return Err(Errno(kiln_abi::errno::EROFS));
        }
        if mode & X_OK != 0 && stat.mode & kind::MASK == kind::FILE && stat.mode & 0o111 == 0 {
            return Err(Errno(kiln_abi::errno::EACCES));
        }
        Ok(())
    })
}

/// `fchmodat(2)`: sets the permission bits of `path` relative to `dirfd`
/// (following links), or with an empty `path` (`fchmod(2)`) of what
/// descriptor `dirfd` refers to. Baked files are read-only (`EROFS`); a
/// volume's file is changed on the host (`EROFS` on a read-only volume);
/// pipes and the console are `EPERM`.
pub fn chmod(dirfd: i32, path: &[u8], mode: u32) -> Result<()> {
    with(|fs| {
        let found = if path.is_empty() {
            match fs.description(dirfd)?.object {
                Object::File(ino) | Object::Dir { ino, .. } => Found::Node(ino),
                Object::Volume { handle } => return volume::set_mode(handle, mode),
                _ => return Err(Errno(kiln_abi::errno::EPERM)),
            }
        } else {
            fs.locate(dirfd, path, true)?.1
        };
        match found {
            Found::Node(ino) => {
                fs.tree.chmod(ino, mode)?;
                fs.notify_node(ino, notify::mask::ATTRIB);
                Ok(())
            }
            // The host's chmod, through a descriptor opened for it (it
            // follows a final symbolic link, as chmod does).
            Found::Volume { volume, rest } => {
                let handle = volume::open(volume, &rest, O_RDONLY | O_CLOEXEC, 0)?;
                let result = volume::set_mode(handle, mode);
                volume::close(handle);
                result
            }
            Found::Fd { .. } => Err(Errno(kiln_abi::errno::EPERM)),
            Found::Missing { .. } => Err(Errno(ENOENT)),
        }
    })
}
