//! Files (feature `fs`): the descriptor table and the file operations the
//! C library's `open`, `read`, `stat`, `getdents64`... stand on.
//!
//! Three filesystems make up the guest's `/`:
//!
//! - the files `kiln build --include` baked into the image, read-only and
//!   served from the image's memory ([`tree`], filled from
//!   `kiln_abi::fs_image`);
//! - memory for everything else, `/tmp` included ([`tree`]);
//! - host volumes (`kiln run -v`), whose operations the monitor carries out
//!   beneath the host directory ([`volume`]).
//!
//! A path is made absolute and normal ([`path`]), then walked through the
//! tree; a walk that reaches a volume's mount point hands the rest of the
//! path to the monitor. Descriptors 0-2 start as the console. Pipes
//! ([`pipe`]) connect descriptors within the program, and so do Unix
//! stream pairs (`socketpair`, a pipe each way); a thread blocked on one
//! waits in the scheduler, never spinning. Epoll instances and eventfd
//! counters ([`event`]) are descriptors too, and so are inotify instances
//! ([`notify`]), which see the tree's changes.
//!
//! Errors are Linux's `errno` values, as the C library reports them.

mod event;
mod fd_links;
mod lock;
// The one part of the file layer that touches raw memory: the mappings.
#[allow(unsafe_code)]
mod mapping;
mod notify;
mod path;
mod pipe;
mod stdin;
mod system;
mod times;
mod tree;
mod volume;

use alloc::boxed::Box;
use alloc::format;
use alloc::vec::Vec;

use kiln_abi::errno::{
    EAGAIN, EBADF, EEXIST, EINVAL, EISDIR, ELOOP, EMFILE, ENOENT, ENOTDIR, EPIPE, ESPIPE, EXDEV,
};
use kiln_abi::fs_image::{FsImage, kind};
use kiln_abi::hypercall::stream;

use crate::preempt::{Lock, NoPreempt};
use crate::{platform, sched};
use pipe::Pipe;
use system::Device;
use tree::{Found, Ino, Kind, Tree};

pub use event::{Event, bits as epoll};
pub use kiln_abi::file::FileStat as Stat;
pub use mapping::{
    Request as MapRequest, layout as map_layout, map, sync as sync_mapping, unmap,
    write_back_all as write_back_mappings,
};
pub use notify::{
    add_watch as inotify_add_watch, init as inotify_init, rm_watch as inotify_rm_watch,
};
pub use system::RELEASE;

/// A Linux error number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub i32);

/// The result of a file operation.
pub type Result<T> = core::result::Result<T, Errno>;

/// Linux's open and status flags, `lseek` whence values and `*at` constants.
#[allow(missing_docs)]
pub mod flags {
    pub const O_RDONLY: i32 = 0;
    pub const O_WRONLY: i32 = 1;
    pub const O_RDWR: i32 = 2;
    pub const O_ACCMODE: i32 = 3;
    pub const O_CREAT: i32 = 0o100;
    pub const O_EXCL: i32 = 0o200;
    pub const O_TRUNC: i32 = 0o1000;
    pub const O_APPEND: i32 = 0o2000;
    pub const O_NONBLOCK: i32 = 0o4000;
    pub const O_DIRECTORY: i32 = 0o200000;
    pub const O_NOFOLLOW: i32 = 0o400000;
    pub const O_CLOEXEC: i32 = 0o2000000;
    pub const SEEK_SET: i32 = 0;
    pub const SEEK_CUR: i32 = 1;
    pub const SEEK_END: i32 = 2;
    /// "Relative to the working directory" in the `*at` calls.
    pub const AT_FDCWD: i32 = -100;
}

/// `poll` event bits.
#[allow(missing_docs)]
pub mod events {
    pub const POLLIN: i16 = 0x1;
    pub const POLLOUT: i16 = 0x4;
    pub const POLLERR: i16 = 0x8;
    pub const POLLHUP: i16 = 0x10;
    pub const POLLNVAL: i16 = 0x20;
    pub const POLLRDHUP: i16 = 0x2000;
}

use flags::*;

/// The device number `fstat` reports for pipes (the tree's is another).
const PIPE_DEVICE: u64 = 0x7069;

/// The device number `fstat` reports for sockets.
#[cfg(feature = "net")]
const SOCKET_DEVICE: u64 = 0x736f;

/// The most descriptors open at once (Linux's default soft limit): the
/// table's size, and `RLIMIT_NOFILE`'s hard limit.
pub const MAX_FDS: usize = 1024;

/// The descriptor numbers new descriptors may take, below this: `MAX_FDS`
/// unless the program lowered `RLIMIT_NOFILE`.
static DESCRIPTOR_LIMIT: core::sync::atomic::AtomicUsize =
    core::sync::atomic::AtomicUsize::new(MAX_FDS);

/// The current limit on descriptor numbers (`RLIMIT_NOFILE`'s soft limit).
pub fn descriptor_limit() -> usize {
    DESCRIPTOR_LIMIT.load(core::sync::atomic::Ordering::Relaxed)
}

/// Sets the limit on new descriptor numbers (at most [`MAX_FDS`]); open
/// descriptors above it stay open, as on Linux.
pub fn set_descriptor_limit(limit: usize) {
    DESCRIPTOR_LIMIT.store(limit.min(MAX_FDS), core::sync::atomic::Ordering::Relaxed);
}

/// What an open file description refers to.
enum Object {
    /// Console stream (`stream::STDOUT`, `stream::STDERR`; 0 for stdin).
    Console(u32),
    /// A file of the guest's tree.
    File(Ino),
    /// A device node of the tree.
    Device { ino: Ino, device: Device },
    /// A generated file of the tree, and its contents as made at `open`.
    Generated { ino: Ino, contents: Vec<u8> },
    /// A directory of the guest's tree, and how far it has been listed.
    Dir { ino: Ino, cursor: Cursor },
    /// A file or directory on a host volume.
    Volume { handle: volume::Handle },
    /// The read end of pipe `n`.
    PipeRead(usize),
    /// The write end of pipe `n`.
    PipeWrite(usize),
    /// A socket of the network stack.
    #[cfg(feature = "net")]
    Socket(crate::net::SocketId),
    /// One end of a `socketpair(AF_UNIX, SOCK_STREAM)`: it reads pipe
    /// `read` and writes pipe `write` (the other end's `read`).
    Pair { read: usize, write: usize },
    /// An epoll instance and its interest list.
    Epoll(Vec<event::Interest>),
    /// An eventfd's counter, whether it counts as a semaphore, and how
    /// many reads and writes it has seen (for edge-triggered epoll).
    EventFd {
        count: u64,
        semaphore: bool,
        changes: u64,
    },
    /// An inotify instance: its watches and queued events.
    Inotify(alloc::boxed::Box<notify::Instance>),
}

impl Object {
    /// The node of the tree it refers to, if any.
    fn node(&self) -> Option<Ino> {
        match *self {
            Object::File(ino)
            | Object::Dir { ino, .. }
            | Object::Device { ino, .. }
            | Object::Generated { ino, .. } => Some(ino),
            _ => None,
        }
    }
}

/// Where listing a directory of the tree has got to.
#[derive(Clone)]
enum Cursor {
    Dot,
    DotDot,
    After(Option<Vec<u8>>),
}

/// An open file description, shared by duplicated descriptors.
struct Description {
    object: Object,
    /// The canonical guest path it was opened by: the base of `openat` on
    /// a volume's directory (kept up to date by renames; empty once removed).
    /// A tree directory's base is found from its node instead.
    path: Vec<u8>,
    /// Access mode, `O_APPEND`, `O_NONBLOCK`.
    status: i32,
    /// The position, for files and directories of the tree.
    offset: u64,
    /// Descriptors referring to it.
    refs: u32,
}

#[derive(Clone, Copy)]
struct Fd {
    description: usize,
    cloexec: bool,
}

/// A pipe, or a free slot for one.
type PipeSlot = Option<Box<Pipe>>;

/// All file state.
struct Fs {
    tree: Tree,
    descriptions: Vec<Option<Description>>,
    fds: Vec<Option<Fd>>,
    pipes: Vec<PipeSlot>,
    /// The working directory's canonical path; empty once it is removed.
    cwd: Vec<u8>,
    /// Permission bits taken from the mode of new files and directories.
    umask: u32,
    /// Locks on the tree's files.
    locks: lock::Locks,
    /// Shared mappings of files, which the program's writes keep current.
    mappings: Vec<mapping::Mapping>,
    /// inotify's functions, once an instance has been made.
    notify_hooks: Option<&'static notify::Hooks>,
    /// What inotify keeps beside its instances.
    notify_state: notify::State,
}

static FS: Lock<Option<Fs>> = Lock::new(None);

/// Threads waiting in `poll` wait on this key; pipe activity wakes them.
static POLL_KEY: u8 = 0;

/// Threads blocked reading or writing an eventfd wait on this key.
static EVENTFD_KEY: u8 = 0;

/// Threads blocked reading an inotify instance wait on this key.
static NOTIFY_KEY: u8 = 0;

/// The device number `fstat` reports for epoll and eventfd descriptors.
const ANON_DEVICE: u64 = 0x616e;

/// Runs `f` on the file state, set up on first use. The lock is never held
/// across a wait, and threads switch only when one waits, so it is never
/// contended: found taken, it is this thread's own, inside a file call
/// that panicked or ran out of memory and is reporting it. Spinning would
/// hang the VM; a crash report says what happened.
fn with<T>(f: impl FnOnce(&mut Fs) -> T) -> T {
    let Some(mut state) = FS.try_lock() else {
        platform::report_panic(b"a file call failed inside another (out of memory?)");
    };
    f(state.get_or_insert_with(Fs::new))
}

/// The console stream of `fd`, if a file call is under way on this
/// thread (see [`with`]): a panic or allocation failure inside it is
/// being reported, and the report goes to the console directly.
fn console_while_reentered(fd: i32) -> Option<u32> {
    if !FS.is_locked() {
        return None;
    }
    match fd {
        1 => Some(stream::STDOUT),
        2 => Some(stream::STDERR),
        _ => None,
    }
}

/// A step that may have to wait for a pipe.
enum Step<T> {
    Done(Result<T>),
    /// Wait on this key, then try again.
    Block(usize),
}

/// Runs `step` until it completes, waiting (without the lock) between tries.
/// Each try and the wait after it are one critical section: a tick between
/// them could run the thread whose wake this one would then miss.
fn blocking<T>(mut step: impl FnMut(&mut Fs) -> Step<T>) -> Result<T> {
    loop {
        let _section = NoPreempt::new();
        match with(&mut step) {
            Step::Done(result) => return result,
            Step::Block(key) => {
                sched::wait(key, u64::MAX);
            }
        }
    }
}

fn wake_pipe_waiters(key: usize) {
    sched::wake(key, usize::MAX);
    event::changed();
    sched::wake(&raw const POLL_KEY as usize, usize::MAX);
}

/// Wakes the readers of inotify instances, and `poll` and epoll waiters.
fn wake_notify_readers() {
    wake_pipe_waiters(&raw const NOTIFY_KEY as usize);
}

/// Where an entry-changing call (`mkdir`, `unlink`, `rename`...) points.
enum Entry {
    /// `name` in directory `dir` of the tree.
    Tree { dir: Ino, name: Vec<u8> },
    /// A path beneath a volume's root (empty for the root itself).
    Volume { volume: u32, rest: Vec<u8> },
    /// A path ending in `.`, `..` or nothing but `/`: an existing directory
    /// but no name to change (each call has its own errno for that).
    Unnamed(path::Last),
}

impl Fs {
    fn new() -> Self {
        let mut tree = Tree::new();
        match FsImage::parse(platform::baked_files()) {
            Ok(image) => tree.add_baked(&image),
            Err(_) if platform::baked_files().is_empty() => {}
            Err(error) => {
                let mut text = crate::fixed_text::FixedText::<96>::new();
                let _ = core::fmt::write(&mut text, format_args!("kiln: {error}; ignored\n"));
                platform::console_write(stream::STDERR, text.as_bytes());
            }
        }
        for (index, (guest_path, _read_only)) in platform::volumes().enumerate() {
            if let Ok(components) = path::normalize(b"/", guest_path)
                && !components.contains(&&b".."[..])
            {
                tree.mount(&components, index as u32);
            }
        }
        system::add(&mut tree);
        let mut fs = Self {
            tree,
            descriptions: Vec::new(),
            fds: Vec::new(),
            pipes: Vec::new(),
            cwd: b"/".to_vec(),
            // Linux's usual default, so new files are 0o644, directories 0o755.
            umask: 0o022,
            locks: lock::Locks::default(),
            mappings: Vec::new(),
            notify_hooks: None,
            notify_state: notify::State::default(),
        };
        for (fd, stream) in [(0, 0), (1, stream::STDOUT), (2, stream::STDERR)] {
            let status = if fd == 0 { O_RDONLY } else { O_WRONLY };
            let _ = fs.install(Object::Console(stream), Vec::new(), status, fd, false);
        }
        fs
    }

    /// Adds a description and the lowest free descriptor at or above `min`.
    fn install(
        &mut self,
        object: Object,
        path: Vec<u8>,
        status: i32,
        min: usize,
        cloexec: bool,
    ) -> Result<i32> {
        let fd = self.free_fd(min)?;
        let description = Description {
            object,
            path,
            status,
            offset: 0,
            refs: 1,
        };
        let slot = match self.descriptions.iter().position(Option::is_none) {
            Some(slot) => slot,
            None => {
                self.descriptions.push(None);
                self.descriptions.len() - 1
            }
        };
        self.descriptions[slot] = Some(description);
        self.set_fd(fd, slot, cloexec);
        Ok(fd as i32)
    }

    fn free_fd(&self, min: usize) -> Result<usize> {
        (min..descriptor_limit())
            .find(|&fd| self.fds.get(fd).is_none_or(Option::is_none))
            .ok_or(Errno(EMFILE))
    }

    fn set_fd(&mut self, fd: usize, description: usize, cloexec: bool) {
        if self.fds.len() <= fd {
            self.fds.resize(fd + 1, None);
        }
        self.fds[fd] = Some(Fd {
            description,
            cloexec,
        });
    }

    fn fd(&self, fd: i32) -> Result<Fd> {
        usize::try_from(fd)
            .ok()
            .and_then(|fd| self.fds.get(fd).copied().flatten())
            .ok_or(Errno(EBADF))
    }

    /// A descriptor's description, with the tree and the pipes beside it.
    fn split(&mut self, fd: i32) -> Result<(&mut Description, &mut Tree, &mut [PipeSlot])> {
        let index = self.fd(fd)?.description;
        let Fs {
            tree,
            descriptions,
            pipes,
            ..
        } = self;
        let description = descriptions[index]
            .as_mut()
            .expect("descriptors refer to live descriptions");
        Ok((description, tree, pipes))
    }

    fn description(&mut self, fd: i32) -> Result<&mut Description> {
        let index = self.fd(fd)?.description;
        Ok(self.descriptions[index]
            .as_mut()
            .expect("descriptors refer to live descriptions"))
    }

    /// How many changes description `index` has seen, for edge-triggered
    /// epoll: a pipe's or an eventfd's own count; `shared` (the count of
    /// every wake of `poll`'s waiters) for sockets and the rest.
    fn generation(&self, index: usize, shared: u64) -> u64 {
        match self.descriptions[index].as_ref().map(|d| &d.object) {
            Some(Object::PipeRead(n) | Object::PipeWrite(n) | Object::Pair { read: n, .. }) => {
                self.pipes[*n].as_ref().map_or(shared, |pipe| pipe.changes)
            }
            Some(Object::EventFd { changes, .. }) => *changes,
            Some(Object::Inotify(instance)) => instance.changes,
            _ => shared,
        }
    }

    /// Closes pipe `n`'s read end (`reading`) or write end, waking its
    /// waiters; the pipe goes with its last end.
    fn close_pipe_end(&mut self, n: usize, reading: bool) {
        let pipe = self.pipes[n].as_mut().expect("open ends keep their pipe");
        if reading {
            pipe.readers -= 1;
        } else {
            pipe.writers -= 1;
        }
        pipe.changes += 1;
        wake_pipe_waiters(pipe.key());
        if pipe.readers == 0 && pipe.writers == 0 {
            self.pipes[n] = None;
        }
    }

    /// Drops one reference to a description, releasing what it holds with the last.
    fn release(&mut self, index: usize) {
        let description = self.descriptions[index]
            .as_mut()
            .expect("descriptors refer to live descriptions");
        description.refs -= 1;
        if description.refs > 0 {
            return;
        }
        let description = self.descriptions[index].take().expect("checked above");
        if self.locks.release(lock::Owner::Description(index), None) {
            lock::wake_waiters();
        }
        match description.object {
            Object::Console(_) => {}
            Object::File(ino)
            | Object::Dir { ino, .. }
            | Object::Device { ino, .. }
            | Object::Generated { ino, .. } => {
                self.notify_closing(ino, description.status & O_ACCMODE != O_RDONLY);
                self.tree.closed(ino);
                self.notify_closed(ino);
            }
            Object::Volume { handle } => volume::close(handle),
            Object::PipeRead(n) => self.close_pipe_end(n, true),
            Object::PipeWrite(n) => self.close_pipe_end(n, false),
            #[cfg(feature = "net")]
            Object::Socket(id) => {
                if let Some(net) = crate::net::hooks() {
                    (net.close)(id);
                }
            }
            Object::Pair { read, write } => {
                self.close_pipe_end(read, true);
                self.close_pipe_end(write, false);
            }
            Object::Epoll(_) | Object::EventFd { .. } | Object::Inotify(_) => {}
        }
        // As Linux: closing a description's last descriptor takes it out
        // of every epoll interest list.
        for description in self.descriptions.iter_mut().flatten() {
            if let Object::Epoll(interests) = &mut description.object {
                interests.retain(|interest| interest.description != index);
            }
        }
    }

    /// The directory `path` in an `*at` call starts from. An empty path is
    /// `ENOENT` and an absolute one ignores `dirfd`, as on Linux.
    fn base(&mut self, dirfd: i32, path: &[u8]) -> Result<Vec<u8>> {
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
    fn locate(&mut self, dirfd: i32, path: &[u8], follow: bool) -> Result<(Vec<u8>, Found)> {
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
    fn entry(&mut self, dirfd: i32, path: &[u8]) -> Result<Entry> {
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
    fn entry_type(&self, entry: &Entry) -> Result<u32> {
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

    fn open(&mut self, dirfd: i32, path: &[u8], flags: i32, mode: u32) -> Result<i32> {
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

    /// `read(2)`, reporting an access to a node of the tree to inotify.
    fn read(&mut self, fd: i32, buf: &mut [u8], at: Option<u64>) -> Step<usize> {
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
    fn write(&mut self, fd: i32, data: &[u8], at: Option<u64>) -> Step<usize> {
        let step = self.write_mapped(fd, data, at);
        if let Step::Done(Ok(1..)) = step {
            self.notify_fd(fd, notify::mask::MODIFY);
        }
        step
    }

    fn read_object(&mut self, fd: i32, buf: &mut [u8], at: Option<u64>) -> Step<usize> {
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
    fn write_mapped(&mut self, fd: i32, data: &[u8], at: Option<u64>) -> Step<usize> {
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
                Object::File(ino) if d.status & O_APPEND != 0 => {
                    Some(self.tree.contents(ino).len() as u64)
                }
                Object::File(_) => Some(at.unwrap_or(d.offset)),
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
    fn write_object(&mut self, fd: i32, data: &[u8], at: Option<u64>, mapped: bool) -> Step<usize> {
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
                platform::console_write(stream, data);
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
                // As Linux: with `O_APPEND`, even `pwrite` appends.
                let offset = if description.status & O_APPEND != 0 {
                    tree.contents(ino).len() as u64
                } else {
                    at.unwrap_or(description.offset)
                };
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

    /// The canonical path of what `path` leads to (following links, on
    /// the host's side too), and its status.
    fn canonical(&mut self, path: &[u8]) -> Result<(Vec<u8>, Stat)> {
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
    fn moved(&mut self, from: &[u8], to: Option<&[u8]>) {
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

    /// Whether a write to `fd` goes on until all is written: a blocking
    /// pipe's does; other writes may be short.
    fn writes_all(&mut self, fd: i32) -> bool {
        self.description(fd).is_ok_and(|d| {
            matches!(d.object, Object::PipeWrite(_) | Object::Pair { .. })
                && d.status & O_NONBLOCK == 0
        })
    }

    fn seek(&mut self, fd: i32, offset: i64, whence: i32) -> Result<u64> {
        let (description, tree, _) = self.split(fd)?;
        match &mut description.object {
            Object::Console(_) | Object::PipeRead(_) | Object::PipeWrite(_) => Err(Errno(ESPIPE)),
            #[cfg(feature = "net")]
            Object::Socket(_) => Err(Errno(ESPIPE)),
            Object::Epoll(_)
            | Object::EventFd { .. }
            | Object::Inotify(_)
            | Object::Pair { .. } => Err(Errno(ESPIPE)),
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
fn in_range(offset: Option<u64>, len: usize) -> Result<()> {
    let end = offset.map_or(Some(0), |offset| offset.checked_add(len as u64));
    match end {
        Some(end) if end <= i64::MAX as u64 => Ok(()),
        _ => Err(Errno(EINVAL)),
    }
}

/// `openat(2)`: `path` relative to `dirfd` (or [`flags::AT_FDCWD`]).
pub fn open(dirfd: i32, path: &[u8], flags: i32, mode: u32) -> Result<i32> {
    with(|fs| fs.open(dirfd, path, flags, mode))
}

pub use kiln_abi::file::FileLock;
pub use lock::{flock, record, record_lock};
pub use stdin::{ready as stdin_ready, watched as stdin_watched};
pub use times::{advise, set_times, sync_range};

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

/// `fstat(2)`.
pub fn fstat(fd: i32) -> Result<Stat> {
    with(|fs| fs.fd_stat(fd))
}

impl Fs {
    /// The status of what descriptor `fd` refers to.
    fn fd_stat(&mut self, fd: i32) -> Result<Stat> {
        let (description, tree, _) = self.split(fd)?;
        Ok(match description.object {
            Object::Console(_) => Stat {
                mode: 0o020000 | 0o620,
                nlink: 1,
                blksize: 1024,
                ..Stat::default()
            },
            #[cfg(feature = "net")]
            Object::Socket(id) => Stat {
                mode: 0o140000 | 0o777,
                nlink: 1,
                ino: id as u64 + 1,
                dev: SOCKET_DEVICE,
                blksize: 4096,
                ..Stat::default()
            },
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
            Object::Pair { read, .. } => Stat {
                mode: 0o140000 | 0o777,
                nlink: 1,
                ino: read as u64 + 1,
                dev: PIPE_DEVICE,
                blksize: 4096,
                ..Stat::default()
            },
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
fn volume_stat(volume: u32, rest: &[u8], path: &[u8], follow: bool) -> Result<Stat> {
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
/// descriptor `dirfd` refers to. Baked files are read-only (`EROFS`). The monitor
/// cannot change a host file's mode, so on a volume only a change to the
/// mode it already has succeeds (as `std::fs::copy` asks), others are
/// `EPERM`; so are pipes and the console.
pub fn chmod(dirfd: i32, path: &[u8], mode: u32) -> Result<()> {
    with(|fs| {
        let found = if path.is_empty() {
            match fs.description(dirfd)?.object {
                Object::File(ino) | Object::Dir { ino, .. } => Found::Node(ino),
                Object::Volume { handle } => {
                    return volume_chmod(volume::stat_handle(handle)?, mode);
                }
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
            Found::Volume { volume, rest } => {
                volume_chmod(volume_stat(volume, &rest, path, true)?, mode)
            }
            Found::Fd { .. } => Err(Errno(kiln_abi::errno::EPERM)),
            Found::Missing { .. } => Err(Errno(ENOENT)),
        }
    })
}

/// `chmod` of a volume's file, whose status is `stat`: see [`chmod`].
fn volume_chmod(stat: Stat, mode: u32) -> Result<()> {
    if stat.mode & 0o7777 == mode & 0o7777 {
        Ok(())
    } else {
        Err(Errno(kiln_abi::errno::EPERM))
    }
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

/// Appends one `linux_dirent64` record to `buf` at `at`; `None` if it does not fit.
fn put_dirent(
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
fn next_entry(
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
fn unnamed_unlink_error(last: path::Last, directory: bool) -> i32 {
    match (directory, last) {
        (false, _) => EISDIR,
        (true, path::Last::Dot) => EINVAL,
        (true, path::Last::DotDot) => kiln_abi::errno::ENOTEMPTY,
        (true, _) => kiln_abi::errno::EBUSY,
    }
}

/// `renameat(2)`. Moving between the tree and a volume, or between two
/// volumes, is `EXDEV`, as between two Linux filesystems.
pub fn rename(from_dirfd: i32, from: &[u8], to_dirfd: i32, to: &[u8]) -> Result<()> {
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
                fs.tree.rename(a, &x, b, &y)?;
                if let Ok(source) = moving
                    && replaced != Some(source)
                {
                    fs.notify_renamed((a, &x), (b, &y), source, replaced);
                }
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
        let index = match fs.pipes.iter().position(Option::is_none) {
            Some(index) => index,
            None => {
                fs.pipes.push(None);
                fs.pipes.len() - 1
            }
        };
        fs.pipes[index] = Some(Box::new(Pipe::new()));
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

/// Which of `wanted`'s `poll` events `fd` has now (`POLLNVAL` if it is not open).
pub fn poll_ready(fd: i32, wanted: i16) -> i16 {
    use events::*;
    #[cfg(feature = "net")]
    if let Ok((id, _)) = socket(fd) {
        return crate::net::hooks().map_or(POLLNVAL, |net| (net.poll_ready)(id, wanted));
    }
    with(|fs| {
        let Ok((description, _, pipes)) = fs.split(fd) else {
            return POLLNVAL;
        };
        match description.object {
            Object::Console(0) => stdin::poll(wanted),
            Object::Console(_) => wanted & POLLOUT,
            Object::PipeRead(n) => {
                let pipe = pipes[n].as_ref().expect("open ends keep their pipe");
                let mut ready = if pipe.buffered() > 0 {
                    wanted & POLLIN
                } else {
                    0
                };
                if pipe.writers == 0 {
                    ready |= POLLHUP;
                }
                ready
            }
            Object::PipeWrite(n) => {
                let pipe = pipes[n].as_ref().expect("open ends keep their pipe");
                let mut ready = if pipe.has_room() { wanted & POLLOUT } else { 0 };
                if pipe.readers == 0 {
                    ready |= POLLERR;
                }
                ready
            }
            // Asked below, without the file lock.
            #[cfg(feature = "net")]
            Object::Socket(_) => 0,
            Object::EventFd { count, .. } => {
                let mut ready = if count > 0 { wanted & POLLIN } else { 0 };
                if count < event::EVENTFD_MAX {
                    ready |= wanted & POLLOUT;
                }
                ready
            }
            Object::Pair { read, write } => {
                let incoming = pipes[read].as_ref().expect("open ends keep their pipe");
                let outgoing = pipes[write].as_ref().expect("open ends keep their pipe");
                let mut ready = 0;
                if incoming.buffered() > 0 || incoming.writers == 0 {
                    ready |= wanted & POLLIN;
                }
                if outgoing.has_room() || outgoing.readers == 0 {
                    ready |= wanted & POLLOUT;
                }
                if incoming.writers == 0 && outgoing.readers == 0 {
                    ready |= POLLHUP;
                }
                ready
            }
            Object::Inotify(ref instance) if instance.is_readable() => wanted & POLLIN,
            Object::Inotify(_) => 0,
            // Nested epoll instances are not supported: never ready.
            Object::Epoll(_) => 0,
            _ => wanted & (POLLIN | POLLOUT),
        }
    })
}

/// Carries out deferred volume writes and closes now: before the vCPU idles
/// and before the program ends, so the host sees what was written.
pub fn flush() {
    volume::flush_if_idle();
}

/// Waits until a pipe changes or `deadline` (ns since boot) passes, for `poll`.
pub fn wait_for_change(deadline: u64) {
    sched::wait(&raw const POLL_KEY as usize, deadline);
}

/// Wakes the threads waiting in `poll`.
#[cfg(feature = "net")]
pub(crate) fn wake_pollers() {
    event::changed();
    sched::wake(&raw const POLL_KEY as usize, usize::MAX);
}

/// The stack's entry points: a socket descriptor exists only after
/// `socket()` put them in place.
#[cfg(feature = "net")]
fn net_hooks() -> Result<&'static crate::net::Hooks> {
    crate::net::hooks().ok_or(Errno(EBADF))
}

/// The socket `fd` refers to, and whether it is non-blocking
/// (`ENOTSOCK` for another kind of descriptor).
#[cfg(feature = "net")]
pub fn socket(fd: i32) -> Result<(crate::net::SocketId, bool)> {
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
pub fn install_socket(id: crate::net::SocketId, flags: i32) -> Result<i32> {
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
        && let Some(net) = crate::net::hooks()
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

/// `epoll_create1(2)` (`cloexec`: `EPOLL_CLOEXEC`).
pub fn epoll_create(cloexec: bool) -> Result<i32> {
    with(|fs| fs.install(Object::Epoll(Vec::new()), Vec::new(), O_RDWR, 0, cloexec))
}

/// `epoll_ctl(2)`: `op` is `EPOLL_CTL_ADD`, `_MOD` or `_DEL`; `events`
/// and `data` are the `epoll_event` (ignored for `_DEL`).
pub fn epoll_ctl(epfd: i32, op: i32, fd: i32, events: u32, data: u64) -> Result<()> {
    use event::bits::*;
    let result = with(|fs| {
        let target = fs.fd(fd)?.description;
        let own = fs.fd(epfd)?.description;
        let target_object = &fs.descriptions[target]
            .as_ref()
            .expect("descriptors refer to live descriptions")
            .object;
        // As Linux: regular files and directories cannot be watched.
        if matches!(
            target_object,
            Object::File(_) | Object::Dir { .. } | Object::Volume { .. }
        ) {
            return Err(Errno(kiln_abi::errno::EPERM));
        }
        let nested = matches!(target_object, Object::Epoll(_));
        let description = fs.descriptions[own]
            .as_mut()
            .expect("descriptors refer to live descriptions");
        let Object::Epoll(interests) = &mut description.object else {
            return Err(Errno(EINVAL));
        };
        if fd == epfd || (nested && op != EPOLL_CTL_DEL) {
            return Err(Errno(EINVAL));
        }
        let found = interests
            .iter()
            .position(|i| i.fd == fd && i.description == target);
        match (op, found) {
            (EPOLL_CTL_ADD, Some(_)) => Err(Errno(EEXIST)),
            (EPOLL_CTL_ADD, None) => {
                interests.push(event::Interest {
                    fd,
                    description: target,
                    events,
                    data,
                    reported: 0,
                    epoch: 0,
                });
                Ok(())
            }
            (EPOLL_CTL_MOD, Some(at)) => {
                let interest = &mut interests[at];
                interest.events = events;
                interest.data = data;
                interest.reported = 0;
                Ok(())
            }
            (EPOLL_CTL_DEL, Some(at)) => {
                interests.remove(at);
                Ok(())
            }
            (EPOLL_CTL_MOD | EPOLL_CTL_DEL, None) => Err(Errno(ENOENT)),
            _ => Err(Errno(EINVAL)),
        }
    });
    // As Linux: a descriptor that is ready already when it is added (or
    // changed) wakes the threads waiting in `epoll_wait`, which look again.
    // A loopback connection can be made before the program registers it,
    // and then nothing else would change to wake them.
    if result.is_ok() && op != EPOLL_CTL_DEL {
        event::changed();
        sched::wake(&raw const POLL_KEY as usize, usize::MAX);
    }
    result
}

/// `epoll_wait(2)`: fills `out` with the ready registrations, waiting
/// until one is ready or `deadline` (ns since boot) passes (then 0).
pub fn epoll_wait(epfd: i32, out: &mut [Event], deadline: u64) -> Result<usize> {
    if out.is_empty() {
        return Err(Errno(EINVAL));
    }
    loop {
        let start = event::changes();
        let watched: Vec<(i32, i16)> = with(|fs| match &fs.description(epfd)?.object {
            Object::Epoll(interests) => Ok(interests
                .iter()
                .map(|i| (i.fd, event::poll_wanted(i.events)))
                .collect()),
            _ => Err(Errno(EINVAL)),
        })?;
        // Asked without the file lock: a socket's readiness takes it.
        let ready: Vec<i16> = watched
            .iter()
            .map(|&(fd, wanted)| poll_ready(fd, wanted))
            .collect();
        let count = with(|fs| {
            let Ok(index) = fs.fd(epfd).map(|fd| fd.description) else {
                return 0;
            };
            let Some(Description {
                object: Object::Epoll(interests),
                ..
            }) = &fs.descriptions[index]
            else {
                return 0;
            };
            // What has changed each registered description since its last
            // report: sockets share the stack's count, read before asking.
            let generations: Vec<u64> = interests
                .iter()
                .map(|interest| fs.generation(interest.description, start))
                .collect();
            let Some(Description {
                object: Object::Epoll(interests),
                ..
            }) = &mut fs.descriptions[index]
            else {
                return 0;
            };
            let mut count = 0;
            for ((interest, &ready), &generation) in
                interests.iter_mut().zip(&ready).zip(&generations)
            {
                if count == out.len() {
                    break;
                }
                let events = interest.report(ready & !events::POLLNVAL, generation);
                if events != 0 {
                    out[count] = Event {
                        events,
                        data: interest.data,
                    };
                    count += 1;
                }
            }
            count
        });
        if count > 0 || crate::time::Instant::now().as_nanos_since_boot() >= deadline {
            return Ok(count);
        }
        // Something changed while looking: look again before waiting. No
        // tick may come between this check and the wait (a change it let
        // run would wake nobody).
        let _section = NoPreempt::new();
        if event::changes() == start {
            wait_for_change(deadline);
        }
    }
}

/// `socketpair(AF_UNIX, SOCK_STREAM)` (`flags`: `O_NONBLOCK`, `O_CLOEXEC`):
/// two connected ends, a pipe each way, within the program.
pub fn socketpair(flags: i32) -> Result<[i32; 2]> {
    with(|fs| {
        let first = fs.free_fd(0)?;
        if fs.free_fd(first + 1).is_err() {
            return Err(Errno(EMFILE));
        }
        let new_pipe = |fs: &mut Fs| {
            let index = match fs.pipes.iter().position(Option::is_none) {
                Some(index) => index,
                None => {
                    fs.pipes.push(None);
                    fs.pipes.len() - 1
                }
            };
            fs.pipes[index] = Some(Box::new(Pipe::new()));
            index
        };
        let there = new_pipe(fs);
        let back = new_pipe(fs);
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
