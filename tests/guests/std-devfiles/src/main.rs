//! Device files, generated files and the host name, printed so that a
//! native run and a Kiln run can be compared line by line.
//!
//! `std-devfiles` prints the answers that do not depend on the host;
//! `std-devfiles names NAME` checks the host name against NAME;
//! `std-devfiles cat PATH` prints a file; `std-devfiles kiln` prints what
//! only a Kiln guest answers (no terminal, read-only system files, one
//! vCPU, guest memory).

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};

fn errno<T>(result: std::io::Result<T>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(e) => format!("errno {}", e.raw_os_error().unwrap_or(-1)),
    }
}

fn devices() {
    for name in ["null", "zero", "full", "random", "urandom"] {
        let path = format!("/dev/{name}");
        let meta = fs::metadata(&path).expect("stat a device");
        println!(
            "{path}: char {} mode {:o} rdev {},{} size {}",
            meta.file_type().is_char_device(),
            meta.permissions().mode() & 0o7777,
            libc::major(meta.rdev()),
            libc::minor(meta.rdev()),
            meta.len()
        );
    }
    let mut null = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .expect("open /dev/null");
    let mut buf = [7u8; 16];
    println!(
        "/dev/null read: {:?}",
        null.read(&mut buf).map_err(|e| e.kind())
    );
    println!(
        "/dev/null write: {:?}",
        null.write(b"swallowed").map_err(|e| e.kind())
    );
    println!("/dev/null create: {}", errno(File::create("/dev/null")));
    println!(
        "/dev/null append: {}",
        errno(OpenOptions::new().append(true).open("/dev/null"))
    );
    println!(
        "/dev/null to_string: {:?}",
        fs::read_to_string("/dev/null").ok()
    );
    let mut zero = File::open("/dev/zero").expect("open /dev/zero");
    let mut buf = [7u8; 4096];
    let n = zero.read(&mut buf).expect("read /dev/zero");
    println!(
        "/dev/zero read: {n} all zero {}",
        buf.iter().all(|&b| b == 0)
    );
    println!(
        "/dev/zero write: {}",
        errno(
            OpenOptions::new()
                .write(true)
                .open("/dev/zero")
                .and_then(|mut f| f.write(b"x"))
        )
    );
    let mut full = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/full")
        .expect("open /dev/full");
    println!("/dev/full write: {}", errno(full.write(b"no room")));
    let mut buf = [7u8; 8];
    println!("/dev/full read: {} {:?}", errno(full.read(&mut buf)), buf);
    for name in ["/dev/urandom", "/dev/random"] {
        let mut file = File::open(name).expect("open a random device");
        let mut first = [0u8; 32];
        let mut second = [0u8; 32];
        file.read_exact(&mut first).expect("read");
        file.read_exact(&mut second).expect("read");
        println!(
            "{name}: 32 bytes, not all zero {}, two reads differ {}",
            first.iter().any(|&b| b != 0),
            first != second
        );
    }
    let mut listed: Vec<String> = fs::read_dir("/dev")
        .expect("list /dev")
        .map(|entry| {
            entry
                .expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| {
            ["null", "zero", "full", "random", "urandom", "fd", "stdin"].contains(&name.as_str())
        })
        .collect();
    listed.sort();
    println!("/dev lists: {listed:?}");
    for link in ["/dev/fd", "/dev/stdin", "/dev/stdout", "/dev/stderr"] {
        println!("{link} -> {:?}", fs::read_link(link).ok());
    }
    let null = File::open("/dev/null").expect("open");
    let mut poll = libc::pollfd {
        fd: null.as_raw_fd(),
        events: libc::POLLIN | libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let ready = unsafe { libc::poll(&mut poll, 1, 0) };
    println!("/dev/null poll: {ready} revents {:#x}", poll.revents);
    let path = c"/dev/null";
    // SAFETY: a NUL-terminated path.
    let writable = unsafe { libc::access(path.as_ptr(), libc::W_OK) };
    println!("/dev/null access W_OK: {writable}");
}

fn descriptors() {
    let path = std::env::temp_dir().join(format!("std-devfiles-{}", std::process::id()));
    fs::write(&path, b"through the fd link").expect("write a temporary file");
    let file = File::open(&path).expect("open it");
    let fd = file.as_raw_fd();
    let link = format!("/proc/self/fd/{fd}");
    let listed = fs::read_dir("/proc/self/fd")
        .expect("list /proc/self/fd")
        .any(|entry| entry.expect("an entry").file_name().to_string_lossy() == fd.to_string());
    println!("/proc/self/fd lists the file: {listed}");
    let target = fs::read_link(&link).expect("readlink the fd");
    println!(
        "fd link names the file: {}",
        target == fs::canonicalize(&path).expect("canonicalize")
    );
    let meta = fs::symlink_metadata(&link).expect("lstat the fd");
    println!(
        "fd link: symlink {} mode {:o}",
        meta.file_type().is_symlink(),
        meta.permissions().mode() & 0o777
    );
    println!(
        "fd link stat size: {:?}",
        fs::metadata(&link).map(|m| m.len()).ok()
    );
    println!("fd link reopened: {:?}", fs::read_to_string(&link).ok());
    let (reader, _writer) = std::io::pipe().expect("a pipe");
    let pipe = fs::read_link(format!("/proc/self/fd/{}", reader.as_raw_fd())).expect("readlink");
    println!(
        "pipe link: {}",
        pipe.to_string_lossy().starts_with("pipe:[")
    );
    println!("closed fd: {}", errno(fs::read_link("/proc/self/fd/999")));
    drop(file);
    fs::remove_file(&path).expect("remove it");
}

fn process_files() {
    let exe = fs::read_link("/proc/self/exe").expect("readlink /proc/self/exe");
    println!(
        "/proc/self/exe: absolute {} named {:?}",
        exe.is_absolute(),
        exe.file_name()
    );
    println!(
        "current_exe named: {:?}",
        std::env::current_exe()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_owned()))
    );
    let cmdline = fs::read("/proc/self/cmdline").expect("read cmdline");
    let args: Vec<String> = cmdline
        .split(|&b| b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    println!(
        "cmdline after argv[0]: {:?} ends with NUL {}",
        &args[1..],
        cmdline.ends_with(&[0])
    );
    let stat = fs::read_to_string("/proc/self/stat").expect("read stat");
    let prefix = format!("{} (std-devfiles) ", std::process::id());
    println!(
        "stat: starts with pid and name {}, fields {}",
        stat.starts_with(&prefix),
        stat.split_whitespace().count()
    );
    let meminfo = fs::read_to_string("/proc/meminfo").expect("read meminfo");
    let field = |name: &str| -> Option<u64> {
        let line = meminfo
            .lines()
            .find(|l| l.starts_with(&format!("{name}:")))?;
        let rest = line.split_once(':')?.1.trim();
        rest.strip_suffix(" kB")?.trim().parse().ok()
    };
    let (total, free, available) = (field("MemTotal"), field("MemFree"), field("MemAvailable"));
    println!(
        "meminfo: parsed {} free <= total {}",
        total.is_some() && free.is_some() && available.is_some(),
        free <= total && available <= total
    );
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").expect("read cpuinfo");
    println!(
        "cpuinfo: first line {:?}, has vendor_id {}, flags with fpu {}",
        cpuinfo.lines().next(),
        cpuinfo.lines().any(|l| l.starts_with("vendor_id\t: ")),
        cpuinfo
            .lines()
            .any(|l| l.starts_with("flags\t\t: ") && l.split_whitespace().any(|f| f == "fpu"))
    );
    let uptime = fs::read_to_string("/proc/uptime").expect("read uptime");
    let numbers: Vec<f64> = uptime
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    println!("uptime: two numbers {}", numbers.len() == 2);
    let passwd = fs::read_to_string("/etc/passwd").expect("read /etc/passwd");
    println!(
        "passwd has root: {}",
        passwd
            .lines()
            .any(|l| l.starts_with("root:x:0:0:root:/root:"))
    );
    let group = fs::read_to_string("/etc/group").expect("read /etc/group");
    println!(
        "group has root: {}",
        group.lines().any(|l| l.starts_with("root:x:0:"))
    );
    let hosts = fs::read_to_string("/etc/hosts").expect("read /etc/hosts");
    println!(
        "hosts has localhost: {}",
        hosts
            .lines()
            .any(|l| l.starts_with("127.0.0.1") && l.contains("localhost"))
    );
    println!(
        "/proc/1 is /proc/self: {}",
        fs::metadata("/proc/self/stat").is_ok() && fs::read_link("/proc/self").is_ok()
    );
}

fn uname() -> libc::utsname {
    // SAFETY: all-zero is a valid utsname, which uname fills.
    let mut names: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: a valid utsname.
    assert_eq!(unsafe { libc::uname(&mut names) }, 0, "uname");
    names
}

fn field(chars: &[libc::c_char]) -> String {
    let bytes: Vec<u8> = chars
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn system_names() {
    let names = uname();
    let release = field(&names.release);
    let mut numbers = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u32>());
    let major = numbers.next().and_then(Result::ok).unwrap_or(0);
    println!(
        "uname: sysname {} machine {} release is at least 4.x {}",
        field(&names.sysname),
        field(&names.machine),
        major >= 4
    );
    let mut short = [0 as libc::c_char; 2];
    // SAFETY: a buffer of the length given.
    let result = unsafe { libc::gethostname(short.as_mut_ptr(), short.len()) };
    println!(
        "gethostname into 2 bytes: {result} errno {}",
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
    );
}

fn crates() {
    use rand::Rng;
    let mut rng = rand::rng();
    let rolls: Vec<u32> = (0..64).map(|_| rng.random_range(1..=6)).collect();
    println!(
        "rand ThreadRng: in range {} not constant {}",
        rolls.iter().all(|r| (1..=6).contains(r)),
        rolls.iter().any(|&r| r != rolls[0])
    );
    let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    println!(
        "uuid v4: version {} distinct {}",
        a.get_version_num(),
        a != b
    );
}

fn names(expected: &str) {
    let names = uname();
    let mut buf = [0 as libc::c_char; 65];
    // SAFETY: a buffer of the length given.
    assert_eq!(unsafe { libc::gethostname(buf.as_mut_ptr(), buf.len()) }, 0);
    println!("gethostname is it: {}", field(&buf) == expected);
    println!(
        "uname nodename is it: {}",
        field(&names.nodename) == expected
    );
    let kernel = fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    println!(
        "/proc/sys/kernel/hostname is it: {}",
        kernel.trim_end() == expected
    );
}

fn kiln_only() {
    println!("/dev/tty: {}", errno(File::open("/dev/tty")));
    println!(
        "write /proc/meminfo: {}",
        errno(OpenOptions::new().write(true).open("/proc/meminfo"))
    );
    println!(
        "write /etc/hostname: {}",
        errno(OpenOptions::new().write(true).open("/etc/hostname"))
    );
    println!("remove /dev/null: {}", errno(fs::remove_file("/dev/null")));
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").expect("read cpuinfo");
    println!(
        "cpuinfo processors: {}",
        cpuinfo
            .lines()
            .filter(|l| l.starts_with("processor"))
            .count()
    );
    for line in cpuinfo.lines().filter(|l| l.starts_with("vendor_id")) {
        println!("cpuinfo {line}");
    }
    let meminfo = fs::read_to_string("/proc/meminfo").expect("read meminfo");
    for line in meminfo.lines().take(3) {
        println!("meminfo {line}");
    }
    println!("release: {}", field(&uname().release));
    // Never run natively: it would rename the host.
    let name = b"renamed";
    // SAFETY: a buffer of the length given.
    let renamed = unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) };
    println!(
        "sethostname: {renamed} errno {}",
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
    );
    let mut etc: Vec<String> = fs::read_dir("/etc")
        .expect("list /etc")
        .map(|entry| {
            entry
                .expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    etc.sort();
    println!("/etc lists: {etc:?}");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        None => {
            devices();
            descriptors();
            process_files();
            system_names();
            crates();
        }
        Some("names") => names(&args[2]),
        Some("cat") => match fs::read_to_string(&args[2]) {
            Ok(text) => print!("{text}"),
            Err(e) => println!("{}: errno {}", args[2], e.raw_os_error().unwrap_or(-1)),
        },
        Some("kiln") => kiln_only(),
        Some(other) => panic!("unknown mode {other}"),
    }
}
