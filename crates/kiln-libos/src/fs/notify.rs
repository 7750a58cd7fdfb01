//! inotify: watches on the guest's own tree (memory, baked and system
//! files), with Linux's events, in Linux's order.
//!
//! The tree's changes all happen in the guest, so every one is seen: each
//! file call that changes (or opens, reads, closes) a node tells
//! [`record`], which queues an event on the instances watching the node or
//! its directory. Files on a host volume change on the host unseen, so a
//! watch there is refused (`EOPNOTSUPP`) rather than left silent.
//!
//! [`record`], reading and readiness are reached through [`Hooks`], which
//! the first `inotify_init1` installs: a program that never makes an
//! instance does not link them.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;

use kiln_abi::errno::{EEXIST, EINVAL, ENOENT, ENOSPC, ENOTDIR, ENOTSUP};

use super::tree::{Found, Ino, Kind, Tree};
use super::{Description, Errno, Fs, Object, Result};

/// inotify's mask bits (`IN_*`).
pub mod mask {
    pub const ACCESS: u32 = 0x1;
    pub const MODIFY: u32 = 0x2;
    pub const ATTRIB: u32 = 0x4;
    pub const CLOSE_WRITE: u32 = 0x8;
    pub const CLOSE_NOWRITE: u32 = 0x10;
    pub const OPEN: u32 = 0x20;
    pub const MOVED_FROM: u32 = 0x40;
    pub const MOVED_TO: u32 = 0x80;
    pub const CREATE: u32 = 0x100;
    pub const DELETE: u32 = 0x200;
    pub const DELETE_SELF: u32 = 0x400;
    pub const MOVE_SELF: u32 = 0x800;
    pub const Q_OVERFLOW: u32 = 0x4000;
    pub const IGNORED: u32 = 0x8000;
    pub const ONLYDIR: u32 = 0x0100_0000;
    pub const DONT_FOLLOW: u32 = 0x0200_0000;
    pub const EXCL_UNLINK: u32 = 0x0400_0000;
    pub const MASK_CREATE: u32 = 0x1000_0000;
    pub const MASK_ADD: u32 = 0x2000_0000;
    pub const ISDIR: u32 = 0x4000_0000;
    pub const ONESHOT: u32 = 0x8000_0000;
    /// Every event a watch can ask for.
    pub const ALL_EVENTS: u32 = 0xfff;
}

/// Linux's default `max_queued_events`: past it, one `IN_Q_OVERFLOW`.
const MAX_QUEUED: usize = 16384;
/// Linux's smallest `max_user_watches`.
const MAX_WATCHES: usize = 8192;
/// Linux's default `max_user_instances`.
const MAX_INSTANCES: usize = 128;
/// `struct inotify_event` without its name.
const EVENT_HEADER: usize = 16;

/// inotify's functions, installed with the first instance.
pub(super) struct Hooks {
    pub record: fn(&mut Fs, Change<'_>),
    pub read: fn(&mut Instance, &mut [u8]) -> Result<usize>,
}

static HOOKS: Hooks = Hooks {
    record,
    read: Instance::read,
};

/// What the file calls keep for inotify beside the instances.
#[derive(Default)]
pub(super) struct State {
    /// Names of removed nodes still open, by node: their events still
    /// name them in their old directory, as a Linux dentry does.
    detached: Vec<(Ino, Ino, Vec<u8>)>,
    /// The last rename cookie given.
    cookie: u32,
}

/// One instance (an inotify descriptor's description): its watches and
/// the events not read yet.
pub(super) struct Instance {
    watches: Vec<Watch>,
    queue: VecDeque<Event>,
    /// The last watch descriptor given (they are not reused, as Linux's
    /// cyclic numbering does not reuse them soon).
    last_wd: i32,
    /// Events queued and read, for edge-triggered epoll.
    pub changes: u64,
}

struct Watch {
    wd: i32,
    ino: Ino,
    mask: u32,
}

struct Event {
    wd: i32,
    mask: u32,
    cookie: u32,
    name: Vec<u8>,
}

impl Event {
    /// `len` of its `struct inotify_event`: the name, its NUL and padding
    /// to a multiple of the header's size, as Linux pads it.
    fn name_len(&self) -> usize {
        match self.name.len() {
            0 => 0,
            n => (n + 1).div_ceil(EVENT_HEADER) * EVENT_HEADER,
        }
    }
}

/// A change to the tree, for [`record`].
pub(super) enum Change<'a> {
    /// Node `ino` was opened, read, written, closed or had its attributes
    /// changed (`mask`): its own watches see it, and so do its
    /// directory's, with its name there.
    Node { ino: Ino, is_dir: bool, mask: u32 },
    /// Something only node `ino`'s own watches see: a link count change,
    /// its deletion, its move.
    Own { ino: Ino, mask: u32 },
    /// Entry `name` of directory `dir` was created, deleted or moved
    /// (`cookie` pairs a rename's two events).
    Entry {
        dir: Ino,
        name: &'a [u8],
        is_dir: bool,
        mask: u32,
        cookie: u32,
    },
    /// Node `ino` lost its name `name` in `dir` but is still open.
    Detached { ino: Ino, dir: Ino, name: &'a [u8] },
    /// Node `ino` is gone: its watches end (`IN_IGNORED`).
    Gone(Ino),
}

impl Instance {
    fn new() -> Self {
        Self {
            watches: Vec::new(),
            queue: VecDeque::new(),
            last_wd: 0,
            changes: 0,
        }
    }

    pub fn is_readable(&self) -> bool {
        !self.queue.is_empty()
    }

    /// Queues an event, unless it repeats the last one not read yet (Linux
    /// merges those); past [`MAX_QUEUED`], one overflow event instead.
    fn queue(&mut self, event: Event) {
        if let Some(last) = self.queue.back()
            && last.mask & mask::IGNORED == 0
            && (last.wd, last.mask, &last.name) == (event.wd, event.mask, &event.name)
        {
            return;
        }
        self.changes += 1;
        if self.queue.len() < MAX_QUEUED {
            self.queue.push_back(event);
        } else if self
            .queue
            .back()
            .is_none_or(|last| last.mask != mask::Q_OVERFLOW)
        {
            self.queue.push_back(Event {
                wd: -1,
                mask: mask::Q_OVERFLOW,
                cookie: 0,
                name: Vec::new(),
            });
        }
    }

    /// Queues `event_mask` (with `flags`, `IN_ISDIR` or none) for each
    /// watch on `ino` that asks for it (unless the event is of a removed
    /// `child` and the watch excludes those: `IN_EXCL_UNLINK`); a one-shot
    /// watch then ends.
    fn deliver(&mut self, ino: Ino, event_mask: u32, flags: u32, name: &[u8], cookie: u32) {
        self.deliver_unless_removed(ino, event_mask, flags, name, cookie, false);
    }

    fn deliver_unless_removed(
        &mut self,
        ino: Ino,
        event_mask: u32,
        flags: u32,
        name: &[u8],
        cookie: u32,
        removed_child: bool,
    ) {
        let mut i = 0;
        while i < self.watches.len() {
            let watch = &self.watches[i];
            let excluded = removed_child && watch.mask & mask::EXCL_UNLINK != 0;
            if watch.ino != ino || watch.mask & event_mask == 0 || excluded {
                i += 1;
                continue;
            }
            let (wd, oneshot) = (watch.wd, watch.mask & mask::ONESHOT != 0);
            self.queue(Event {
                wd,
                mask: event_mask | flags,
                cookie,
                name: name.to_vec(),
            });
            if oneshot {
                self.end_watch(i);
            } else {
                i += 1;
            }
        }
    }

    /// Removes watch `i`, queueing its `IN_IGNORED`.
    fn end_watch(&mut self, i: usize) {
        let watch = self.watches.remove(i);
        self.queue(Event {
            wd: watch.wd,
            mask: mask::IGNORED,
            cookie: 0,
            name: Vec::new(),
        });
    }

    /// `read(2)`: whole events, as many as fit; `EINVAL` if the first does
    /// not. The caller waits while there are none.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize> {
        let mut filled = 0;
        while let Some(event) = self.queue.front() {
            let len = event.name_len();
            let end = filled + EVENT_HEADER + len;
            if end > buf.len() {
                break;
            }
            let header = [event.wd as u32, event.mask, event.cookie, len as u32];
            for (i, field) in header.into_iter().enumerate() {
                buf[filled + 4 * i..filled + 4 * i + 4].copy_from_slice(&field.to_ne_bytes());
            }
            let name = &mut buf[filled + EVENT_HEADER..end];
            name.fill(0);
            name[..event.name.len()].copy_from_slice(&event.name);
            filled = end;
            self.queue.pop_front();
        }
        if filled == 0 {
            return Err(Errno(EINVAL));
        }
        self.changes += 1;
        Ok(filled)
    }
}

/// The instances among the descriptions.
fn instances(descriptions: &mut [Option<Description>]) -> impl Iterator<Item = &mut Instance> {
    descriptions
        .iter_mut()
        .flatten()
        .filter_map(|description| match &mut description.object {
            Object::Inotify(instance) => Some(&mut **instance),
            _ => None,
        })
}

/// Where node `ino` is named, if in a watched directory: a directory knows
/// its own entry; for anything else the watched directories are searched
/// (a node has one name: there are no hard links), then the names of
/// removed nodes still open. The flag says it was removed.
fn named_in(fs: &mut Fs, ino: Ino) -> Option<(Ino, Vec<u8>, bool)> {
    if let Kind::Dir { parent, name, .. } = &fs.tree.node(ino).kind {
        return (!name.is_empty()).then(|| (*parent, name.clone(), fs.tree.is_removed(ino)));
    }
    let tree = &fs.tree;
    let watched_dirs = instances(&mut fs.descriptions)
        .flat_map(|instance| instance.watches.iter().map(|watch| watch.ino))
        .filter(|&dir| matches!(tree.node(dir).kind, Kind::Dir { .. }))
        .collect::<Vec<_>>();
    watched_dirs
        .into_iter()
        .find_map(|dir| Some((dir, tree.name_in(dir, ino)?.to_vec(), false)))
        .or_else(|| {
            let detached = fs.notify_state.detached.iter();
            detached
                .filter(|(node, _, _)| *node == ino)
                .map(|(_, dir, name)| (*dir, name.clone(), true))
                .next()
        })
}

/// Queues the events of `change` on every instance watching, and wakes
/// their readers if any was queued.
fn record(fs: &mut Fs, change: Change<'_>) {
    let queued = |fs: &mut Fs| -> u64 {
        instances(&mut fs.descriptions)
            .map(|instance| instance.changes)
            .sum()
    };
    let before = queued(fs);
    match change {
        Change::Node { ino, is_dir, mask } => {
            let flags = if is_dir { mask::ISDIR } else { 0 };
            let entry = named_in(fs, ino);
            // As Linux: the directory's watches first, then the node's own.
            for instance in instances(&mut fs.descriptions) {
                if let Some((dir, name, removed)) = &entry {
                    instance.deliver_unless_removed(*dir, mask, flags, name, 0, *removed);
                }
                instance.deliver(ino, mask, flags, b"", 0);
            }
        }
        Change::Own { ino, mask } => {
            for instance in instances(&mut fs.descriptions) {
                instance.deliver(ino, mask, 0, b"", 0);
            }
        }
        Change::Entry {
            dir,
            name,
            is_dir,
            mask,
            cookie,
        } => {
            let flags = if is_dir { mask::ISDIR } else { 0 };
            for instance in instances(&mut fs.descriptions) {
                instance.deliver(dir, mask, flags, name, cookie);
            }
        }
        Change::Detached { ino, dir, name } => {
            fs.notify_state.detached.push((ino, dir, name.to_vec()));
        }
        Change::Gone(ino) => {
            for instance in instances(&mut fs.descriptions) {
                while let Some(i) = instance.watches.iter().position(|w| w.ino == ino) {
                    instance.end_watch(i);
                }
            }
            fs.notify_state
                .detached
                .retain(|(node, dir, _)| *node != ino && *dir != ino);
        }
    }
    if queued(fs) != before {
        super::wake_notify_readers();
    }
}

impl Fs {
    /// Records `change` if an inotify instance was ever made.
    pub(super) fn notify(&mut self, change: Change<'_>) {
        if let Some(hooks) = self.notify_hooks {
            (hooks.record)(self, change);
        }
    }

    /// Whether inotify is in use (so a change is worth describing).
    pub(super) fn notifying(&self) -> bool {
        self.notify_hooks.is_some()
    }

    /// Records `mask` for the tree node description `fd` refers to, if any.
    pub(super) fn notify_fd(&mut self, fd: i32, mask: u32) {
        if !self.notifying() {
            return;
        }
        let Ok(description) = self.description(fd) else {
            return;
        };
        if let Some(ino) = description.object.node() {
            self.notify_node(ino, mask);
        }
    }

    /// Records `mask` for node `ino` (see [`Change::Node`]).
    pub(super) fn notify_node(&mut self, ino: Ino, mask: u32) {
        if self.notifying() {
            let is_dir = matches!(self.tree.node(ino).kind, Kind::Dir { .. });
            self.notify(Change::Node { ino, is_dir, mask });
        }
    }

    /// Records a new entry `name` in `dir`.
    pub(super) fn notify_created(&mut self, dir: Ino, name: &[u8], is_dir: bool) {
        self.notify(Change::Entry {
            dir,
            name,
            is_dir,
            mask: mask::CREATE,
            cookie: 0,
        });
    }

    /// Records the removal of `child`, which was `name` in `dir`, after
    /// the tree took it out: its link count, then (if it is gone) its
    /// deletion, then the directory's entry; a node still open is
    /// deleted when it is closed (see [`Self::notify_closed`]).
    pub(super) fn notify_removed(&mut self, dir: Ino, name: &[u8], child: Ino, is_dir: bool) {
        if !self.notifying() {
            return;
        }
        if !is_dir {
            self.notify(Change::Own {
                ino: child,
                mask: mask::ATTRIB,
            });
        }
        if self.tree.exists(child) {
            self.notify(Change::Detached {
                ino: child,
                dir,
                name,
            });
        } else {
            self.notify(Change::Own {
                ino: child,
                mask: mask::DELETE_SELF,
            });
            self.notify(Change::Gone(child));
        }
        self.notify(Change::Entry {
            dir,
            name,
            is_dir,
            mask: mask::DELETE,
            cookie: 0,
        });
    }

    /// Records a rename of `source` from `from` in `from_dir` to `to` in
    /// `to_dir`, which replaced `replaced` if anything.
    pub(super) fn notify_renamed(
        &mut self,
        (from_dir, from): (Ino, &[u8]),
        (to_dir, to): (Ino, &[u8]),
        source: Ino,
        replaced: Option<Ino>,
    ) {
        if !self.notifying() {
            return;
        }
        let is_dir = matches!(self.tree.node(source).kind, Kind::Dir { .. });
        self.notify_state.cookie = self.notify_state.cookie.wrapping_add(1).max(1);
        let cookie = self.notify_state.cookie;
        for (dir, name, mask) in [
            (from_dir, from, mask::MOVED_FROM),
            (to_dir, to, mask::MOVED_TO),
        ] {
            self.notify(Change::Entry {
                dir,
                name,
                is_dir,
                mask,
                cookie,
            });
        }
        if let Some(replaced) = replaced {
            self.notify(Change::Own {
                ino: replaced,
                mask: mask::ATTRIB,
            });
        }
        self.notify(Change::Own {
            ino: source,
            mask: mask::MOVE_SELF,
        });
        if let Some(replaced) = replaced {
            if self.tree.exists(replaced) {
                self.notify(Change::Detached {
                    ino: replaced,
                    dir: to_dir,
                    name: to,
                });
            } else {
                self.notify(Change::Own {
                    ino: replaced,
                    mask: mask::DELETE_SELF,
                });
                self.notify(Change::Gone(replaced));
            }
        }
    }

    /// Records the close of the last descriptor of a description of node
    /// `ino` opened for writing (`wrote`) or not, before the tree lets
    /// go of it.
    pub(super) fn notify_closing(&mut self, ino: Ino, wrote: bool) {
        let mask = if wrote {
            mask::CLOSE_WRITE
        } else {
            mask::CLOSE_NOWRITE
        };
        self.notify_node(ino, mask);
    }

    /// After the tree let go of node `ino`: a removed node gone with its
    /// last open description is deleted now.
    pub(super) fn notify_closed(&mut self, ino: Ino) {
        if self.notifying() && !self.tree.exists(ino) {
            self.notify(Change::Own {
                ino,
                mask: mask::DELETE_SELF,
            });
            self.notify(Change::Gone(ino));
        }
    }
}

/// `inotify_init1(2)` (`flags`: `O_NONBLOCK`, `O_CLOEXEC`).
pub fn init(flags: i32) -> Result<i32> {
    use super::flags::{O_CLOEXEC, O_NONBLOCK, O_RDONLY};
    if flags & !(O_NONBLOCK | O_CLOEXEC) != 0 {
        return Err(Errno(EINVAL));
    }
    super::with(|fs| {
        if instances(&mut fs.descriptions).count() >= MAX_INSTANCES {
            return Err(Errno(kiln_abi::errno::EMFILE));
        }
        fs.notify_hooks = Some(&HOOKS);
        fs.install(
            Object::Inotify(Box::new(Instance::new())),
            Vec::new(),
            O_RDONLY | (flags & O_NONBLOCK),
            0,
            flags & O_CLOEXEC != 0,
        )
    })
}

/// The instance descriptor `fd` refers to: `EBADF` if none is open,
/// `EINVAL` if it is not an instance.
fn instance(fs: &mut Fs, fd: i32) -> Result<&mut Instance> {
    match &mut fs.description(fd)?.object {
        Object::Inotify(instance) => Ok(instance),
        _ => Err(Errno(EINVAL)),
    }
}

/// `inotify_add_watch(2)`: the watch descriptor of `path`'s node in
/// instance `fd`, new or (the node already watched) changed.
pub fn add_watch(fd: i32, path: &[u8], watch_mask: u32) -> Result<i32> {
    // Linux's order: the mask, the descriptor, then the path.
    if watch_mask & mask::ALL_EVENTS == 0
        || watch_mask & (mask::MASK_ADD | mask::MASK_CREATE) == mask::MASK_ADD | mask::MASK_CREATE
    {
        return Err(Errno(EINVAL));
    }
    super::with(|fs| {
        instance(fs, fd)?;
        let follow = watch_mask & mask::DONT_FOLLOW == 0;
        let ino = match fs.locate(super::flags::AT_FDCWD, path, follow)?.1 {
            Found::Node(ino) => ino,
            Found::Fd { fd: linked, .. } => fs
                .description(linked)?
                .object
                .node()
                .ok_or(Errno(ENOTSUP))?,
            Found::Volume { .. } => return Err(Errno(ENOTSUP)),
            Found::Missing { .. } => return Err(Errno(ENOENT)),
        };
        if watch_mask & mask::ONLYDIR != 0 && !matches!(fs.tree.node(ino).kind, Kind::Dir { .. }) {
            return Err(Errno(ENOTDIR));
        }
        let total: usize = instances(&mut fs.descriptions)
            .map(|instance| instance.watches.len())
            .sum();
        let instance = instance(fs, fd)?;
        let kept = mask::ALL_EVENTS | mask::ONESHOT | mask::EXCL_UNLINK;
        if let Some(watch) = instance.watches.iter_mut().find(|w| w.ino == ino) {
            if watch_mask & mask::MASK_CREATE != 0 {
                return Err(Errno(EEXIST));
            }
            let added = if watch_mask & mask::MASK_ADD != 0 {
                watch.mask
            } else {
                0
            };
            watch.mask = added | (watch_mask & kept);
            return Ok(watch.wd);
        }
        if total >= MAX_WATCHES {
            return Err(Errno(ENOSPC));
        }
        instance.last_wd += 1;
        let wd = instance.last_wd;
        instance.watches.push(Watch {
            wd,
            ino,
            mask: watch_mask & kept,
        });
        Ok(wd)
    })
}

/// `inotify_rm_watch(2)`: ends watch `wd` of instance `fd` (its
/// `IN_IGNORED` is queued).
pub fn rm_watch(fd: i32, wd: i32) -> Result<()> {
    super::with(|fs| {
        let instance = instance(fs, fd)?;
        let i = instance.watches.iter().position(|w| w.wd == wd);
        instance.end_watch(i.ok_or(Errno(EINVAL))?);
        super::wake_notify_readers();
        Ok(())
    })
}

impl Tree {
    /// The name `child` has in directory `dir`, if it has one there.
    fn name_in(&self, dir: Ino, child: Ino) -> Option<&[u8]> {
        match &self.node(dir).kind {
            Kind::Dir { entries, .. } => entries
                .iter()
                .find(|&(_, &node)| node == child)
                .map(|(name, _)| name.as_slice()),
            _ => None,
        }
    }
}
