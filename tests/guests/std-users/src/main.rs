//! Users, groups, identities and resource limits, printed in three kinds
//! of lines: `same:` lines are answers Linux gives identically to a root
//! process (the test compares them with a native run), `fixture:` lines
//! come from `/etc/passwd` and `/etc/group` (compared with the fixture
//! files), `kiln:` lines show limits only Kiln's guest has.

use std::ffi::{CStr, CString, c_char, c_int};
use std::ptr;

unsafe extern "C" {
    fn getlogin_r(name: *mut c_char, size: usize) -> c_int;
    fn get_nprocs() -> c_int;
    fn get_nprocs_conf() -> c_int;
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn clear_errno() {
    // SAFETY: the calling thread's errno.
    unsafe { *libc::__errno_location() = 0 };
}

fn text(p: *const c_char) -> String {
    // SAFETY: the C library returned a C string.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

fn user(p: &libc::passwd) -> String {
    format!(
        "{}:{}:{}:{}:{}:{}:{}",
        text(p.pw_name),
        text(p.pw_passwd),
        p.pw_uid,
        p.pw_gid,
        text(p.pw_gecos),
        text(p.pw_dir),
        text(p.pw_shell)
    )
}

fn group(g: &libc::group) -> String {
    let mut members = Vec::new();
    let mut m = g.gr_mem;
    // SAFETY: `gr_mem` is a null-terminated array of C strings.
    unsafe {
        while !(*m).is_null() {
            members.push(text(*m));
            m = m.add(1);
        }
    }
    format!(
        "{}:{}:{}:{}",
        text(g.gr_name),
        text(g.gr_passwd),
        g.gr_gid,
        members.join(",")
    )
}

fn maybe_user(p: *const libc::passwd) -> String {
    // SAFETY: null or the C library's record.
    unsafe { p.as_ref() }.map_or("null".into(), user)
}

fn maybe_group(g: *const libc::group) -> String {
    // SAFETY: null or the C library's record.
    unsafe { g.as_ref() }.map_or("null".into(), group)
}

fn getpwnam_r(name: &str, size: usize) -> String {
    let name = CString::new(name).expect("no NUL");
    // SAFETY: plain data.
    let mut record: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as c_char; size];
    let mut result = ptr::null_mut();
    // SAFETY: valid pointers and sizes.
    let rc = unsafe {
        libc::getpwnam_r(
            name.as_ptr(),
            &mut record,
            buf.as_mut_ptr(),
            size,
            &mut result,
        )
    };
    if result.is_null() {
        format!("rc {rc} null")
    } else {
        format!("rc {rc} {}", user(&record))
    }
}

fn getpwuid_r(uid: u32, size: usize) -> String {
    // SAFETY: plain data.
    let mut record: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as c_char; size];
    let mut result = ptr::null_mut();
    // SAFETY: valid pointers and sizes.
    let rc = unsafe { libc::getpwuid_r(uid, &mut record, buf.as_mut_ptr(), size, &mut result) };
    if result.is_null() {
        format!("rc {rc} null")
    } else {
        format!("rc {rc} {}", user(&record))
    }
}

fn getgrnam_r(name: &str, size: usize) -> String {
    let name = CString::new(name).expect("no NUL");
    // SAFETY: plain data.
    let mut record: libc::group = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as c_char; size];
    let mut result = ptr::null_mut();
    // SAFETY: valid pointers and sizes.
    let rc = unsafe {
        libc::getgrnam_r(
            name.as_ptr(),
            &mut record,
            buf.as_mut_ptr(),
            size,
            &mut result,
        )
    };
    if result.is_null() {
        format!("rc {rc} null")
    } else {
        format!("rc {rc} {}", group(&record))
    }
}

fn getgrgid_r(gid: u32, size: usize) -> String {
    // SAFETY: plain data.
    let mut record: libc::group = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as c_char; size];
    let mut result = ptr::null_mut();
    // SAFETY: valid pointers and sizes.
    let rc = unsafe { libc::getgrgid_r(gid, &mut record, buf.as_mut_ptr(), size, &mut result) };
    if result.is_null() {
        format!("rc {rc} null")
    } else {
        format!("rc {rc} {}", group(&record))
    }
}

fn rc(value: c_int) -> String {
    if value == -1 {
        format!("-1 errno {}", errno())
    } else {
        value.to_string()
    }
}

fn identities() {
    // SAFETY: these calls take no pointers, or valid ones.
    unsafe {
        println!(
            "same: ids {} {} {} {}",
            libc::getuid(),
            libc::geteuid(),
            libc::getgid(),
            libc::getegid()
        );
        let (mut r, mut e, mut s) = (9, 9, 9);
        println!(
            "same: getresuid {} {r} {e} {s}",
            libc::getresuid(&mut r, &mut e, &mut s)
        );
        println!(
            "same: getresgid {} {r} {e} {s}",
            libc::getresgid(&mut r, &mut e, &mut s)
        );
        println!(
            "same: getgroups {}",
            rc(libc::getgroups(0, ptr::null_mut()))
        );
        println!(
            "same: getgroups negative {}",
            rc(libc::getgroups(-1, ptr::null_mut()))
        );
        println!("same: setuid self {}", rc(libc::setuid(0)));
        println!("same: seteuid self {}", rc(libc::seteuid(0)));
        println!("same: setgid self {}", rc(libc::setgid(0)));
        println!("same: setegid self {}", rc(libc::setegid(0)));
        println!("same: setuid -1 {}", rc(libc::setuid(u32::MAX)));
        println!("same: setgid -1 {}", rc(libc::setgid(u32::MAX)));
        clear_errno();
        let login = libc::getlogin();
        println!("same: getlogin null {} errno {}", login.is_null(), errno());
        let mut name = [0 as c_char; 64];
        println!(
            "same: getlogin_r {}",
            getlogin_r(name.as_mut_ptr(), name.len())
        );
    }
}

fn lookups_linux_shares() {
    println!(
        "same: getpwnam_r unknown {}",
        getpwnam_r("no-such-user", 1024)
    );
    println!("same: getpwuid_r unknown {}", getpwuid_r(4_000_000, 1024));
    println!(
        "same: getgrnam_r unknown {}",
        getgrnam_r("no-such-group", 1024)
    );
    println!("same: getgrgid_r unknown {}", getgrgid_r(4_000_000, 1024));
    println!("same: getpwnam_r root short {}", getpwnam_r("root", 4));
    println!("same: getpwuid_r root short {}", getpwuid_r(0, 4));
    println!("same: getgrnam_r root short {}", getgrnam_r("root", 4));
    println!("same: getgrgid_r root short {}", getgrgid_r(0, 4));
    println!("same: root's uid and gid {}", {
        let line = getpwnam_r("root", 1024);
        let fields: Vec<&str> = line.split(':').collect();
        format!("{} {}", fields[2], fields[3])
    });
    let unknown = CString::new("no-such-user").expect("no NUL");
    clear_errno();
    // SAFETY: a C string.
    let p = unsafe { libc::getpwnam(unknown.as_ptr()) };
    println!("same: getpwnam unknown null {}", p.is_null());
    // SAFETY: a plain id.
    let g = unsafe { libc::getgrgid(4_000_000) };
    println!("same: getgrgid unknown null {}", g.is_null());
}

fn lookups_from_fixture() {
    println!("fixture: getpwnam_r alice {}", getpwnam_r("alice", 1024));
    println!("fixture: getpwuid_r 1001 {}", getpwuid_r(1001, 1024));
    println!("fixture: getpwnam_r broken {}", getpwnam_r("broken", 1024));
    println!("fixture: getgrnam_r users {}", getgrnam_r("users", 1024));
    println!("fixture: getgrgid_r 10 {}", getgrgid_r(10, 1024));
    println!(
        "fixture: getgrnam_r users short {}",
        getgrnam_r("users", 24)
    );
    let alice = CString::new("alice").expect("no NUL");
    // SAFETY: C strings and valid buffers.
    unsafe {
        let p = libc::getpwnam(alice.as_ptr());
        println!("fixture: getpwnam alice {}", maybe_user(p));
        let g = libc::getgrnam(c"staff".as_ptr());
        println!("fixture: getgrnam staff {}", maybe_group(g));
        let p = libc::getpwuid(1001);
        println!("fixture: getpwuid 1001 {}", maybe_user(p));
        let mut groups = [0u32; 10];
        let mut count: c_int = 1;
        let n = libc::getgrouplist(alice.as_ptr(), 1000, groups.as_mut_ptr(), &mut count);
        println!(
            "fixture: getgrouplist alice room 1 {n} count {count} first {}",
            groups[0]
        );
        count = 10;
        let n = libc::getgrouplist(alice.as_ptr(), 1000, groups.as_mut_ptr(), &mut count);
        println!(
            "fixture: getgrouplist alice {n} {:?}",
            &groups[..count as usize]
        );
        let mut names = Vec::new();
        libc::setpwent();
        loop {
            let p = libc::getpwent();
            if p.is_null() {
                break;
            }
            names.push(text((*p).pw_name));
        }
        libc::setpwent();
        let again = maybe_user(libc::getpwent());
        libc::endpwent();
        println!("fixture: getpwent {} then {again}", names.join(","));
    }
}

fn limit(resource: libc::__rlimit_resource_t) -> libc::rlimit {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid out pointer.
    assert_eq!(unsafe { libc::getrlimit(resource, &mut l) }, 0);
    l
}

fn open_until_full() -> String {
    let mut fds = Vec::new();
    loop {
        // SAFETY: a C string path.
        let fd = unsafe { libc::open(c"/".as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY) };
        if fd < 0 {
            let e = errno();
            let last = fds.last().copied().unwrap_or(-1);
            for fd in fds.iter() {
                // SAFETY: descriptors this function opened.
                unsafe { libc::close(*fd) };
            }
            return format!("highest {last} then errno {e}");
        }
        fds.push(fd);
    }
}

fn limits() {
    // SAFETY: valid pointers throughout.
    unsafe {
        let mut l = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        println!("same: getrlimit bad {}", rc(libc::getrlimit(99, &mut l)));
        println!("same: getrlimit16 bad {}", rc(libc::getrlimit(16, &mut l)));
        let nofile = limit(libc::RLIMIT_NOFILE);
        let inverted = libc::rlimit {
            rlim_cur: 2,
            rlim_max: 1,
        };
        println!(
            "same: setrlimit soft above hard {}",
            rc(libc::setrlimit(libc::RLIMIT_NOFILE, &inverted))
        );
        let low = libc::rlimit {
            rlim_cur: 16,
            rlim_max: nofile.rlim_max,
        };
        println!(
            "same: lower NOFILE {}",
            rc(libc::setrlimit(libc::RLIMIT_NOFILE, &low))
        );
        println!("same: open with NOFILE 16: {}", open_until_full());
        println!("same: dup2 above the limit {}", rc(libc::dup2(0, 20)));
        println!(
            "same: F_DUPFD above the limit {}",
            rc(libc::fcntl(0, libc::F_DUPFD, 20))
        );
        println!(
            "same: dup below the limit {}",
            libc::fcntl(0, libc::F_DUPFD, 10) >= 10
        );
        let restored = libc::rlimit {
            rlim_cur: nofile.rlim_cur,
            rlim_max: nofile.rlim_max,
        };
        println!(
            "same: restore NOFILE {}",
            rc(libc::setrlimit(libc::RLIMIT_NOFILE, &restored))
        );
        println!("same: dup2 after restoring {}", libc::dup2(0, 20));
        let mut old = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        println!(
            "same: prlimit other pid {}",
            rc(libc::prlimit(
                999_999,
                libc::RLIMIT_NOFILE,
                ptr::null(),
                &mut old
            ))
        );
        println!(
            "same: prlimit self {} {}",
            rc(libc::prlimit(0, libc::RLIMIT_NOFILE, ptr::null(), &mut old)),
            old.rlim_cur == nofile.rlim_cur
        );
        let core = limit(libc::RLIMIT_CORE);
        println!("same: core soft {}", core.rlim_cur);
        let mut usage: libc::rusage = std::mem::zeroed();
        println!(
            "same: getrusage bad {}",
            rc(libc::getrusage(99, &mut usage))
        );
        // Spin a little so there is CPU time to see.
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < std::time::Duration::from_millis(30) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        println!(
            "same: getrusage self {}",
            rc(libc::getrusage(libc::RUSAGE_SELF, &mut usage))
        );
        let cpu = usage.ru_utime.tv_sec * 1_000_000
            + usage.ru_utime.tv_usec
            + usage.ru_stime.tv_sec * 1_000_000
            + usage.ru_stime.tv_usec;
        println!("same: cpu time positive {}", cpu > 0);
        // CPU-time clocks stand still while the program sleeps.
        for (name, clock) in [
            ("process", libc::CLOCK_PROCESS_CPUTIME_ID),
            ("thread", libc::CLOCK_THREAD_CPUTIME_ID),
        ] {
            let mut before: libc::timespec = std::mem::zeroed();
            let mut after: libc::timespec = std::mem::zeroed();
            libc::clock_gettime(clock, &mut before);
            std::thread::sleep(std::time::Duration::from_millis(300));
            libc::clock_gettime(clock, &mut after);
            let spent_ms = (after.tv_sec - before.tv_sec) * 1000
                + (after.tv_nsec - before.tv_nsec) / 1_000_000;
            println!(
                "same: {name} cpu clock still while asleep {}",
                spent_ms < 150
            );
        }
        println!(
            "same: getrusage children {} {}",
            rc(libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage)),
            usage.ru_utime.tv_sec + usage.ru_utime.tv_usec
        );
        let mut info: libc::sysinfo = std::mem::zeroed();
        println!("same: sysinfo {}", rc(libc::sysinfo(&mut info)));
        println!(
            "same: sysinfo sane {}",
            info.totalram > 0
                && info.freeram > 0
                && info.freeram <= info.totalram
                && info.procs >= 1
                && info.mem_unit >= 1
        );
        let procs = get_nprocs();
        println!(
            "same: get_nprocs matches sysconf {}",
            i64::from(procs) == libc::sysconf(libc::_SC_NPROCESSORS_ONLN)
                && get_nprocs_conf() >= procs
        );
        let raise = libc::rlimit {
            rlim_cur: nofile.rlim_max + 1,
            rlim_max: nofile.rlim_max + 1,
        };
        println!(
            "kiln: raise NOFILE hard {}",
            rc(libc::setrlimit(libc::RLIMIT_NOFILE, &raise))
        );
        for (name, resource) in [
            ("NOFILE", libc::RLIMIT_NOFILE),
            ("NPROC", libc::RLIMIT_NPROC),
            ("AS", libc::RLIMIT_AS),
            ("DATA", libc::RLIMIT_DATA),
            ("CORE", libc::RLIMIT_CORE),
        ] {
            let l = limit(resource);
            println!("kiln: {name} {} {}", l.rlim_cur, l.rlim_max);
        }
        println!(
            "kiln: STACK positive {}",
            limit(libc::RLIMIT_STACK).rlim_cur > 0
        );
        println!(
            "kiln: sysinfo totalram {} procs {} nprocs {}",
            info.totalram * u64::from(info.mem_unit),
            info.procs,
            procs
        );
        let worker = std::thread::spawn(|| {
            let mut info: libc::sysinfo = std::mem::zeroed();
            libc::sysinfo(&mut info);
            info.procs
        });
        println!(
            "kiln: sysinfo procs with a second thread {}",
            worker.join().expect("joins")
        );
    }
}

fn main() {
    identities();
    lookups_linux_shares();
    lookups_from_fixture();
    limits();
}
