//! inotify on a directory of its own under the temporary directory: each
//! change the program makes there, then the events it produced, by watch
//! (numbered as Linux numbers them) and name; a rename's two events print
//! whether their cookies match.

use std::ffi::CString;
use std::fs;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::{errno, outcome};

const NAMES: [(u32, &str); 16] = [
    (libc::IN_ACCESS, "ACCESS"),
    (libc::IN_MODIFY, "MODIFY"),
    (libc::IN_ATTRIB, "ATTRIB"),
    (libc::IN_CLOSE_WRITE, "CLOSE_WRITE"),
    (libc::IN_CLOSE_NOWRITE, "CLOSE_NOWRITE"),
    (libc::IN_OPEN, "OPEN"),
    (libc::IN_MOVED_FROM, "MOVED_FROM"),
    (libc::IN_MOVED_TO, "MOVED_TO"),
    (libc::IN_CREATE, "CREATE"),
    (libc::IN_DELETE, "DELETE"),
    (libc::IN_DELETE_SELF, "DELETE_SELF"),
    (libc::IN_MOVE_SELF, "MOVE_SELF"),
    (libc::IN_UNMOUNT, "UNMOUNT"),
    (libc::IN_Q_OVERFLOW, "Q_OVERFLOW"),
    (libc::IN_IGNORED, "IGNORED"),
    (libc::IN_ISDIR, "ISDIR"),
];

fn mask_names(mask: u32) -> String {
    let mut names: Vec<&str> = NAMES
        .iter()
        .filter(|(bit, _)| mask & bit != 0)
        .map(|(_, name)| *name)
        .collect();
    let known = NAMES.iter().fold(0, |all, (bit, _)| all | bit);
    let unknown = format!("{:#x}", mask & !known);
    if mask & !known != 0 {
        names.push(&unknown);
        return names.join("|");
    }
    names.join("|")
}

/// Reads and prints every queued event (the descriptor is non-blocking).
fn drain(fd: i32, label: &str) {
    println!("{label}:");
    let mut buf = [0u8; 4096];
    let mut last_cookie = 0;
    loop {
        // SAFETY: `buf` is writable for its length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            println!("  (read: errno {})", errno());
            return;
        }
        let mut at = 0;
        while at < n as usize {
            let field =
                |i: usize| u32::from_ne_bytes(buf[at + i..at + i + 4].try_into().expect("4 bytes"));
            let (wd, mask, cookie, len) = (field(0) as i32, field(4), field(8), field(12) as usize);
            let name = &buf[at + 16..at + 16 + len];
            let name = String::from_utf8_lossy(name.split(|&b| b == 0).next().unwrap_or_default());
            let cookie = match (cookie, mask & libc::IN_MOVED_TO != 0) {
                (0, _) => String::new(),
                (c, true) => format!(" cookie matches: {}", c == last_cookie),
                (c, false) => {
                    last_cookie = c;
                    " cookie".into()
                }
            };
            println!("  wd {wd} {} {name:?} len {len}{cookie}", mask_names(mask));
            at += 16 + len;
        }
    }
}

fn add_watch(fd: i32, path: &Path, mask: u32) -> i32 {
    let c = CString::new(path.as_os_str().as_encoded_bytes()).expect("no NUL");
    // SAFETY: a C string.
    unsafe { libc::inotify_add_watch(fd, c.as_ptr(), mask) }
}

fn readiness(fd: i32) -> i16 {
    let mut poll = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one pollfd.
    unsafe { libc::poll(&mut poll, 1, 0) };
    poll.revents
}

fn errors(fd: i32, dir: &Path) {
    // SAFETY: plain calls.
    unsafe {
        println!("init1 bad flags: {}", outcome(libc::inotify_init1(0x1234)));
        println!("rm_watch 99: {}", outcome(libc::inotify_rm_watch(fd, 99)));
        println!(
            "rm_watch closed fd: {}",
            outcome(libc::inotify_rm_watch(900, 1))
        );
    }
    println!(
        "watch missing: {}",
        outcome(add_watch(fd, &dir.join("missing"), libc::IN_ALL_EVENTS))
    );
    println!("watch no events: {}", outcome(add_watch(fd, dir, 0)));
    println!(
        "watch on closed fd: {}",
        outcome(add_watch(900, dir, libc::IN_ALL_EVENTS))
    );
    let mut fds = [0; 2];
    // SAFETY: room for two descriptors.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    println!(
        "watch on a pipe: {}",
        outcome(add_watch(fds[0], dir, libc::IN_ALL_EVENTS))
    );
    let both = libc::IN_MASK_ADD | libc::IN_MASK_CREATE | libc::IN_CREATE;
    println!(
        "watch add and create: {}",
        outcome(add_watch(fd, dir, both))
    );
    let mut buf = [0u8; 8];
    // SAFETY: reading a pipe-less descriptor into `buf`.
    println!(
        "read on empty: {}",
        outcome(unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) } as i32)
    );
}

/// A temporary directory of the program's own, empty.
fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("inotify-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir(&dir).expect("create the directory");
    dir
}

pub fn run() {
    let dir = scratch();
    // SAFETY: plain call.
    let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
    println!(
        "init1: {}",
        if fd >= 0 {
            "a descriptor".into()
        } else {
            outcome(fd)
        }
    );
    if fd < 0 {
        return;
    }
    errors(fd, &dir);
    println!(
        "watch dir: {}",
        outcome(add_watch(fd, &dir, libc::IN_ALL_EVENTS))
    );
    println!(
        "watch dir again: {}",
        outcome(add_watch(fd, &dir, libc::IN_ALL_EVENTS))
    );
    println!(
        "watch dir, create only: {}",
        outcome(add_watch(
            fd,
            &dir,
            libc::IN_ALL_EVENTS | libc::IN_MASK_CREATE
        ))
    );
    println!("ready before: {}", readiness(fd));

    let a = dir.join("a");
    let mut file = fs::File::create(&a).expect("create a");
    file.write_all(b"hello").expect("write");
    file.write_all(b" world").expect("write");
    drop(file);
    println!("ready after: {}", readiness(fd));
    let mut small = [0u8; 8];
    // SAFETY: reading into `small`.
    println!(
        "read into 8 bytes: {}",
        outcome(unsafe { libc::read(fd, small.as_mut_ptr().cast(), small.len()) } as i32)
    );
    drain(fd, "create, write twice, close");

    println!(
        "watch file: {}",
        outcome(add_watch(fd, &a, libc::IN_ALL_EVENTS))
    );
    println!(
        "watch file only-dir: {}",
        outcome(add_watch(fd, &a, libc::IN_ALL_EVENTS | libc::IN_ONLYDIR))
    );
    let mut text = String::new();
    fs::File::open(&a)
        .expect("open a")
        .read_to_string(&mut text)
        .expect("read a");
    drain(fd, "open, read, close");

    fs::set_permissions(&a, fs::Permissions::from_mode(0o600)).expect("chmod");
    drain(fd, "chmod");
    fs::OpenOptions::new()
        .write(true)
        .open(&a)
        .expect("open a")
        .set_len(3)
        .expect("truncate");
    drain(fd, "open for writing, truncate, close");
    fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&a)
        .expect("open a");
    drain(fd, "open with O_TRUNC");

    fs::create_dir(dir.join("sub")).expect("mkdir");
    fs::rename(&a, dir.join("sub/b")).expect("rename out");
    fs::rename(dir.join("sub/b"), dir.join("c")).expect("rename back");
    fs::rename(dir.join("c"), dir.join("d")).expect("rename within");
    drain(fd, "mkdir, rename out, back, within");

    std::os::unix::fs::symlink("d", dir.join("link")).expect("symlink");
    fs::remove_file(dir.join("link")).expect("unlink the link");
    let entries = fs::read_dir(&dir).expect("list").count();
    println!("entries: {entries}");
    drain(fd, "symlink, unlink, list");

    fs::remove_file(dir.join("d")).expect("unlink d");
    drain(fd, "unlink the watched file");

    println!(
        "watch sub: {}",
        outcome(add_watch(fd, &dir.join("sub"), libc::IN_ALL_EVENTS))
    );
    fs::write(dir.join("sub/x"), b"x").expect("write sub/x");
    fs::remove_file(dir.join("sub/x")).expect("unlink sub/x");
    fs::remove_dir(dir.join("sub")).expect("rmdir");
    drain(fd, "in sub, then rmdir");

    let open = fs::File::create(dir.join("open")).expect("create open");
    println!(
        "watch open: {}",
        outcome(add_watch(fd, &dir.join("open"), libc::IN_ALL_EVENTS))
    );
    fs::remove_file(dir.join("open")).expect("unlink open");
    drain(fd, "unlink while open");
    drop(open);
    drain(fd, "then close");

    let mut open = fs::File::create(dir.join("ex")).expect("create ex");
    let excluding = libc::IN_ALL_EVENTS | libc::IN_EXCL_UNLINK;
    println!(
        "watch dir excluding unlinked: {}",
        outcome(add_watch(fd, &dir, excluding))
    );
    fs::remove_file(dir.join("ex")).expect("unlink ex");
    open.write_all(b"after").expect("write ex");
    drop(open);
    drain(fd, "write and close after unlink, excluded");

    println!("rm_watch dir: {}", outcome(unsafe_rm_watch(fd, 1)));
    println!("rm_watch dir again: {}", outcome(unsafe_rm_watch(fd, 1)));
    drain(fd, "rm_watch");

    println!(
        "oneshot: {}",
        outcome(add_watch(fd, &dir, libc::IN_CREATE | libc::IN_ONESHOT))
    );
    fs::write(dir.join("one"), b"").expect("create one");
    fs::write(dir.join("two"), b"").expect("create two");
    drain(fd, "two creates on a oneshot watch");
    println!(
        "create only: {}",
        outcome(add_watch(fd, &dir, libc::IN_CREATE | libc::IN_DELETE))
    );
    println!(
        "add modify: {}",
        outcome(add_watch(fd, &dir, libc::IN_MODIFY | libc::IN_MASK_ADD))
    );
    fs::write(dir.join("one"), b"1").expect("write one");
    fs::remove_file(dir.join("one")).expect("unlink one");
    fs::remove_file(dir.join("two")).expect("unlink two");
    drain(fd, "write and unlink with create, delete and modify");

    more_changes(fd, &dir);
    blocking_reader(&dir);
    // SAFETY: the descriptor is this function's.
    unsafe { libc::close(fd) };
    fs::remove_dir(&dir).expect("remove the directory");
}

/// Renames over a watched file and of a watched directory, times,
/// fallocate, and events for a file in two directories' watches at once.
fn more_changes(fd: i32, dir: &Path) {
    println!(
        "watch dir: {}",
        outcome(add_watch(fd, dir, libc::IN_ALL_EVENTS))
    );
    fs::write(dir.join("p"), b"p").expect("write p");
    fs::write(dir.join("q"), b"q").expect("write q");
    println!(
        "watch q: {}",
        outcome(add_watch(fd, &dir.join("q"), libc::IN_ALL_EVENTS))
    );
    drain(fd, "create p and q");
    fs::rename(dir.join("p"), dir.join("q")).expect("rename over q");
    drain(fd, "rename p over the watched q");

    fs::create_dir(dir.join("m")).expect("mkdir m");
    println!(
        "watch m: {}",
        outcome(add_watch(fd, &dir.join("m"), libc::IN_ALL_EVENTS))
    );
    fs::rename(dir.join("m"), dir.join("n")).expect("rename m");
    fs::write(dir.join("n/inside"), b"").expect("create n/inside");
    fs::remove_file(dir.join("n/inside")).expect("unlink n/inside");
    fs::remove_dir(dir.join("n")).expect("rmdir n");
    drain(fd, "rename the watched directory, use it, remove it");

    let file = fs::OpenOptions::new()
        .write(true)
        .open(dir.join("q"))
        .expect("open q");
    let time = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
    file.set_modified(time).expect("set_modified");
    file.set_times(fs::FileTimes::new().set_accessed(time).set_modified(time))
        .expect("set_times");
    // SAFETY: a descriptor of the open file.
    println!(
        "fallocate: {}",
        outcome(unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, 100) })
    );
    drop(file);
    fs::remove_file(dir.join("q")).expect("unlink q");
    drain(fd, "times, fallocate, close, unlink");
    // The watches here ended with their files; the directory's stays.
    println!("rm_watch dir: {}", outcome(unsafe_rm_watch(fd, 6)));
    drain(fd, "rm_watch");
}

fn unsafe_rm_watch(fd: i32, wd: i32) -> i32 {
    // SAFETY: plain call.
    unsafe { libc::inotify_rm_watch(fd, wd) }
}

/// A thread blocked reading a blocking instance wakes for an event, and
/// epoll reports the descriptor readable.
fn blocking_reader(dir: &Path) {
    // SAFETY: plain calls.
    let fd = unsafe { libc::inotify_init1(0) };
    println!(
        "blocking watch: {}",
        outcome(add_watch(fd, dir, libc::IN_CREATE))
    );
    // SAFETY: plain call.
    let epoll = unsafe { libc::epoll_create1(0) };
    let mut event = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: 7,
    };
    // SAFETY: a valid event.
    println!(
        "epoll add: {}",
        outcome(unsafe { libc::epoll_ctl(epoll, libc::EPOLL_CTL_ADD, fd, &mut event) })
    );
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        // SAFETY: `buf` is writable.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        let len = u32::from_ne_bytes(buf[12..16].try_into().expect("4 bytes")) as usize;
        let name = String::from_utf8_lossy(
            buf[16..16 + len]
                .split(|&b| b == 0)
                .next()
                .unwrap_or_default(),
        )
        .into_owned();
        (n, name)
    });
    std::thread::sleep(std::time::Duration::from_millis(50));
    fs::write(dir.join("woken"), b"").expect("create woken");
    let (n, name) = reader.join().expect("reader");
    println!("blocked reader got {n} bytes: {name}");
    fs::write(dir.join("again"), b"").expect("create again");
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; 2];
    // SAFETY: room for two events.
    let ready = unsafe { libc::epoll_wait(epoll, events.as_mut_ptr(), 2, 1000) };
    let (bits, data) = (events[0].events, events[0].u64);
    println!("epoll_wait: {ready} events {bits:#x} data {data}");
    fs::remove_file(dir.join("woken")).expect("unlink woken");
    fs::remove_file(dir.join("again")).expect("unlink again");
    // SAFETY: descriptors of this function.
    unsafe {
        libc::close(epoll);
        libc::close(fd);
    }
}

/// `inotify_add_watch` of `path` in a new instance.
pub fn watch(path: &str) {
    // SAFETY: plain call.
    let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
    println!(
        "watch {path}: {}",
        outcome(add_watch(fd, Path::new(path), libc::IN_ALL_EVENTS))
    );
}

/// The `notify` crate's recommended watcher on a directory: the events
/// of a file created, written and removed there.
pub fn notify_crate() {
    use notify::Watcher;
    let dir = std::env::temp_dir().join(format!("notify-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir(&dir).expect("create the directory");
    let (sender, events) = std::sync::mpsc::channel();
    let mut watcher = notify::recommended_watcher(sender).expect("a watcher");
    watcher
        .watch(&dir, notify::RecursiveMode::NonRecursive)
        .expect("watch");
    fs::write(dir.join("f"), b"x").expect("write f");
    fs::remove_file(dir.join("f")).expect("remove f");
    let timeout = std::time::Duration::from_secs(5);
    while let Ok(event) = events.recv_timeout(timeout) {
        let event = event.expect("an event");
        let names: Vec<_> = event
            .paths
            .iter()
            .map(|p| p.strip_prefix(&dir).unwrap_or(p).display().to_string())
            .collect();
        println!("{:?} {names:?}", event.kind);
        if event.kind.is_remove() {
            break;
        }
    }
    drop(watcher);
    fs::remove_dir(&dir).expect("remove the directory");
}
