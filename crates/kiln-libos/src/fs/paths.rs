//! The namespace: opening by path, directories and their entries, links,
//! renames, the working directory.

use super::metadata::volume_stat;
use super::*;

impl Fs {
    /// The directory `path` in an `*at` call starts from. An empty path is
    /// `ENOENT` and an absolute one ignores `dirfd`, as on Linux.
    pub(super) fn base(&mut self, dirfd: i32, path: &[u8]) -> Result<Vec<u8>> {
        match path.first() {
            None => return Err(Errno(ENOENT)),
            Some(b'/') => return Ok(b"/".to_vec()),
            Some(_) => {}
        }
        if dirfd == AT_FDCWD {
            return match self.cwd.is_empty() {
                true => Err(Errno(ENOENT)),
                false => Ok(self.cwd.clone()),
            };
        }
        let index = self.fd(dirfd)?.description;
        let Fs {
            tree, descriptions, ..
        } = self;
        let description = descriptions[index]
            .as_ref()
            .expect("descriptors refer to live descriptions");
        match description.object {
            // Where the directory is now: it may have moved since it was opened.
            Object::Dir { ino, .. } => tree.path_of(ino),
            Object::Volume { .. } if description.path.is_empty() => Err(Errno(ENOENT)),
            Object::Volume { .. } => Ok(description.path.clone()),
            _ => Err(Errno(ENOTDIR)),
        }
    }

    /// Where `path` (relative to `dirfd`) leads, and its canonical path.
    /// A path that names a directory by its form (a trailing `/`) follows
    /// a final link even without `follow`, and must lead to a directory.
    pub(super) fn locate(
        &mut self,
        dirfd: i32,
        path: &[u8],
        follow: bool,
    ) -> Result<(Vec<u8>, Found)> {
        let base = self.base(dirfd, path)?;
        let components = path::normalize(&base, path)?;
        let wants_dir = path::demands_directory(path);
        let (found, canonical) = self.tree.resolve(&components, follow || wants_dir)?;
        if wants_dir
            && let Found::Node(ino) = found
            && !matches!(self.tree.node(ino).kind, Kind::Dir { .. })
        {
            return Err(Errno(ENOTDIR));
        }
        Ok((canonical, found))
    }

    /// The directory entry `path` names (its last component is not followed).
    pub(super) fn entry(&mut self, dirfd: i32, path: &[u8]) -> Result<Entry> {
        let last = path::last(path);
        if last != path::Last::Name {
            // No name to change, but the walk must work (`ENOENT`, `ENOTDIR`...).
            self.locate(dirfd, path, true)?;
            return Ok(Entry::Unnamed(last));
        }
        let base = self.base(dirfd, path)?;
        let components = path::normalize(&base, path)?;
        let (name, parents) = components
            .split_last()
            .expect("a path ending in a name has components");
        Ok(match self.tree.resolve(parents, true)?.0 {
            Found::Node(dir) => Entry::Tree {
                dir,
                name: name.to_vec(),
            },
            Found::Volume { volume, mut rest } => {
                if !rest.is_empty() {
                    rest.push(b'/');
                }
                rest.extend_from_slice(name);
                Entry::Volume { volume, rest }
            }
            Found::Fd { .. } => return Err(Errno(ENOTDIR)),
            Found::Missing { .. } => return Err(Errno(ENOENT)),
        })
    }

    /// The type bits (`kind::*`) of what `entry` names, not following a
    /// link; `ENOENT` if nothing.
    pub(super) fn entry_type(&self, entry: &Entry) -> Result<u32> {
        match entry {
            Entry::Tree { dir, name } => {
                let child = self.tree.lookup(*dir, name)?;
                Ok(self.tree.stat(child).mode & kind::MASK)
            }
            Entry::Volume { volume, rest } => {
                Ok(volume::stat_path(*volume, rest, false)?.mode & kind::MASK)
            }
            Entry::Unnamed(_) => Ok(kind::DIRECTORY),
        }
    }

    pub(super) fn open(&mut self, dirfd: i32, path: &[u8], flags: i32, mode: u32) -> Result<i32> {
        self.free_fd(0)?;
        if flags & O_CREAT != 0 && flags & O_DIRECTORY != 0 {
            // Linux (since 6.4) refuses the pair outright.
            return Err(Errno(EINVAL));
        }
        if flags & O_CREAT != 0 && path::demands_directory(path) {
            // Linux creates only files here: once the parent is found,
            // a path naming a directory by its form is `EISDIR`.
            self.entry(dirfd, path)?;
            return Err(Errno(EISDIR));
        }
        let exclusive = flags & O_CREAT != 0 && flags & O_EXCL != 0;
        let mode = mode & !self.umask;
        let follow = flags & O_NOFOLLOW == 0 && !exclusive;
        let (abs, found) = self.locate(dirfd, path, follow)?;
        let writes = flags & O_ACCMODE != O_RDONLY;
        let want_dir = flags & O_DIRECTORY != 0 || path::demands_directory(path);
        let mut truncated = false;
        let object = match found {
            Found::Volume { volume, rest } => {
                let flags = if want_dir { flags | O_DIRECTORY } else { flags };
                let rest = if rest.is_empty() { b".".to_vec() } else { rest };
                Object::Volume {
                    handle: volume::open(volume, &rest, flags, mode)?,
                }
            }
            Found::Fd { fd, .. } => return self.reopen(fd, flags),
            Found::Missing { parent, name } => {
                if flags & O_CREAT == 0 {
                    return Err(Errno(ENOENT));
                }
                if want_dir {
                    return Err(Errno(EISDIR));
                }
                let ino = self.tree.create_file(parent, &name, mode)?;
                self.notify_created(parent, &name, false);
                Object::File(ino)
            }
            Found::Node(ino) => {
                if exclusive {
                    return Err(Errno(EEXIST));
                }
                let node = self.tree.node(ino);
                match node.kind {
                    Kind::Symlink(_) => return Err(Errno(ELOOP)),
                    // As Linux: a socket's name cannot be opened.
                    Kind::Socket => return Err(Errno(kiln_abi::errno::ENXIO)),
                    Kind::Device(_) | Kind::Generated(_) if want_dir => {
                        return Err(Errno(ENOTDIR));
                    }
                    Kind::Device(device) => {
                        device.open()?;
                        Object::Device { ino, device }
                    }
                    Kind::Generated(generated) => {
                        if writes || flags & O_TRUNC != 0 {
                            return Err(generated.write_error());
                        }
                        Object::Generated {
                            ino,
                            contents: generated.contents(),
                        }
                    }
                    Kind::Dir { .. } | Kind::Mount(_) | Kind::FdDir => {
                        if writes || flags & (O_TRUNC | O_CREAT) != 0 {
                            return Err(Errno(EISDIR));
                        }
                        Object::Dir {
                            ino,
                            cursor: Cursor::Dot,
                        }
                    }
                    Kind::File(_) => {
                        if want_dir {
                            return Err(Errno(ENOTDIR));
                        }
                        if (writes || flags & O_TRUNC != 0) && node.baked {
                            return Err(Errno(kiln_abi::errno::EROFS));
                        }
                        // As Linux: `O_TRUNC` truncates even with `O_RDONLY`.
                        if flags & O_TRUNC != 0 {
                            self.tree.truncate(ino, 0)?;
                            truncated = true;
                        }
                        Object::File(ino)
                    }
                }
            }
        };
        if let Object::File(ino)
        | Object::Dir { ino, .. }
        | Object::Device { ino, .. }
        | Object::Generated { ino, .. } = object
        {
            self.tree.opened(ino);
        }
        let node = object.node();
        let status = flags & (O_ACCMODE | O_APPEND | O_NONBLOCK);
        let fd = self.install(object, abs, status, 0, flags & O_CLOEXEC != 0)?;
        if let Some(ino) = node {
            // As Linux: the open is reported, then the truncation it did.
            self.notify_node(ino, notify::mask::OPEN);
            if truncated {
                self.notify_node(ino, notify::mask::MODIFY);
            }
        }
        Ok(fd)
    }

    /// The canonical path of what `path` leads to (following links, on
    /// the host's side too), and its status.
    pub(super) fn canonical(&mut self, path: &[u8]) -> Result<(Vec<u8>, Stat)> {
        match self.locate(AT_FDCWD, path, true)? {
            (abs, Found::Node(ino)) => Ok((abs, self.tree.stat(ino))),
            (_, Found::Volume { volume, rest }) => {
                let stat = volume_stat(volume, &rest, path, true)?;
                let (mount, _) = platform::volumes()
                    .nth(volume as usize)
                    .ok_or(Errno(ENOENT))?;
                let mount = path::normalize(b"/", mount)?;
                let inside = volume::canonical(volume, &rest)?;
                Ok((
                    path::join(
                        mount
                            .iter()
                            .copied()
                            .chain(inside.iter().map(Vec::as_slice)),
                    ),
                    stat,
                ))
            }
            (_, Found::Fd { fd, .. }) => Ok((self.fd_link(fd)?, self.fd_target_stat(fd)?)),
            (_, Found::Missing { .. }) => Err(Errno(ENOENT)),
        }
    }

    /// After a rename (or with `to` `None`, a directory's removal): what
    /// knows a directory by path follows it, as on Linux, where the
    /// working directory and descriptors follow the directory itself: the
    /// working directory, and volume descriptions (the tree's find theirs
    /// by node). A removed one has an empty path: relative calls there
    /// find nothing (`ENOENT`).
    pub(super) fn moved(&mut self, from: &[u8], to: Option<&[u8]>) {
        let volume_paths = self
            .descriptions
            .iter_mut()
            .flatten()
            .filter(|d| matches!(d.object, Object::Volume { .. }))
            .map(|d| &mut d.path);
        for path in volume_paths.chain([&mut self.cwd]) {
            if let Some(rest) = path.strip_prefix(from)
                && (rest.is_empty() || rest[0] == b'/')
            {
                *path = match to {
                    Some(to) => [to, rest].concat(),
                    None => Vec::new(),
                };
            }
        }
    }
}

/// `openat(2)`: `path` relative to `dirfd` (or [`flags::AT_FDCWD`]).
pub fn open(dirfd: i32, path: &[u8], flags: i32, mode: u32) -> Result<i32> {
    with(|fs| fs.open(dirfd, path, flags, mode))
}

/// Appends one `linux_dirent64` record to `buf` at `at`; `None` if it does not fit.
pub(super) fn put_dirent(
    buf: &mut [u8],
    at: usize,
    ino: u64,
    offset: u64,
    kind: u8,
    name: &[u8],
) -> Option<usize> {
    const HEADER: usize = 19;
    let len = (HEADER + name.len() + 1).next_multiple_of(8);
    let record = buf.get_mut(at..at + len)?;
    record.fill(0);
    record[0..8].copy_from_slice(&ino.to_le_bytes());
    record[8..16].copy_from_slice(&offset.to_le_bytes());
    record[16..18].copy_from_slice(&(len as u16).to_le_bytes());
    record[18] = kind;
    record[HEADER..HEADER + name.len()].copy_from_slice(name);
    Some(at + len)
}

/// The entry of directory `ino` after `last` (the first when `None`): its
/// name, inode number and `d_type`. A descriptor directory lists `fds`.
pub(super) fn next_entry(
    tree: &Tree,
    ino: Ino,
    fds: Option<&[i32]>,
    last: Option<&[u8]>,
) -> Result<Option<(Vec<u8>, u64, u8)>> {
    if let Some(fds) = fds {
        let after = last.and_then(tree::parse_fd);
        let link_type = (kind::SYMLINK >> 12) as u8;
        return Ok(fds
            .iter()
            .find(|&&n| after.is_none_or(|a| n > a))
            .map(|&n| {
                (
                    format!("{n}").into_bytes(),
                    fd_links::link_ino(n),
                    link_type,
                )
            }));
    }
    Ok(tree.list_after(ino, last)?.next().map(|(name, child)| {
        let kind = tree.node(child).dirent_type();
        (name.to_vec(), u64::from(child) + 1, kind)
    }))
}

/// `getdents64(2)`: directory entries as `linux_dirent64` records.
pub fn read_dir(fd: i32, buf: &mut [u8]) -> Result<usize> {
    with(|fs| {
        let listed = fs.list_dir(fd, buf);
        if listed.is_ok() {
            // As Linux: every listing call is an access, the last too.
            fs.notify_fd(fd, notify::mask::ACCESS);
        }
        listed
    })
}

impl Fs {
    /// [`read_dir`] of a directory of the tree or a volume.
    fn list_dir(&mut self, fd: i32, buf: &mut [u8]) -> Result<usize> {
        let fs = self;
        let listed_fds = fs.fd_dir_listing(fd);
        let (description, tree, _) = fs.split(fd)?;
        let (ino, cursor) = match &mut description.object {
            Object::Volume { handle } => return volume::read_dir(*handle, buf),
            Object::Dir { ino, cursor } => (*ino, cursor),
            _ => return Err(Errno(ENOTDIR)),
        };
        if tree.is_removed(ino) {
            // As Linux: a removed directory has nothing to list, not even `.`.
            return Err(Errno(ENOENT));
        }
        let dir_type = (kind::DIRECTORY >> 12) as u8;
        let mut filled = 0;
        loop {
            let offset = description.offset + 1;
            let (next, cursor_after) = match cursor.clone() {
                Cursor::Dot => (
                    put_dirent(buf, filled, u64::from(ino) + 1, offset, dir_type, b"."),
                    Cursor::DotDot,
                ),
                Cursor::DotDot => {
                    let parent = tree.parent(ino);
                    (
                        put_dirent(buf, filled, u64::from(parent) + 1, offset, dir_type, b".."),
                        Cursor::After(None),
                    )
                }
                Cursor::After(last) => {
                    let next = next_entry(tree, ino, listed_fds.as_deref(), last.as_deref())?;
                    let Some((name, child_ino, kind)) = next else {
                        break;
                    };
                    (
                        put_dirent(buf, filled, child_ino, offset, kind, &name),
                        Cursor::After(Some(name)),
                    )
                }
            };
            let Some(next) = next else {
                if filled == 0 {
                    return Err(Errno(EINVAL));
                }
                break;
            };
            filled = next;
            *cursor = cursor_after;
            description.offset = offset;
        }
        Ok(filled)
    }
}

/// `mkdirat(2)`.
pub fn mkdir(dirfd: i32, path: &[u8], mode: u32) -> Result<()> {
    with(|fs| {
        let mode = mode & !fs.umask;
        match fs.entry(dirfd, path)? {
            Entry::Tree { dir, name } => {
                fs.tree.mkdir(dir, &name, mode)?;
                fs.notify_created(dir, &name, true);
                Ok(())
            }
            Entry::Volume { rest, .. } if rest.is_empty() => Err(Errno(EEXIST)),
            Entry::Volume { volume, rest } => volume::mkdir(volume, &rest, mode),
            Entry::Unnamed(_) => Err(Errno(EEXIST)),
        }
    })
}

/// `umask(2)`: sets the bits taken from new files' and directories'
/// modes, and returns the previous ones. (On a volume the host's own
/// umask applies as well.)
pub fn umask(mask: u32) -> u32 {
    with(|fs| core::mem::replace(&mut fs.umask, mask & 0o777))
}

/// `unlinkat(2)`: removes a file, or with `directory` an empty directory.
pub fn unlink(dirfd: i32, path: &[u8], directory: bool) -> Result<()> {
    with(|fs| {
        let entry = fs.entry(dirfd, path)?;
        if !directory && path.ends_with(b"/") && !matches!(entry, Entry::Unnamed(_)) {
            // As Linux: `unlink("x/")` removes nothing, and says why.
            return Err(Errno(match fs.entry_type(&entry)? {
                kind::DIRECTORY => EISDIR,
                _ => ENOTDIR,
            }));
        }
        let (gone, _) = fs.locate(dirfd, path, false)?;
        match entry {
            Entry::Tree { dir, name } => {
                let child = fs.tree.lookup(dir, &name);
                fs.tree.remove(dir, &name, directory)?;
                if let Ok(child) = child {
                    fs.notify_removed(dir, &name, child, directory);
                }
            }
            Entry::Volume { volume, rest } => volume::unlink(volume, &rest, directory)?,
            Entry::Unnamed(last) => return Err(Errno(unnamed_unlink_error(last, directory))),
        }
        if directory {
            fs.moved(&gone, None);
        }
        Ok(())
    })
}

/// Linux's answer to `unlink`/`rmdir` of a path ending in `.`, `..` or `/`.
pub(super) fn unnamed_unlink_error(last: path::Last, directory: bool) -> i32 {
    match (directory, last) {
        (false, _) => EISDIR,
        (true, path::Last::Dot) => EINVAL,
        (true, path::Last::DotDot) => kiln_abi::errno::ENOTEMPTY,
        (true, _) => kiln_abi::errno::EBUSY,
    }
}

/// What a rename does to an entry already at its target.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Replaces it (`renameat`).
    Replace,
    /// Fails with `EEXIST` instead (`renameat2`'s `RENAME_NOREPLACE`,
    /// which `tempfile`'s no-clobber persist uses): decided under the file
    /// lock, so no other thread can make the target in between.
    Keep,
}

/// `renameat(2)`, or `renameat2(2)` with `RENAME_NOREPLACE` (`existing`).
/// Moving between the tree and a volume, or between two volumes, is
/// `EXDEV`, as between two Linux filesystems. A no-replace rename on a
/// volume is `EINVAL`, as on a Linux filesystem without the flag: the
/// host's rename through the monitor always replaces, and checking first
/// would race the host.
pub fn rename(
    from_dirfd: i32,
    from: &[u8],
    to_dirfd: i32,
    to: &[u8],
    existing: Existing,
) -> Result<()> {
    with(|fs| {
        let source = fs.entry(from_dirfd, from)?;
        let target = fs.entry(to_dirfd, to)?;
        let slash = from.ends_with(b"/") || to.ends_with(b"/");
        if slash && fs.entry_type(&source)? != kind::DIRECTORY {
            // A trailing `/` on either side: only directories move.
            return Err(Errno(ENOTDIR));
        }
        let (old, _) = fs.locate(from_dirfd, from, false)?;
        match (source, target) {
            (Entry::Tree { dir: a, name: x }, Entry::Tree { dir: b, name: y }) => {
                let moving = fs.tree.lookup(a, &x);
                let replaced = fs.tree.lookup(b, &y).ok();
                if existing == Existing::Keep && replaced.is_some() {
                    moving?;
                    return Err(Errno(kiln_abi::errno::EEXIST));
                }
                fs.tree.rename(a, &x, b, &y)?;
                if let Ok(source) = moving
                    && replaced != Some(source)
                {
                    fs.notify_renamed((a, &x), (b, &y), source, replaced);
                }
            }
            (Entry::Volume { .. }, Entry::Volume { .. }) if existing == Existing::Keep => {
                return Err(Errno(EINVAL));
            }
            (Entry::Volume { volume: a, rest: x }, Entry::Volume { volume: b, rest: y })
                if a == b =>
            {
                volume::rename(a, &x, &y)?;
            }
            (Entry::Unnamed(_), _) | (_, Entry::Unnamed(_)) => {
                return Err(Errno(kiln_abi::errno::EBUSY));
            }
            _ => return Err(Errno(EXDEV)),
        }
        let (new, _) = fs.locate(to_dirfd, to, false)?;
        fs.moved(&old, Some(&new));
        Ok(())
    })
}

/// `readlinkat(2)`: the target's length, truncated to `buf`.
pub fn readlink(dirfd: i32, path: &[u8], buf: &mut [u8]) -> Result<usize> {
    with(|fs| match fs.locate(dirfd, path, false)?.1 {
        Found::Volume { volume, rest } if path::demands_directory(path) => {
            // A trailing `/` follows the link: what it leads to is no link.
            volume_stat(volume, &rest, path, true)?;
            Err(Errno(EINVAL))
        }
        Found::Node(ino) => {
            let target = fs.tree.readlink(ino)?;
            let n = target.len().min(buf.len());
            buf[..n].copy_from_slice(&target[..n]);
            Ok(n)
        }
        Found::Volume { volume, rest } => volume::readlink(volume, &rest, buf),
        Found::Fd { fd, .. } => {
            let target = fs.fd_link(fd)?;
            let n = target.len().min(buf.len());
            buf[..n].copy_from_slice(&target[..n]);
            Ok(n)
        }
        Found::Missing { .. } => Err(Errno(ENOENT)),
    })
}

/// `symlinkat(2)`: `path` pointing at `target`, which is a path: not
/// empty (`ENOENT`), shorter than `PATH_MAX` (`ENAMETOOLONG`).
pub fn symlink(target: &[u8], dirfd: i32, path: &[u8]) -> Result<()> {
    if target.is_empty() {
        return Err(Errno(ENOENT));
    }
    if target.len() >= path::PATH_MAX {
        return Err(Errno(kiln_abi::errno::ENAMETOOLONG));
    }
    with(|fs| {
        let entry = fs.entry(dirfd, path)?;
        if path.ends_with(b"/") && !matches!(entry, Entry::Unnamed(_)) {
            // As Linux: a trailing `/` asks for a directory, which this
            // would not make.
            fs.entry_type(&entry)?;
            return Err(Errno(EEXIST));
        }
        match entry {
            Entry::Tree { dir, name } => {
                fs.tree.symlink(dir, &name, target)?;
                fs.notify_created(dir, &name, false);
                Ok(())
            }
            Entry::Volume { volume, rest } => volume::symlink(volume, &rest, target),
            Entry::Unnamed(_) => Err(Errno(EEXIST)),
        }
    })
}

/// The working directory (`ENOENT` once it has been removed).
pub fn cwd() -> Result<Vec<u8>> {
    with(|fs| match fs.cwd.is_empty() {
        true => Err(Errno(ENOENT)),
        false => Ok(fs.cwd.clone()),
    })
}

/// `chdir(2)`.
pub fn chdir(path: &[u8]) -> Result<()> {
    with(|fs| {
        let (abs, stat) = fs.canonical(path)?;
        if stat.mode & kind::MASK != kind::DIRECTORY {
            return Err(Errno(ENOTDIR));
        }
        fs.cwd = abs;
        Ok(())
    })
}

/// The canonical form of an existing `path` (`realpath(3)`): absolute,
/// without `.`, `..` or symbolic links.
pub fn canonicalize(path: &[u8]) -> Result<Vec<u8>> {
    with(|fs| fs.canonical(path).map(|(abs, _)| abs))
}
