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
//! This module holds the descriptor table (descriptions and what they
//! refer to); the calls on it are split by job: [`io`], [`paths`],
//! [`metadata`], [`descriptors`] and [`readiness`].
//!
//! Errors are Linux's `errno` values, as the C library reports them.

mod descriptors;
mod event;
mod fd_links;
mod io;
mod lock;
mod metadata;
// The one part of the file layer that touches raw memory: the mappings.
#[allow(unsafe_code)]
mod mapping;
mod notify;
mod path;
mod paths;
mod pipe;
mod readiness;
mod stdin;
mod system;
mod times;
mod tree;
mod unix;
mod volume;

use alloc::boxed::Box;
use alloc::format;
use alloc::vec::Vec;

use kiln_abi::errno::{
    EADDRINUSE, EAGAIN, EBADF, ECONNREFUSED, EEXIST, EINVAL, EISCONN, EISDIR, ELOOP, EMFILE,
    ENOENT, ENOTCONN, ENOTDIR, ENOTSOCK, ENOTSUP, EPIPE, ESPIPE, EXDEV,
};
use kiln_abi::fs_image::{FsImage, kind};
use kiln_abi::hypercall::stream;

use crate::preempt::{Lock, held_here, lock_unless_reentered};
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

pub use descriptors::{
    cloexec, close, dup, dup_to, eventfd, is_pair, is_terminal, pipe, set_cloexec, set_status,
    socketpair, status,
};
#[cfg(feature = "net")]
pub use descriptors::{install_socket, socket};
pub use io::{allocate, fsync, read, read_ready, seek, truncate, write};
pub use kiln_abi::file::FileLock;
pub use lock::{flock, record, record_lock};
pub use metadata::{access, chmod, fstat, stat};
pub use paths::{
    Existing, canonicalize, chdir, cwd, mkdir, open, read_dir, readlink, rename, symlink, umask,
    unlink,
};
pub use readiness::{epoll_create, epoll_ctl, epoll_wait, poll_ready};
pub use stdin::{ready as stdin_ready, watched as stdin_watched};
pub use times::{advise, set_times, sync_range};
pub use unix::{
    is_unix, unix_accept, unix_bind, unix_connect, unix_listen, unix_name, unix_socket,
};

pub use crate::fd::{Errno, Result, changes, events, wait_for_change};

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
    Socket(crate::fd::SocketId),
    /// One end of a `socketpair(AF_UNIX, SOCK_STREAM)`, or of a connected
    /// Unix-domain stream: it reads pipe `read` and writes pipe `write`
    /// (the other end's `read`).
    Pair { read: usize, write: usize },
    /// A Unix-domain socket not connected (yet).
    Unix(unix::Unix),
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
    tree: LazyTree,
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
    /// The listening Unix-domain socket names (a few: a list keeps every
    /// program's image small, which a map's removal code would not).
    listeners: Vec<unix::Listener>,
}

static FS: Lock<Option<Fs>> = Lock::new(None);

/// Threads blocked reading or writing an eventfd wait on this key.
static EVENTFD_KEY: u8 = 0;

/// Threads blocked reading an inotify instance wait on this key.
static NOTIFY_KEY: u8 = 0;

/// The device number `fstat` reports for epoll and eventfd descriptors.
const ANON_DEVICE: u64 = 0x616e;

/// Runs `f` on the file state, set up on first use. The lock is never held
/// across a wait; another vCPU may hold it for a moment, but found held on
/// this vCPU it is this thread's own, inside a file call that panicked or
/// ran out of memory and is reporting it. Spinning would hang the VM; a
/// crash report says what happened.
fn with<T>(f: impl FnOnce(&mut Fs) -> T) -> T {
    f(&mut locked())
}

/// The file state, locked and set up on first use: one copy of that code,
/// not one in each of the file calls' `with`.
#[inline(never)]
fn locked() -> lock_api::MappedMutexGuard<'static, crate::preempt::RawLock, Fs> {
    let Some(state) = lock_unless_reentered(&FS) else {
        platform::report_panic(b"a file call failed inside another (out of memory?)");
    };
    lock_api::MutexGuard::map(state, |state| state.get_or_insert_with(Fs::new))
}

/// The console stream of `fd`, if a file call is under way on this
/// thread (see [`with`]): a panic or allocation failure inside it is
/// being reported, and the report goes to the console directly.
fn console_while_reentered(fd: i32) -> Option<u32> {
    if !held_here(&FS) {
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
fn blocking<T>(mut step: impl FnMut(&mut Fs) -> Step<T>) -> Result<T> {
    sched::until_done(|| match with(&mut step) {
        Step::Done(result) => sched::Try::Done(result),
        Step::Block(key) => sched::Try::Wait {
            key,
            deadline: u64::MAX,
        },
    })
}

fn wake_pipe_waiters(key: usize) {
    sched::wake(key, usize::MAX);
    crate::fd::wake_pollers();
}

/// Wakes the readers of inotify instances, and `poll` and epoll waiters.
fn wake_notify_readers() {
    wake_pipe_waiters(&raw const NOTIFY_KEY as usize);
}

/// The tree, built by the first call that needs it: descriptors 0-2, the
/// console, do not, and `std`'s start-up polls them, so a program that
/// opens no path never builds `/`, `/tmp`, the baked files and the system's
/// generated files (a dozen pages touched, ~0.2 ms on kvm_pvm). Like the
/// file state it belongs to, it is never dropped: no drop code for it.
#[derive(Default)]
struct LazyTree(core::cell::OnceCell<core::mem::ManuallyDrop<Tree>>);

impl core::ops::Deref for LazyTree {
    type Target = Tree;

    // Out of line: dozens of callers, and the build is a cold path.
    #[inline(never)]
    fn deref(&self) -> &Tree {
        self.0
            .get_or_init(|| core::mem::ManuallyDrop::new(build_tree()))
    }
}

impl core::ops::DerefMut for LazyTree {
    #[inline(never)]
    fn deref_mut(&mut self) -> &mut Tree {
        let _ = &**self;
        self.0.get_mut().expect("built just above")
    }
}

/// `/`: `/tmp`, the baked files, the volumes' mount points and the system's
/// generated files.
fn build_tree() -> Tree {
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
    tree
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
        let mut fs = Self {
            tree: LazyTree::default(),
            descriptions: Vec::new(),
            fds: Vec::new(),
            pipes: Vec::new(),
            cwd: crate::platform::workdir().to_vec(),
            // Linux's usual default, so new files are 0o644, directories 0o755.
            umask: 0o022,
            locks: lock::Locks::default(),
            mappings: Vec::new(),
            notify_hooks: None,
            notify_state: notify::State::default(),
            listeners: Vec::new(),
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

    /// A descriptor's description, with the tree (built only if used) and
    /// the pipes beside it.
    fn split(&mut self, fd: i32) -> Result<(&mut Description, &mut LazyTree, &mut [PipeSlot])> {
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
                if let Some(net) = crate::fd::socket_hooks() {
                    (net.close)(id);
                }
            }
            Object::Pair { read, write } => {
                self.close_pipe_end(read, true);
                self.close_pipe_end(write, false);
            }
            // The name stays in the tree, as on Linux.
            Object::Unix(unix::Unix::Listening { ino, .. }) => self.stop_listening(ino),
            Object::Unix(_) | Object::Epoll(_) | Object::EventFd { .. } | Object::Inotify(_) => {}
        }
        // As Linux: closing a description's last descriptor takes it out
        // of every epoll interest list.
        for description in self.descriptions.iter_mut().flatten() {
            if let Object::Epoll(interests) = &mut description.object {
                interests.retain(|interest| interest.description != index);
            }
        }
    }
}

/// Carries out deferred volume writes and closes now: before the vCPU idles
/// and before the program ends, so the host sees what was written.
pub fn flush() {
    volume::flush_if_idle();
}

/// The stack's entry points: a socket descriptor exists only after
/// `socket()` put them in place.
#[cfg(feature = "net")]
fn net_hooks() -> Result<&'static crate::fd::SocketHooks> {
    crate::fd::socket_hooks().ok_or(Errno(EBADF))
}
