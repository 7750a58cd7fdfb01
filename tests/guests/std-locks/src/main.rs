//! Locks, the file calls that change no contents and `fallocate`, in the directory the
//! first argument names (default `/tmp`). Every line is an answer Linux
//! gives the same way wherever the directory is (pids are normalised), so
//! the test compares this program's output under Kiln with its output
//! natively.
//!
//! With `hold PATH` instead, it takes an exclusive `flock` on PATH, says
//! so, and holds it until its stdin ends; with `try PATH`, it tries a
//! non-blocking exclusive `flock` on PATH and prints the answer; with
//! `times-of PATH`, it sets PATH's times by path and by descriptor.

use std::ffi::CString;
use std::io::Error;
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A C call's result: the value, or the errno's name.
fn answer(result: i64) -> String {
    if result >= 0 {
        return result.to_string();
    }
    let errno = Error::last_os_error().raw_os_error().unwrap_or(0);
    let name = match errno {
        libc::EAGAIN => "EAGAIN",
        libc::EBADF => "EBADF",
        libc::EINVAL => "EINVAL",
        libc::ENOENT => "ENOENT",
        libc::ESPIPE => "ESPIPE",
        libc::EOVERFLOW => "EOVERFLOW",
        libc::EROFS => "EROFS",
        other => return format!("errno {other}"),
    };
    format!("-1 {name}")
}

fn say(what: &str, result: i64) {
    println!("{what}: {}", answer(result));
}

fn c(path: &str) -> CString {
    CString::new(path).expect("no NUL in paths")
}

fn open(path: &str, flags: i32) -> i32 {
    // SAFETY: a valid C string.
    let fd = unsafe { libc::open(c(path).as_ptr(), flags | libc::O_CLOEXEC, 0o644) };
    assert!(fd >= 0, "open {path}: {}", Error::last_os_error());
    fd
}

fn flock(fd: i32, operation: i32) -> i64 {
    // SAFETY: no pointers.
    i64::from(unsafe { libc::flock(fd, operation) })
}

fn close(fd: i32) {
    // SAFETY: a descriptor this program opened and closes once.
    unsafe { libc::close(fd) };
}

fn record(kind: i32, whence: i32, start: i64, len: i64) -> libc::flock {
    libc::flock {
        l_type: kind as i16,
        l_whence: whence as i16,
        l_start: start,
        l_len: len,
        l_pid: 0,
    }
}

fn fcntl_lock(fd: i32, command: i32, lock: &mut libc::flock) -> i64 {
    // SAFETY: `lock` is a valid `struct flock`.
    i64::from(unsafe { libc::fcntl(fd, command, lock as *mut libc::flock) })
}

/// A lock `GETLK` reported, with the holder's pid normalised.
fn reported(lock: &libc::flock) -> String {
    let kind = match i32::from(lock.l_type) {
        libc::F_RDLCK => "F_RDLCK",
        libc::F_WRLCK => "F_WRLCK",
        libc::F_UNLCK => return "F_UNLCK".into(),
        _ => "?",
    };
    let pid = match lock.l_pid {
        pid if pid > 0 => "a process".to_string(),
        pid => pid.to_string(),
    };
    format!(
        "{kind} whence {} start {} len {} pid {pid}",
        lock.l_whence, lock.l_start, lock.l_len
    )
}

fn query(what: &str, fd: i32, command: i32, mut lock: libc::flock) {
    let result = fcntl_lock(fd, command, &mut lock);
    if result < 0 {
        say(what, result);
    } else {
        println!("{what}: {}", reported(&lock));
    }
}

fn flocks(file: &str) {
    let a = open(file, libc::O_RDWR);
    let b = open(file, libc::O_RDWR);
    // SAFETY: no pointers.
    let a2 = unsafe { libc::dup(a) };
    say("flock a shared", flock(a, libc::LOCK_SH));
    say("flock b shared", flock(b, libc::LOCK_SH | libc::LOCK_NB));
    say("flock b exclusive", flock(b, libc::LOCK_EX | libc::LOCK_NB));
    // The failed conversion let go of b's shared lock, as Linux does.
    say("flock a exclusive", flock(a, libc::LOCK_EX | libc::LOCK_NB));
    say("flock a again", flock(a, libc::LOCK_EX | libc::LOCK_NB));
    say(
        "flock b shared again",
        flock(b, libc::LOCK_SH | libc::LOCK_NB),
    );
    say("flock a's duplicate unlocks", flock(a2, libc::LOCK_UN));
    say(
        "flock b exclusive now",
        flock(b, libc::LOCK_EX | libc::LOCK_NB),
    );
    close(b);
    say(
        "flock a after b closed",
        flock(a, libc::LOCK_EX | libc::LOCK_NB),
    );
    say("flock bad operation", flock(a, 3));
    say("flock obsolete LOCK_MAND", flock(a, 32 | libc::LOCK_SH));
    say(
        "flock bad operation with LOCK_NB",
        flock(a, 3 | libc::LOCK_NB),
    );
    say("flock closed descriptor", flock(999, libc::LOCK_SH));
    say("flock unlock unlocked", flock(a2, libc::LOCK_UN));
    say("flock relock", flock(a, libc::LOCK_EX));

    // A thread blocks on the lock a holds until a lets go.
    let (started, wait_started) = mpsc::channel();
    let path = file.to_string();
    // The thread's answer is printed after the join: once the lock is let
    // go, which of the two threads prints first is the scheduler's choice.
    let waiter = std::thread::spawn(move || {
        let c = open(&path, libc::O_RDONLY);
        started.send(()).expect("main waits");
        let result = answer(flock(c, libc::LOCK_EX));
        close(c);
        result
    });
    wait_started.recv().expect("the thread starts");
    std::thread::sleep(Duration::from_millis(100));
    println!("main: unlocking");
    say("flock unlock", flock(a, libc::LOCK_UN));
    let result = waiter.join().expect("the waiting thread");
    println!("thread: flock exclusive: {result}");
    close(a2);
    close(a);
}

fn record_locks(file: &str) {
    use libc::{
        F_GETLK, F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW, F_RDLCK, F_SETLK, F_UNLCK, F_WRLCK,
    };
    let a = open(file, libc::O_RDWR);
    let b = open(file, libc::O_RDWR);
    let whole = record(F_WRLCK, libc::SEEK_SET, 0, 0);
    say("posix lock a", fcntl_lock(a, F_SETLK, &mut { whole }));
    query("posix query from b", b, F_GETLK, whole);
    say(
        "posix lock b (same process)",
        fcntl_lock(b, F_SETLK, &mut { whole }),
    );
    query("ofd query from b", b, F_OFD_GETLK, whole);
    say("ofd lock b", fcntl_lock(b, F_OFD_SETLK, &mut { whole }));
    say(
        "posix unlock",
        fcntl_lock(a, F_SETLK, &mut record(F_UNLCK, libc::SEEK_SET, 0, 0)),
    );
    say(
        "ofd lock b 0..10",
        fcntl_lock(b, F_OFD_SETLK, &mut record(F_WRLCK, libc::SEEK_SET, 0, 10)),
    );
    query(
        "ofd query a 5..6",
        a,
        F_OFD_GETLK,
        record(F_RDLCK, libc::SEEK_SET, 5, 1),
    );
    query(
        "posix query a",
        a,
        F_GETLK,
        record(F_RDLCK, libc::SEEK_SET, 0, 0),
    );
    say(
        "ofd read lock a 10..20",
        fcntl_lock(a, F_OFD_SETLK, &mut record(F_RDLCK, libc::SEEK_SET, 10, 10)),
    );
    say(
        "ofd unlock b 3..5",
        fcntl_lock(b, F_OFD_SETLK, &mut record(F_UNLCK, libc::SEEK_SET, 3, 2)),
    );
    query(
        "ofd query a 3..5",
        a,
        F_OFD_GETLK,
        record(F_WRLCK, libc::SEEK_SET, 3, 2),
    );
    query(
        "ofd query a 4..6",
        a,
        F_OFD_GETLK,
        record(F_WRLCK, libc::SEEK_SET, 4, 2),
    );
    query(
        "ofd query b 15 to end",
        b,
        F_OFD_GETLK,
        record(F_WRLCK, libc::SEEK_SET, 15, 0),
    );
    query(
        "ofd query b before 12",
        b,
        F_OFD_GETLK,
        record(F_WRLCK, libc::SEEK_SET, 12, -4),
    );
    // SAFETY: no pointers.
    unsafe { libc::lseek64(a, 4, libc::SEEK_SET) };
    query(
        "ofd query a from here",
        a,
        F_OFD_GETLK,
        record(F_WRLCK, libc::SEEK_CUR, 2, 1),
    );
    query(
        "ofd query a from the end",
        a,
        F_OFD_GETLK,
        record(F_WRLCK, libc::SEEK_END, -3, 1),
    );

    let r = open(file, libc::O_RDONLY);
    let w = open(file, libc::O_WRONLY);
    let bad = |what: &str, fd: i32, command: i32, lock: libc::flock| {
        say(what, fcntl_lock(fd, command, &mut { lock }));
    };
    bad("bad type", a, F_SETLK, record(7, libc::SEEK_SET, 0, 0));
    bad("bad whence", a, F_SETLK, record(F_RDLCK, 9, 0, 0));
    bad(
        "negative start",
        a,
        F_SETLK,
        record(F_RDLCK, libc::SEEK_SET, -1, 0),
    );
    bad(
        "negative range before 0",
        a,
        F_SETLK,
        record(F_RDLCK, libc::SEEK_SET, 2, -3),
    );
    bad(
        "overflowing range",
        a,
        F_SETLK,
        record(F_RDLCK, libc::SEEK_SET, i64::MAX, 2),
    );
    bad(
        "read lock on write-only",
        w,
        F_SETLK,
        record(F_RDLCK, libc::SEEK_SET, 0, 0),
    );
    bad(
        "write lock on read-only",
        r,
        F_SETLK,
        record(F_WRLCK, libc::SEEK_SET, 0, 0),
    );
    bad(
        "unlock on read-only",
        r,
        F_SETLK,
        record(F_UNLCK, libc::SEEK_SET, 0, 0),
    );
    bad(
        "query unlocked type",
        a,
        F_GETLK,
        record(F_UNLCK, libc::SEEK_SET, 0, 0),
    );
    bad(
        "closed descriptor",
        999,
        F_SETLK,
        record(F_RDLCK, libc::SEEK_SET, 0, 0),
    );
    let mut with_pid = record(F_RDLCK, libc::SEEK_SET, 0, 0);
    with_pid.l_pid = 5;
    bad("ofd lock with a pid", a, F_OFD_SETLK, with_pid);
    // SAFETY: a null `struct flock` pointer, which the call must refuse.
    let null = unsafe { libc::fcntl(a, F_SETLK, std::ptr::null_mut::<libc::flock>()) };
    say("null lock", i64::from(null));

    // Closing any descriptor of the file lets go of the process's POSIX locks.
    say(
        "ofd unlock b",
        fcntl_lock(b, F_OFD_SETLK, &mut record(F_UNLCK, libc::SEEK_SET, 0, 0)),
    );
    say(
        "posix lock r 0..2",
        fcntl_lock(r, F_SETLK, &mut record(F_RDLCK, libc::SEEK_SET, 0, 2)),
    );
    query(
        "ofd query before a close",
        a,
        F_OFD_GETLK,
        record(F_WRLCK, libc::SEEK_SET, 0, 1),
    );
    close(w);
    query(
        "ofd query after a close",
        a,
        F_OFD_GETLK,
        record(F_WRLCK, libc::SEEK_SET, 0, 2),
    );

    // A thread waits for an OFD lock another description holds.
    say("ofd lock a", fcntl_lock(a, F_OFD_SETLK, &mut { whole }));
    let (started, wait_started) = mpsc::channel();
    let path = file.to_string();
    let waiter = std::thread::spawn(move || {
        let c = open(&path, libc::O_RDWR);
        started.send(()).expect("main waits");
        let result = answer(fcntl_lock(
            c,
            F_OFD_SETLKW,
            &mut record(F_WRLCK, libc::SEEK_SET, 0, 0),
        ));
        close(c);
        result
    });
    wait_started.recv().expect("the thread starts");
    std::thread::sleep(Duration::from_millis(100));
    println!("main: unlocking");
    say(
        "ofd unlock a",
        fcntl_lock(a, F_OFD_SETLK, &mut record(F_UNLCK, libc::SEEK_SET, 0, 0)),
    );
    let result = waiter.join().expect("the waiting thread");
    println!("thread: ofd lock wait: {result}");
    for fd in [a, b, r] {
        close(fd);
    }
}

fn stat(path: &str, follow: bool) -> libc::stat64 {
    // SAFETY: a valid C string and an out-pointer to a whole `stat`.
    unsafe {
        let mut out = std::mem::zeroed::<libc::stat64>();
        let rc = if follow {
            libc::stat64(c(path).as_ptr(), &mut out)
        } else {
            libc::lstat64(c(path).as_ptr(), &mut out)
        };
        assert_eq!(rc, 0, "stat {path}: {}", Error::last_os_error());
        out
    }
}

fn show_times(what: &str, path: &str, follow: bool) {
    let s = stat(path, follow);
    println!(
        "{what}: atime {}.{:09} mtime {}.{:09}",
        s.st_atime, s.st_atime_nsec, s.st_mtime, s.st_mtime_nsec
    );
}

fn timespec(sec: i64, nsec: i64) -> libc::timespec {
    libc::timespec {
        tv_sec: sec,
        tv_nsec: nsec,
    }
}

fn utimensat(
    dirfd: i32,
    path: Option<&str>,
    times: Option<[libc::timespec; 2]>,
    flags: i32,
) -> i64 {
    let path = path.map(c);
    let path_ptr = path.as_ref().map_or(std::ptr::null(), |p| p.as_ptr());
    let times_ptr = times.as_ref().map_or(std::ptr::null(), |t| t.as_ptr());
    // SAFETY: a valid C string or null, and two timespecs or null.
    i64::from(unsafe { libc::utimensat(dirfd, path_ptr, times_ptr, flags) })
}

fn times(dir: &str, file: &str) {
    let link = format!("{dir}/locks-link");
    // SAFETY: valid C strings.
    unsafe { libc::symlink(c("locks-file").as_ptr(), c(&link).as_ptr()) };
    let at = |sec, nsec| timespec(sec, nsec);
    say(
        "utimensat",
        utimensat(
            libc::AT_FDCWD,
            Some(file),
            Some([at(1_000_000_000, 5), at(1_200_000_000, 123_456_789)]),
            0,
        ),
    );
    show_times("set", file, true);
    say(
        "utimensat omit atime",
        utimensat(
            libc::AT_FDCWD,
            Some(file),
            Some([at(7, libc::UTIME_OMIT), at(1_300_000_000, 0)]),
            0,
        ),
    );
    show_times("mtime only", file, true);
    say(
        "utimensat link itself",
        utimensat(
            libc::AT_FDCWD,
            Some(&link),
            Some([at(1_100_000_000, 1), at(1_100_000_000, 2)]),
            libc::AT_SYMLINK_NOFOLLOW,
        ),
    );
    show_times("link", &link, false);
    show_times("target untouched", file, true);
    let fd = open(file, libc::O_RDONLY);
    // SAFETY: two timespecs.
    let result = unsafe { libc::futimens(fd, [at(10, 1), at(20, 2)].as_ptr()) };
    say("futimens", i64::from(result));
    say("utimensat null path", utimensat(fd, None, None, 0));
    show_times("futimens", file, true);
    let tv = |sec, usec| libc::timeval {
        tv_sec: sec,
        tv_usec: usec,
    };
    // SAFETY: a valid C string and two timevals.
    say(
        "utimes",
        i64::from(unsafe { libc::utimes(c(file).as_ptr(), [tv(30, 1), tv(40, 999_999)].as_ptr()) }),
    );
    show_times("utimes", file, true);
    // SAFETY: two timevals.
    say(
        "futimes",
        i64::from(unsafe { libc::futimes(fd, [tv(50, 0), tv(60, 0)].as_ptr()) }),
    );
    show_times("futimes", file, true);
    // SAFETY: as above.
    say(
        "futimes bad usec",
        i64::from(unsafe { libc::futimes(fd, [tv(50, 0), tv(60, 1_000_000)].as_ptr()) }),
    );
    say(
        "utimensat now",
        utimensat(libc::AT_FDCWD, Some(file), None, 0),
    );
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64;
    let s = stat(file, true);
    println!(
        "now: atime recent {} mtime recent {}",
        (now - s.st_atime).abs() < 10,
        (now - s.st_mtime).abs() < 10
    );
    say(
        "utimensat bad nsec",
        utimensat(
            libc::AT_FDCWD,
            Some(file),
            Some([at(0, 1_000_000_000), at(0, 0)]),
            0,
        ),
    );
    say(
        "utimensat bad flags",
        utimensat(libc::AT_FDCWD, Some(file), None, 0x4),
    );
    say(
        "utimensat missing",
        utimensat(libc::AT_FDCWD, Some(&format!("{dir}/missing")), None, 0),
    );
    say(
        "utimensat missing, omit both",
        utimensat(
            libc::AT_FDCWD,
            Some(&format!("{dir}/missing")),
            Some([at(0, libc::UTIME_OMIT), at(0, libc::UTIME_OMIT)]),
            0,
        ),
    );
    // SAFETY: null times mean now.
    say(
        "futimens closed",
        i64::from(unsafe { libc::futimens(999, std::ptr::null()) }),
    );
    close(fd);
    // SAFETY: a valid C string.
    unsafe { libc::unlink(c(&link).as_ptr()) };
}

/// Permission bits: `fchmod` of an open descriptor (as a program that
/// copies a file's mode onto its replacement does) and `chmod` by path.
fn modes(file: &str) {
    let mode = |path: &str| stat(path, true).st_mode & 0o7777;
    let fd = open(file, libc::O_RDONLY);
    // SAFETY: a descriptor this program opened.
    say(
        "fchmod 0640",
        i64::from(unsafe { libc::fchmod(fd, 0o100640) }),
    );
    println!("mode after fchmod: {:o}", mode(file));
    close(fd);
    // SAFETY: a valid C string.
    say(
        "chmod 0604",
        i64::from(unsafe { libc::chmod(c(file).as_ptr(), 0o604) }),
    );
    println!("mode after chmod: {:o}", mode(file));
    // SAFETY: as above.
    say(
        "chmod 0600",
        i64::from(unsafe { libc::chmod(c(file).as_ptr(), 0o600) }),
    );
}

fn hints(file: &str) {
    let fd = open(file, libc::O_RDWR);
    let mut pipe = [0; 2];
    // SAFETY: room for two descriptors.
    unsafe { libc::pipe(pipe.as_mut_ptr()) };
    // SAFETY: no pointers in any of these calls.
    unsafe {
        say(
            "sync_file_range",
            i64::from(libc::sync_file_range(fd, 0, 0, libc::SYNC_FILE_RANGE_WRITE)),
        );
        say(
            "sync_file_range all flags",
            i64::from(libc::sync_file_range(fd, 0, 4096, 7)),
        );
        say(
            "sync_file_range bad flags",
            i64::from(libc::sync_file_range(fd, 0, 0, 8)),
        );
        say(
            "sync_file_range negative",
            i64::from(libc::sync_file_range(fd, -1, 0, 0)),
        );
        say(
            "sync_file_range pipe",
            i64::from(libc::sync_file_range(pipe[0], 0, 0, 0)),
        );
        say(
            "sync_file_range closed",
            i64::from(libc::sync_file_range(999, 0, 0, 0)),
        );
        for (what, fd, len, advice) in [
            ("fadvise sequential", fd, 0, libc::POSIX_FADV_SEQUENTIAL),
            ("fadvise dontneed", fd, 100, libc::POSIX_FADV_DONTNEED),
            ("fadvise bad advice", fd, 0, 9),
            ("fadvise negative length", fd, -1, libc::POSIX_FADV_NORMAL),
            ("fadvise pipe", pipe[0], 0, libc::POSIX_FADV_NORMAL),
            ("fadvise closed", 999, 0, libc::POSIX_FADV_NORMAL),
        ] {
            println!("{what}: {}", libc::posix_fadvise(fd, 0, len, advice));
        }
        let size = |fd| {
            let mut out = std::mem::zeroed::<libc::stat64>();
            libc::fstat64(fd, &mut out);
            out.st_size
        };
        println!(
            "posix_fallocate grow: {}",
            libc::posix_fallocate(fd, 0, 100)
        );
        println!("size: {}", size(fd));
        say(
            "fallocate keep size",
            i64::from(libc::fallocate(fd, libc::FALLOC_FL_KEEP_SIZE, 0, 1000)),
        );
        println!("size: {}", size(fd));
        let hole = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
        say(
            "fallocate punch hole",
            i64::from(libc::fallocate(fd, hole, 2, 3)),
        );
        let mut head = [0u8; 7];
        libc::pread64(fd, head.as_mut_ptr().cast(), head.len(), 0);
        println!("after the hole: {head:?}, size {}", size(fd));
        say(
            "fallocate hole past the end",
            i64::from(libc::fallocate(fd, hole, 500, 10)),
        );
        say(
            "fallocate hole without keep size",
            i64::from(libc::fallocate(fd, libc::FALLOC_FL_PUNCH_HOLE, 0, 1)),
        );
        say(
            "fallocate negative offset",
            i64::from(libc::fallocate(fd, 0, -1, 1)),
        );
        say("fallocate empty", i64::from(libc::fallocate(fd, 0, 0, 0)));
        let read_only = open(file, libc::O_RDONLY);
        println!(
            "posix_fallocate read-only: {}",
            libc::posix_fallocate(read_only, 0, 1)
        );
        close(read_only);
        println!(
            "posix_fallocate pipe: {}",
            libc::posix_fallocate(pipe[1], 0, 1)
        );
        println!(
            "posix_fallocate closed: {}",
            libc::posix_fallocate(999, 0, 1)
        );
        close(pipe[0]);
        close(pipe[1]);
    }
    close(fd);
}

fn memory_advice() {
    const PAGE: usize = 4096;
    // SAFETY: an anonymous private mapping of two pages, written and read
    // only within them, then unmapped.
    unsafe {
        let map = libc::mmap(
            std::ptr::null_mut(),
            2 * PAGE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(map, libc::MAP_FAILED);
        let bytes = map.cast::<u8>();
        std::ptr::write_bytes(bytes, 0xab, 2 * PAGE);
        say(
            "madvise dontneed",
            i64::from(libc::madvise(map, PAGE, libc::MADV_DONTNEED)),
        );
        println!(
            "after dontneed: first page {:#x}, second page {:#x}",
            *bytes,
            *bytes.add(PAGE)
        );
        say(
            "madvise willneed",
            i64::from(libc::madvise(map, 2 * PAGE, libc::MADV_WILLNEED)),
        );
        say(
            "madvise unaligned",
            i64::from(libc::madvise(
                map.cast::<u8>().add(1).cast(),
                PAGE,
                libc::MADV_NORMAL,
            )),
        );
        say(
            "madvise bad advice",
            i64::from(libc::madvise(map, PAGE, 999)),
        );
        say(
            "madvise empty",
            i64::from(libc::madvise(map, 0, libc::MADV_DONTNEED)),
        );
        println!("second page kept: {:#x}", *bytes.add(PAGE + 10));
        libc::munmap(map, 2 * PAGE);
    }
}

fn hold(path: &str) {
    let fd = open(path, libc::O_RDWR | libc::O_CREAT);
    say("hold: flock exclusive", flock(fd, libc::LOCK_EX));
    std::io::copy(&mut std::io::stdin(), &mut std::io::sink()).expect("read stdin");
    println!("hold: done");
}

fn times_of(path: &str) {
    say("utimensat", utimensat(libc::AT_FDCWD, Some(path), None, 0));
    let fd = open(path, libc::O_RDONLY);
    // SAFETY: null times mean now.
    say(
        "futimens",
        i64::from(unsafe { libc::futimens(fd, std::ptr::null()) }),
    );
    close(fd);
}

fn try_lock(path: &str) {
    let fd = open(path, libc::O_RDWR | libc::O_CREAT);
    say(
        "try: flock exclusive",
        flock(fd, libc::LOCK_EX | libc::LOCK_NB),
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["hold", path] => return hold(path),
        ["try", path] => return try_lock(path),
        ["times-of", path] => return times_of(path),
        _ => {}
    }
    let dir = args.first().map_or("/tmp", String::as_str);
    let file = format!("{dir}/locks-file");
    std::fs::write(&file, b"0123456789abcdefghij").expect("create the file");
    flocks(&file);
    record_locks(&file);
    times(dir, &file);
    modes(&file);
    hints(&file);
    memory_advice();
    std::fs::remove_file(&file).expect("remove the file");
}
