//! The guest's own file tree: in-memory files and directories, the files
//! baked into the image, and the points where host volumes are mounted.
//!
//! One tree serves `/`. Files baked into the image are nodes whose contents
//! are the image's own read-only memory (no copy); they and the directories
//! they came in are read-only (`EROFS`). Everything else is memory the
//! program writes: `/tmp`, and any path not baked or mounted. A volume's
//! mount point is a node that hands the rest of a path to the monitor.
//!
//! Nodes live in an arena and are named by index ([`Ino`]); a node is freed
//! when its last link and its last open description are gone, as on Unix.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;

use kiln_abi::errno::{
    EBUSY, EEXIST, EINVAL, EISDIR, ELOOP, ENOENT, ENOSPC, ENOTDIR, ENOTEMPTY, EROFS,
};
use kiln_abi::file::FileStat;
use kiln_abi::fs_image::{FsImage, kind};

use super::system::{Device, Generated};
use super::{Errno, Result, path};

/// A node's index in the arena; also its inode number (plus one).
pub type Ino = u32;

/// The root directory.
pub const ROOT: Ino = 0;

/// Linux's limit on symbolic links followed in one lookup.
const MAX_LINKS: u32 = 40;

/// The device number `stat` reports for the guest's own tree.
const DEVICE: u64 = 0x4b49;

/// The type bits of a character device.
const CHARACTER_DEVICE: u32 = 0o020000;
/// `S_IFSOCK`.
const SOCKET: u32 = 0o140000;

/// File contents.
pub enum Data {
    /// The image's own bytes (baked files: read-only, never copied).
    Baked(&'static [u8]),
    /// Bytes the program wrote.
    Owned(Vec<u8>),
}

impl Data {
    fn bytes(&self) -> &[u8] {
        match self {
            Data::Baked(bytes) => bytes,
            Data::Owned(bytes) => bytes,
        }
    }
}

/// What a node is.
pub enum Kind {
    /// A regular file.
    File(Data),
    /// A directory: its entries by name, its parent and its name there
    /// (a directory has one entry naming it; the root's name is empty).
    Dir {
        entries: BTreeMap<Vec<u8>, Ino>,
        parent: Ino,
        name: Vec<u8>,
    },
    /// A symbolic link and its target.
    Symlink(Data),
    /// The mount point of host volume `n` (an index into the boot info's list).
    Mount(u32),
    /// A character device.
    Device(Device),
    /// A read-only file whose contents are made when it is opened.
    Generated(Generated),
    /// `/proc/<pid>/fd`: a directory listing the open descriptors, each
    /// a link to what it refers to.
    FdDir,
    /// A Unix-domain socket's name, made by `bind` (see `unix.rs`).
    Socket,
}

/// A node.
pub struct Node {
    /// What it is.
    pub kind: Kind,
    /// Permission bits.
    pub mode: u32,
    /// Links to it, as `st_nlink` counts them: the directory entries
    /// naming it, and for a directory also its own `.` and each
    /// subdirectory's `..`.
    links: u32,
    /// Open file descriptions referring to it.
    opens: u32,
    /// Baked into the image: read-only.
    pub baked: bool,
    /// Last access: set only by `utimensat` (reads do not update it, as
    /// on a `noatime` mount).
    atime_ns: i64,
    mtime_ns: i64,
    ctime_ns: i64,
}

impl Node {
    /// A directory of the tree, or a volume's mount point (which is one
    /// to the directory holding it).
    fn is_directory(&self) -> bool {
        matches!(self.kind, Kind::Dir { .. } | Kind::Mount(_) | Kind::FdDir)
    }

    fn type_bits(&self) -> u32 {
        match self.kind {
            Kind::File(_) | Kind::Generated(_) => kind::FILE,
            Kind::Dir { .. } | Kind::Mount(_) | Kind::FdDir => kind::DIRECTORY,
            Kind::Symlink(_) => kind::SYMLINK,
            Kind::Device(_) => CHARACTER_DEVICE,
            Kind::Socket => SOCKET,
        }
    }

    /// The `d_type` of a directory entry naming it.
    pub fn dirent_type(&self) -> u8 {
        (self.type_bits() >> 12) as u8
    }
}

/// Where a path leads.
pub enum Found {
    /// An existing node of the tree.
    Node(Ino),
    /// Into host volume `volume`, at `rest` (relative to its root; empty
    /// for the root itself).
    Volume {
        /// The volume's index.
        volume: u32,
        /// The path beneath its root.
        rest: Vec<u8>,
    },
    /// Descriptor `fd`, named in `/proc/<pid>/fd` (the C library's
    /// descriptor table knows what it is): the file it refers to when
    /// `follow`ed, otherwise the link itself.
    Fd {
        /// The descriptor.
        fd: i32,
        /// Whether the link is followed.
        follow: bool,
    },
    /// Nothing yet: the last component `name` is missing from directory `parent`.
    Missing {
        /// The directory that would hold it.
        parent: Ino,
        /// The missing name.
        name: Vec<u8>,
    },
}

/// `st_blocks` (512-byte units) as Linux's filesystems count them: a file
/// takes whole 4 KiB blocks, a directory one, a symbolic link none (its
/// target is kept in the inode).
fn blocks(kind: &Kind) -> u64 {
    match kind {
        Kind::File(data) => (data.bytes().len() as u64).div_ceil(4096) * 8,
        Kind::Dir { .. } | Kind::Mount(_) => 8,
        Kind::Symlink(_) | Kind::Device(_) | Kind::Generated(_) | Kind::FdDir | Kind::Socket => 0,
    }
}

/// A new, empty directory in `parent` (named when linked there).
fn empty_dir(parent: Ino) -> Kind {
    Kind::Dir {
        entries: BTreeMap::new(),
        parent,
        name: Vec::new(),
    }
}

/// The tree.
pub struct Tree {
    nodes: Vec<Option<Node>>,
    free: Vec<Ino>,
}

fn now_ns() -> i64 {
    crate::clock::unix_time().as_nanos() as i64
}

/// The part of a walk that goes on beneath a volume's mount point:
/// `queue`'s components as a path relative to the volume's root (for the
/// host, which resolves its own links and `..`), and their canonical form
/// (`..` taken lexically). `None` if a `..` leads back out of the volume;
/// the walk then goes on in the tree with what is left of `queue`.
fn volume_rest(queue: &mut VecDeque<Vec<u8>>) -> Option<(Vec<u8>, Vec<Vec<u8>>)> {
    let mut rest = Vec::new();
    let mut canonical: Vec<Vec<u8>> = Vec::new();
    while let Some(name) = queue.pop_front() {
        if name == b".." {
            canonical.pop()?;
        } else {
            canonical.push(name.clone());
        }
        if !rest.is_empty() {
            rest.push(b'/');
        }
        rest.extend_from_slice(&name);
    }
    Some((rest, canonical))
}

impl Tree {
    /// A tree holding only `/` and `/tmp`.
    pub fn new() -> Self {
        let mut tree = Self {
            nodes: Vec::new(),
            free: Vec::new(),
        };
        let root = tree.insert(empty_dir(ROOT), 0o755);
        debug_assert_eq!(root, ROOT);
        // Its `.` and its `..` (itself).
        tree.node_mut(ROOT).links = 2;
        let tmp = tree.insert(empty_dir(ROOT), 0o1777);
        tree.link(ROOT, b"tmp", tmp);
        tree
    }

    fn insert(&mut self, kind: Kind, mode: u32) -> Ino {
        let now = now_ns();
        // A directory's own `.` links to it from the start.
        let links = u32::from(matches!(kind, Kind::Dir { .. }));
        let node = Node {
            kind,
            mode: mode & 0o7777,
            links,
            opens: 0,
            baked: false,
            atime_ns: now,
            mtime_ns: now,
            ctime_ns: now,
        };
        match self.free.pop() {
            Some(ino) => {
                self.nodes[ino as usize] = Some(node);
                ino
            }
            None => {
                self.nodes.push(Some(node));
                (self.nodes.len() - 1) as Ino
            }
        }
    }

    /// Node `ino`, which must exist.
    pub fn node(&self, ino: Ino) -> &Node {
        self.nodes[ino as usize]
            .as_ref()
            .expect("a live inode number")
    }

    fn node_mut(&mut self, ino: Ino) -> &mut Node {
        self.nodes[ino as usize]
            .as_mut()
            .expect("a live inode number")
    }

    fn entries(&self, dir: Ino) -> Result<&BTreeMap<Vec<u8>, Ino>> {
        match &self.node(dir).kind {
            Kind::Dir { entries, .. } => Ok(entries),
            _ => Err(Errno(ENOTDIR)),
        }
    }

    /// The node `name` in directory `dir` names.
    pub fn lookup(&self, dir: Ino, name: &[u8]) -> Result<Ino> {
        self.entries(dir)?.get(name).copied().ok_or(Errno(ENOENT))
    }

    fn entries_mut(&mut self, dir: Ino) -> &mut BTreeMap<Vec<u8>, Ino> {
        match &mut self.node_mut(dir).kind {
            Kind::Dir { entries, .. } => entries,
            _ => unreachable!("callers check for a directory"),
        }
    }

    /// Adds entry `name` to `dir` for `child`: a link to it, and for a
    /// directory a link to `dir` from its `..`.
    fn link(&mut self, dir: Ino, name: &[u8], child: Ino) {
        if let Kind::Dir {
            parent, name: own, ..
        } = &mut self.node_mut(child).kind
        {
            *parent = dir;
            *own = name.to_vec();
        }
        if self.node(child).is_directory() {
            self.node_mut(dir).links += 1;
        }
        self.entries_mut(dir).insert(name.to_vec(), child);
        self.node_mut(child).links += 1;
        self.touch(dir);
    }

    /// Takes entry `name` (which must be there) out of `dir`, with the
    /// links [`Self::link`] added; the node is not freed here.
    fn unlink(&mut self, dir: Ino, name: &[u8]) -> Ino {
        let child = self
            .entries_mut(dir)
            .remove(name)
            .expect("callers looked the entry up");
        if self.node(child).is_directory() {
            self.node_mut(dir).links -= 1;
        }
        self.node_mut(child).links -= 1;
        self.touch(dir);
        child
    }

    fn touch(&mut self, ino: Ino) {
        let now = now_ns();
        let node = self.node_mut(ino);
        node.mtime_ns = now;
        node.ctime_ns = now;
    }

    fn release_if_unused(&mut self, ino: Ino) {
        let node = self.node(ino);
        if node.links == 0 && node.opens == 0 && ino != ROOT {
            self.nodes[ino as usize] = None;
            self.free.push(ino);
        }
    }

    /// Whether node `ino` exists (it may have been freed).
    pub fn exists(&self, ino: Ino) -> bool {
        self.nodes.get(ino as usize).is_some_and(Option::is_some)
    }

    /// Whether `ino` has been removed (it lives on while open).
    pub fn is_removed(&self, ino: Ino) -> bool {
        self.node(ino).links == 0
    }

    /// Records an open file description of `ino`.
    pub fn opened(&mut self, ino: Ino) {
        self.node_mut(ino).opens += 1;
    }

    /// Records that an open file description of `ino` was closed.
    pub fn closed(&mut self, ino: Ino) {
        self.node_mut(ino).opens -= 1;
        self.release_if_unused(ino);
    }

    /// Adds the files of a baked filesystem image (read-only nodes).
    pub fn add_baked(&mut self, image: &FsImage<'static>) {
        let mut map: Vec<Ino> = Vec::with_capacity(image.len() as usize);
        for entry in image.entries() {
            if entry.index == 0 {
                map.push(ROOT);
                continue;
            }
            let parent = map[entry.parent as usize];
            let existing = self
                .entries(parent)
                .ok()
                .and_then(|e| e.get(entry.name))
                .copied();
            let ino = match existing {
                // `/tmp` and other directories already there are kept.
                Some(ino) if entry.is_dir() && matches!(self.node(ino).kind, Kind::Dir { .. }) => {
                    ino
                }
                _ => {
                    let kind = match entry.mode & kind::MASK {
                        kind::DIRECTORY => empty_dir(parent),
                        kind::SYMLINK => Kind::Symlink(Data::Baked(entry.data)),
                        _ => Kind::File(Data::Baked(entry.data)),
                    };
                    let ino = self.insert(kind, entry.mode);
                    self.link(parent, entry.name, ino);
                    let node = self.node_mut(ino);
                    node.baked = true;
                    node.mtime_ns = entry.mtime.saturating_mul(1_000_000_000);
                    node.ctime_ns = node.mtime_ns;
                    node.atime_ns = node.mtime_ns;
                    ino
                }
            };
            map.push(ino);
        }
    }

    /// Makes `components` the mount point of volume `volume`, creating the
    /// directories above it as needed (a mount point may shadow baked files).
    pub fn mount(&mut self, components: &[&[u8]], volume: u32) {
        let mut dir = ROOT;
        for (i, name) in components.iter().enumerate() {
            let last = i + 1 == components.len();
            let existing = self.entries(dir).ok().and_then(|e| e.get(*name)).copied();
            match existing {
                Some(child) if !last && matches!(self.node(child).kind, Kind::Dir { .. }) => {
                    dir = child;
                    continue;
                }
                Some(child) => {
                    // Shadowed: what was beneath a directory stays unreachable.
                    self.unlink(dir, name);
                    if self.node(child).is_directory() {
                        self.node_mut(child).links -= 1;
                    }
                    self.release_if_unused(child);
                }
                None => {}
            }
            let kind = if last {
                Kind::Mount(volume)
            } else {
                empty_dir(dir)
            };
            let child = self.insert(kind, 0o755);
            self.link(dir, name, child);
            dir = child;
        }
    }

    /// Adds a system node (read-only) `name` in directory `dir` (as
    /// components from the root), creating the directories on the way
    /// (read-only ones with `read_only_dirs`). A name already there (baked
    /// into the image) is kept, and so is a path blocked by a baked file.
    pub fn add_system(&mut self, dir: &[&[u8]], name: &[u8], kind: Kind, read_only_dirs: bool) {
        let mut at = ROOT;
        for component in dir {
            at = match self.lookup(at, component) {
                Ok(child) if matches!(self.node(child).kind, Kind::Dir { .. }) => child,
                Ok(_) => return,
                Err(_) => {
                    let mode = if read_only_dirs { 0o555 } else { 0o755 };
                    let child = self.insert(empty_dir(at), mode);
                    self.link(at, component, child);
                    self.node_mut(child).baked = read_only_dirs;
                    child
                }
            };
        }
        if self.lookup(at, name).is_ok() {
            return;
        }
        let mode = match kind {
            Kind::Device(_) => 0o666,
            Kind::Symlink(_) => 0o777,
            Kind::FdDir => 0o500,
            Kind::Generated(generated) if generated.in_proc() => 0o444,
            Kind::Generated(Generated::Program) => 0o755,
            _ => 0o644,
        };
        let child = self.insert(kind, mode);
        self.link(at, name, child);
        self.node_mut(child).baked = true;
    }

    /// Follows `components` from the root; `..` goes up from where the walk
    /// has got to (so after a link, from where the link led). A final
    /// symbolic link is followed only with `follow_last`. Also returns the
    /// canonical path of where the walk ends: absolute, without links,
    /// `.` or `..` (beneath a volume's mount point, `..` is taken lexically
    /// and links are the host's).
    pub fn resolve(&self, components: &[&[u8]], follow_last: bool) -> Result<(Found, Vec<u8>)> {
        let mut queue: VecDeque<Vec<u8>> = components.iter().map(|c| c.to_vec()).collect();
        // The directories walked into beneath the root, with their names.
        let mut stack: Vec<(Ino, Vec<u8>)> = Vec::new();
        let mut links_followed = 0;
        while let Some(name) = queue.pop_front() {
            let dir = stack.last().map_or(ROOT, |(ino, _)| *ino);
            let entries = match &self.node(dir).kind {
                Kind::Dir { entries, .. } => entries,
                Kind::Mount(volume) => {
                    queue.push_front(name);
                    let Some((rest, canonical)) = volume_rest(&mut queue) else {
                        // A `..` led back out of the volume.
                        stack.pop();
                        continue;
                    };
                    let path = path::join(stack.iter().map(|(_, n)| n).chain(&canonical));
                    let volume = *volume;
                    return Ok((Found::Volume { volume, rest }, path));
                }
                Kind::FdDir if name == b".." => {
                    stack.pop();
                    continue;
                }
                Kind::FdDir => {
                    let fd = parse_fd(&name).ok_or(Errno(ENOENT))?;
                    if !queue.is_empty() {
                        // A descriptor's link leads out of the tree.
                        return Err(Errno(ENOTDIR));
                    }
                    let path = path::join(stack.iter().map(|(_, n)| n).chain([&name]));
                    return Ok((
                        Found::Fd {
                            fd,
                            follow: follow_last,
                        },
                        path,
                    ));
                }
                _ => return Err(Errno(ENOTDIR)),
            };
            if name == b".." {
                stack.pop();
                continue;
            }
            let Some(&child) = entries.get(&name) else {
                if !queue.is_empty() {
                    return Err(Errno(ENOENT));
                }
                let path = path::join(stack.iter().map(|(_, n)| n).chain([&name]));
                return Ok((Found::Missing { parent: dir, name }, path));
            };
            if let Kind::Symlink(target) = &self.node(child).kind
                && (follow_last || !queue.is_empty())
            {
                links_followed += 1;
                if links_followed > MAX_LINKS {
                    return Err(Errno(ELOOP));
                }
                let target = target.bytes();
                if target.first() == Some(&b'/') {
                    stack.clear();
                }
                for part in target.split(|&b| b == b'/').rev() {
                    path::check_name(part)?;
                    if !matches!(part, b"" | b".") {
                        queue.push_front(part.to_vec());
                    }
                }
                continue;
            }
            stack.push((child, name));
        }
        let last = stack.last().map_or(ROOT, |(ino, _)| *ino);
        let path = path::join(stack.iter().map(|(_, n)| n));
        Ok(match self.node(last).kind {
            Kind::Mount(volume) => (
                Found::Volume {
                    volume,
                    rest: Vec::new(),
                },
                path,
            ),
            _ => (Found::Node(last), path),
        })
    }

    fn writable_dir(&self, dir: Ino) -> Result<()> {
        self.entries(dir)?;
        if self.node(dir).baked {
            return Err(Errno(EROFS));
        }
        Ok(())
    }

    /// Creates an empty file `name` in `dir`.
    pub fn create_file(&mut self, dir: Ino, name: &[u8], mode: u32) -> Result<Ino> {
        self.create(dir, name, Kind::File(Data::Owned(Vec::new())), mode)
    }

    /// Creates directory `name` in `dir`.
    pub fn mkdir(&mut self, dir: Ino, name: &[u8], mode: u32) -> Result<Ino> {
        let kind = empty_dir(dir);
        self.create(dir, name, kind, mode)
    }

    /// Creates a Unix-domain socket's name `name` in `dir`.
    pub fn create_socket(&mut self, dir: Ino, name: &[u8], mode: u32) -> Result<Ino> {
        self.create(dir, name, Kind::Socket, mode)
    }

    /// Creates symbolic link `name` in `dir` pointing at `target`.
    pub fn symlink(&mut self, dir: Ino, name: &[u8], target: &[u8]) -> Result<Ino> {
        self.create(
            dir,
            name,
            Kind::Symlink(Data::Owned(target.to_vec())),
            0o777,
        )
    }

    /// Adds a new node `name` to `dir`. As on a read-only Linux mount,
    /// a name already there is `EEXIST` even in a baked directory.
    fn create(&mut self, dir: Ino, name: &[u8], kind: Kind, mode: u32) -> Result<Ino> {
        if self.entries(dir)?.contains_key(name) {
            return Err(Errno(EEXIST));
        }
        self.writable_dir(dir)?;
        let ino = self.insert(kind, mode);
        self.link(dir, name, ino);
        Ok(ino)
    }

    /// Whether `ino` may go (be removed, or replaced by a rename) as a
    /// directory (`directory`) or as anything else, by Linux's rules.
    fn check_removable(&self, ino: Ino, directory: bool) -> Result<()> {
        match (&self.node(ino).kind, directory) {
            (Kind::Mount(_), _) => Err(Errno(EBUSY)),
            (Kind::Dir { entries, .. }, true) if !entries.is_empty() => Err(Errno(ENOTEMPTY)),
            (Kind::Dir { .. } | Kind::FdDir, true)
            | (
                Kind::File(_)
                | Kind::Symlink(_)
                | Kind::Device(_)
                | Kind::Generated(_)
                | Kind::Socket,
                false,
            ) => Ok(()),
            (Kind::Dir { .. } | Kind::FdDir, false) => Err(Errno(EISDIR)),
            (_, true) => Err(Errno(ENOTDIR)),
        }
    }

    /// Removes `name` from `dir`: a directory (which must be empty) if
    /// `directory`, otherwise anything but a directory. As on a read-only
    /// Linux mount, a baked directory is `EROFS` before anything is looked up.
    pub fn remove(&mut self, dir: Ino, name: &[u8], directory: bool) -> Result<()> {
        self.writable_dir(dir)?;
        let child = self.lookup(dir, name)?;
        self.check_removable(child, directory)?;
        if self.node(child).baked {
            return Err(Errno(EROFS));
        }
        self.unlink(dir, name);
        if directory {
            // Its `.` goes with it.
            self.node_mut(child).links -= 1;
        }
        self.release_if_unused(child);
        Ok(())
    }

    /// Renames `from_dir`/`from` to `to_dir`/`to`, replacing what is there
    /// as `rename(2)` does (a baked directory on either side is `EROFS`
    /// first, as a read-only mount is).
    pub fn rename(&mut self, from_dir: Ino, from: &[u8], to_dir: Ino, to: &[u8]) -> Result<()> {
        self.writable_dir(from_dir)?;
        self.writable_dir(to_dir)?;
        let source = self.lookup(from_dir, from)?;
        let target = self.entries(to_dir)?.get(to).copied();
        if target == Some(source) {
            return Ok(());
        }
        let source_is_dir = matches!(self.node(source).kind, Kind::Dir { .. });
        if matches!(self.node(source).kind, Kind::Mount(_)) {
            return Err(Errno(EBUSY));
        }
        if source_is_dir && self.is_within(to_dir, source) {
            return Err(Errno(EINVAL));
        }
        if let Some(target) = target {
            self.check_removable(target, source_is_dir)?;
        }
        if self.node(source).baked || target.is_some_and(|t| self.node(t).baked) {
            return Err(Errno(EROFS));
        }
        if target.is_some() {
            self.remove(to_dir, to, source_is_dir)?;
        }
        self.unlink(from_dir, from);
        self.link(to_dir, to, source);
        Ok(())
    }

    /// Whether `dir` is `ancestor` or lies beneath it.
    fn is_within(&self, mut dir: Ino, ancestor: Ino) -> bool {
        loop {
            if dir == ancestor {
                return true;
            }
            match self.node(dir).kind {
                Kind::Dir { parent, .. } if dir != ROOT => dir = parent,
                _ => return false,
            }
        }
    }

    /// A symbolic link's target (`EINVAL` for anything else, as `readlink(2)`).
    pub fn readlink(&self, ino: Ino) -> Result<&[u8]> {
        match &self.node(ino).kind {
            Kind::Symlink(target) => Ok(target.bytes()),
            _ => Err(Errno(EINVAL)),
        }
    }

    /// Sets the permission bits (`EROFS` for what was baked).
    pub fn chmod(&mut self, ino: Ino, mode: u32) -> Result<()> {
        let node = self.node_mut(ino);
        if node.baked {
            return Err(Errno(EROFS));
        }
        node.mode = mode & 0o7777;
        node.ctime_ns = now_ns();
        Ok(())
    }

    /// Sets the access and modification times (`None`: leave it), and the
    /// status-change time to now, as Linux does (`EROFS` for what was baked).
    pub fn set_times(
        &mut self,
        ino: Ino,
        atime_ns: Option<i64>,
        mtime_ns: Option<i64>,
    ) -> Result<()> {
        let node = self.node_mut(ino);
        if node.baked {
            return Err(Errno(EROFS));
        }
        if let Some(atime) = atime_ns {
            node.atime_ns = atime;
        }
        if let Some(mtime) = mtime_ns {
            node.mtime_ns = mtime;
        }
        node.ctime_ns = now_ns();
        Ok(())
    }

    /// The file's contents.
    pub fn contents(&self, ino: Ino) -> &[u8] {
        match &self.node(ino).kind {
            Kind::File(data) => data.bytes(),
            _ => &[],
        }
    }

    fn owned_contents(&mut self, ino: Ino) -> Result<&mut Vec<u8>> {
        match &mut self.node_mut(ino).kind {
            Kind::File(Data::Owned(bytes)) => Ok(bytes),
            Kind::File(Data::Baked(_)) | Kind::Device(_) | Kind::Generated(_) => Err(Errno(EROFS)),
            Kind::Dir { .. } | Kind::Mount(_) | Kind::FdDir => Err(Errno(EISDIR)),
            Kind::Symlink(_) | Kind::Socket => Err(Errno(EINVAL)),
        }
    }

    /// Writes `data` at `offset`, growing the file (with zeros) as needed.
    pub fn write_at(&mut self, ino: Ino, offset: u64, data: &[u8]) -> Result<usize> {
        let bytes = self.owned_contents(ino)?;
        let start = usize::try_from(offset).map_err(|_| Errno(ENOSPC))?;
        let end = start.checked_add(data.len()).ok_or(Errno(ENOSPC))?;
        if end > bytes.len() {
            bytes
                .try_reserve(end - bytes.len())
                .map_err(|_| Errno(ENOSPC))?;
            bytes.resize(end, 0);
        }
        bytes[start..end].copy_from_slice(data);
        self.touch(ino);
        Ok(data.len())
    }

    /// Sets the file's length.
    pub fn truncate(&mut self, ino: Ino, len: u64) -> Result<()> {
        let bytes = self.owned_contents(ino)?;
        let len = usize::try_from(len).map_err(|_| Errno(ENOSPC))?;
        if len > bytes.len() {
            bytes
                .try_reserve(len - bytes.len())
                .map_err(|_| Errno(ENOSPC))?;
        }
        bytes.resize(len, 0);
        self.touch(ino);
        Ok(())
    }

    /// Zeroes bytes `start..end` of a file (within its length).
    pub fn zero(&mut self, ino: Ino, start: u64, end: u64) -> Result<()> {
        let bytes = self.owned_contents(ino)?;
        let (start, end) = (start as usize, end as usize);
        bytes[start..end].fill(0);
        self.touch(ino);
        Ok(())
    }

    /// `stat` of a node.
    pub fn stat(&self, ino: Ino) -> FileStat {
        let node = self.node(ino);
        let size = match &node.kind {
            Kind::File(data) | Kind::Symlink(data) => data.bytes().len() as u64,
            Kind::Dir { .. } | Kind::Mount(_) => 4096,
            // As Linux: procfs files have no size; the others have theirs now.
            Kind::Generated(generated) if !generated.in_proc() => generated.size(),
            Kind::Device(_) | Kind::Generated(_) | Kind::FdDir | Kind::Socket => 0,
        };
        let rdev = match node.kind {
            Kind::Device(device) => device.rdev(),
            _ => 0,
        };
        FileStat {
            dev: DEVICE,
            ino: u64::from(ino) + 1,
            mode: node.type_bits() | node.mode,
            nlink: node.links,
            uid: 0,
            gid: 0,
            size,
            blocks: blocks(&node.kind),
            blksize: 4096,
            atime_ns: node.atime_ns,
            mtime_ns: node.mtime_ns,
            ctime_ns: node.ctime_ns,
            rdev,
        }
    }

    /// The entries of directory `dir` after `after` (all when `None`), in
    /// name order.
    pub fn list_after<'a>(
        &'a self,
        dir: Ino,
        after: Option<&[u8]>,
    ) -> Result<impl Iterator<Item = (&'a [u8], Ino)> + 'a> {
        use core::ops::Bound;
        let entries = self.entries(dir)?;
        let start = match after {
            Some(name) => Bound::Excluded(name.to_vec()),
            None => Bound::Unbounded,
        };
        Ok(entries
            .range((start, Bound::Unbounded))
            .map(|(name, &ino)| (name.as_slice(), ino)))
    }

    /// The canonical path of directory `dir` now, wherever it has been
    /// moved: the base of `*at` calls on a descriptor of it, as Linux's
    /// follow the directory itself. `ENOENT` once it has been removed.
    pub fn path_of(&self, dir: Ino) -> Result<Vec<u8>> {
        if self.is_removed(dir) {
            return Err(Errno(ENOENT));
        }
        let mut names = Vec::new();
        let mut at = dir;
        while at != ROOT {
            match &self.node(at).kind {
                Kind::Dir { parent, name, .. } => {
                    names.push(name.as_slice());
                    at = *parent;
                }
                _ => return Err(Errno(ENOTDIR)),
            }
        }
        Ok(path::join(names.iter().rev()))
    }

    /// A directory's parent (the root is its own).
    pub fn parent(&self, dir: Ino) -> Ino {
        match self.node(dir).kind {
            Kind::Dir { parent, .. } => parent,
            _ => ROOT,
        }
    }
}

/// A descriptor number as `/proc/<pid>/fd` names it: decimal digits,
/// no sign or leading zero.
pub fn parse_fd(name: &[u8]) -> Option<i32> {
    if name.is_empty() || (name.len() > 1 && name[0] == b'0') {
        return None;
    }
    core::str::from_utf8(name)
        .ok()?
        .parse()
        .ok()
        .filter(|fd: &i32| *fd >= 0)
}
