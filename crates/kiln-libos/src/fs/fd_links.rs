//! `/proc/<pid>/fd`: the descriptor table seen as a directory of links,
//! one per open descriptor, each naming what it refers to as Linux does
//! (a path, `pipe:[n]`, `socket:[n]`, `anon_inode:[eventfd]`...).

use alloc::format;
use alloc::vec::Vec;

use kiln_abi::errno::{EBADF, ENOENT};

use super::flags::{AT_FDCWD, O_ACCMODE, O_CLOEXEC, O_RDONLY, O_WRONLY};
use super::tree::Kind;
use super::{Errno, Fs, Object, Result, Stat};

/// The inode numbers the links get: apart from the tree's.
const LINK_INO_BASE: u64 = 1 << 32;

impl Fs {
    /// Description index of `fd`, which a link names: `ENOENT` when it
    /// is not open, as a missing entry of the directory.
    fn linked(&self, fd: i32) -> Result<usize> {
        match self.fd(fd) {
            Err(Errno(EBADF)) => Err(Errno(ENOENT)),
            other => other.map(|entry| entry.description),
        }
    }

    /// What link `fd` names.
    pub(super) fn fd_link(&self, fd: i32) -> Result<Vec<u8>> {
        let index = self.linked(fd)?;
        let description = self.descriptions[index]
            .as_ref()
            .expect("descriptors refer to live descriptions");
        Ok(match &description.object {
            Object::File(ino) | Object::Device { ino, .. } | Object::Generated { ino, .. } => {
                let mut path = description.path.clone();
                if self.tree.is_removed(*ino) {
                    path.extend_from_slice(b" (deleted)");
                }
                path
            }
            Object::Dir { ino, .. } => self
                .tree
                .path_of(*ino)
                .unwrap_or_else(|_| description.path.clone()),
            Object::Volume { .. } => description.path.clone(),
            Object::Console(_) => b"/dev/console".to_vec(),
            Object::PipeRead(n) | Object::PipeWrite(n) => format!("pipe:[{}]", n + 1).into_bytes(),
            Object::Pair { read, .. } => format!("socket:[{}]", read + 1).into_bytes(),
            Object::Unix(_) => format!("socket:[{}]", index + 1).into_bytes(),
            #[cfg(feature = "net")]
            Object::Socket(id) => format!("socket:[{}]", id + 1).into_bytes(),
            Object::Epoll(_) => b"anon_inode:[eventpoll]".to_vec(),
            Object::EventFd { .. } => b"anon_inode:[eventfd]".to_vec(),
            Object::Inotify(_) => b"anon_inode:inotify".to_vec(),
        })
    }

    /// `lstat` of link `fd`: permissions as Linux gives them, from the
    /// descriptor's access mode.
    pub(super) fn fd_link_stat(&self, fd: i32) -> Result<Stat> {
        let index = self.linked(fd)?;
        let description = self.descriptions[index]
            .as_ref()
            .expect("descriptors refer to live descriptions");
        let permissions = match description.status & O_ACCMODE {
            O_RDONLY => 0o500,
            O_WRONLY => 0o300,
            _ => 0o700,
        };
        Ok(Stat {
            ino: link_ino(fd),
            mode: 0o120000 | permissions,
            nlink: 1,
            size: 64,
            blksize: 1024,
            ..Stat::default()
        })
    }

    /// `stat` of what link `fd` leads to.
    pub(super) fn fd_target_stat(&mut self, fd: i32) -> Result<Stat> {
        self.linked(fd)?;
        self.fd_stat(fd)
    }

    /// `open` of link `fd`: what has a path is opened again by it, with
    /// `flags` (a new description, as on Linux); pipes, sockets and the
    /// console get another descriptor of the same description.
    pub(super) fn reopen(&mut self, fd: i32, flags: i32) -> Result<i32> {
        let index = self.linked(fd)?;
        let description = self.descriptions[index]
            .as_ref()
            .expect("descriptors refer to live descriptions");
        let by_path = matches!(
            description.object,
            Object::File(_)
                | Object::Device { .. }
                | Object::Generated { .. }
                | Object::Dir { .. }
                | Object::Volume { .. }
        );
        if by_path {
            let path = self.fd_link(fd)?;
            if path.is_empty() || path.ends_with(b" (deleted)") {
                return Err(Errno(ENOENT));
            }
            return self.open(AT_FDCWD, &path, flags, 0);
        }
        let new = self.free_fd(0)?;
        self.descriptions[index].as_mut().expect("live").refs += 1;
        self.set_fd(new, index, flags & O_CLOEXEC != 0);
        Ok(new as i32)
    }

    /// The open descriptors, in order, when `fd` is a listing of a
    /// descriptor directory; `None` for any other descriptor.
    pub(super) fn fd_dir_listing(&self, fd: i32) -> Option<Vec<i32>> {
        let index = self.fd(fd).ok()?.description;
        let description = self.descriptions[index].as_ref()?;
        let Object::Dir { ino, .. } = description.object else {
            return None;
        };
        if !matches!(self.tree.node(ino).kind, Kind::FdDir) {
            return None;
        }
        let open = self.fds.iter().enumerate();
        Some(
            open.filter(|(_, entry)| entry.is_some())
                .map(|(n, _)| n as i32)
                .collect(),
        )
    }
}

/// The inode number `getdents` gives link `fd`.
pub fn link_ino(fd: i32) -> u64 {
    LINK_INO_BASE + fd as u64
}
