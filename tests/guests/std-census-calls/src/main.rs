//! Calls the terminal, interface and inotify functions and prints every
//! answer (results and errno numbers), so a Kiln run and a native run can
//! be compared line by line.
//!
//! Modes (the first argument):
//! - none: non-terminals (pipes, files, `/dev/null`, closed descriptors),
//!   the pure `termios` edits, the interface functions on `lo`, and the
//!   byte-order conversions;
//! - `terminal`: stdin is a fresh pseudo-terminal; its settings;
//! - `terminal-changes`: on that terminal, raw mode and its name;
//! - `interfaces`: every `getifaddrs` entry and interface name;
//! - `inotify`: watches on a directory and a file, the events of each
//!   change (see [`inotify`]); `inotify-watch PATH`: a watch on `PATH`;
//! - `notify`: the `notify` crate's watcher.

use std::ffi::{CStr, CString};
use std::io::Error;
use std::os::fd::AsRawFd;

mod inotify;

fn errno() -> i32 {
    Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// A C call's result, with errno when it failed.
fn outcome(result: i32) -> String {
    if result == -1 {
        format!("-1 errno {}", errno())
    } else {
        result.to_string()
    }
}

fn zeroed_termios() -> libc::termios {
    // SAFETY: `termios` is plain integers; all zero is a valid value.
    unsafe { std::mem::zeroed() }
}

fn show_termios(label: &str, t: &libc::termios) {
    println!(
        "{label}: iflag {:o} oflag {:o} cflag {:o} lflag {:o} line {} cc {:?} ispeed {:o} ospeed {:o}",
        t.c_iflag, t.c_oflag, t.c_cflag, t.c_lflag, t.c_line, t.c_cc, t.c_ispeed, t.c_ospeed
    );
}

/// Every terminal call on `fd`, which is not a terminal (or not open).
fn not_a_terminal(label: &str, fd: i32) {
    let mut t = zeroed_termios();
    // SAFETY: `t` is a valid termios for each call.
    unsafe {
        println!(
            "{label} tcgetattr: {}",
            outcome(libc::tcgetattr(fd, &mut t))
        );
        println!(
            "{label} tcsetattr now: {}",
            outcome(libc::tcsetattr(fd, libc::TCSANOW, &t))
        );
        println!(
            "{label} tcsetattr flush: {}",
            outcome(libc::tcsetattr(fd, libc::TCSAFLUSH, &t))
        );
        println!(
            "{label} tcsetattr 7: {}",
            outcome(libc::tcsetattr(fd, 7, &t))
        );
    }
    // SAFETY: plain descriptor calls.
    unsafe {
        println!(
            "{label} tcflush in: {}",
            outcome(libc::tcflush(fd, libc::TCIFLUSH))
        );
        println!("{label} tcflush 9: {}", outcome(libc::tcflush(fd, 9)));
        println!("{label} tcdrain: {}", outcome(libc::tcdrain(fd)));
    }
    let mut size = libc::winsize {
        ws_row: 7,
        ws_col: 7,
        ws_xpixel: 7,
        ws_ypixel: 7,
    };
    // SAFETY: TIOCGWINSZ writes a winsize.
    let result = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut size) };
    println!(
        "{label} TIOCGWINSZ: {} rows {} cols {}",
        outcome(result),
        size.ws_row,
        size.ws_col
    );
    // SAFETY: plain descriptor call.
    println!(
        "{label} isatty: {} errno {}",
        unsafe { libc::isatty(fd) },
        errno()
    );
    let mut name = [0 as libc::c_char; 64];
    for len in [64, 10, 9, 0] {
        // SAFETY: `name` has room for `len` bytes.
        let error = unsafe { libc::ttyname_r(fd, name.as_mut_ptr(), len) };
        println!("{label} ttyname_r len {len}: {error} errno {}", errno());
    }
    // SAFETY: a null buffer is an error glibc reports.
    let error = unsafe { libc::ttyname_r(fd, std::ptr::null_mut(), 64) };
    println!("{label} ttyname_r null: {error}");
    // SAFETY: plain descriptor call.
    let pointer = unsafe { libc::ttyname(fd) };
    println!(
        "{label} ttyname: null {} errno {}",
        pointer.is_null(),
        errno()
    );
}

fn termios_edits() {
    let mut t = zeroed_termios();
    t.c_iflag = !0;
    t.c_oflag = !0;
    t.c_cflag = !0;
    t.c_lflag = !0;
    t.c_cc = [0xaa; 32];
    // SAFETY: `t` is a valid termios.
    unsafe { libc::cfmakeraw(&mut t) };
    show_termios("cfmakeraw of all ones", &t);
    let mut t = zeroed_termios();
    // SAFETY: as above.
    unsafe { libc::cfmakeraw(&mut t) };
    show_termios("cfmakeraw of zeros", &t);

    for speed in [
        libc::B0,
        libc::B50,
        libc::B9600,
        libc::B38400,
        libc::B57600,
        libc::B4000000,
        0o20,
        0o10020,
        9600,
        115200,
    ] {
        let mut t = zeroed_termios();
        // SAFETY: as above.
        unsafe {
            let out = outcome(libc::cfsetospeed(&mut t, speed));
            let input = outcome(libc::cfsetispeed(&mut t, speed));
            println!(
                "speed {speed:o}: set out {out} in {input} -> get out {:o} in {:o}",
                libc::cfgetospeed(&t),
                libc::cfgetispeed(&t)
            );
        }
        show_termios("  after", &t);
    }
    // Input speed 0 means "as the output speed".
    let mut t = zeroed_termios();
    // SAFETY: as above.
    unsafe {
        libc::cfsetospeed(&mut t, libc::B9600);
        libc::cfsetispeed(&mut t, libc::B0);
        println!(
            "ispeed 0: get out {:o} in {:o}",
            libc::cfgetospeed(&t),
            libc::cfgetispeed(&t)
        );
        show_termios("  after", &t);
        libc::cfsetispeed(&mut t, libc::B1200);
        show_termios("  then 1200", &t);
    }
    for speed in [
        0, 1, 9, 15, 50, 9600, 19200, 115200, 4000000, 12345, 0o10001, 38401,
    ] {
        let mut t = zeroed_termios();
        // SAFETY: as above.
        let result = unsafe { libc::cfsetspeed(&mut t, speed) };
        println!("cfsetspeed {speed}: {}", outcome(result));
        show_termios("  after", &t);
    }
}

fn non_terminals() {
    not_a_terminal("stdin", 0);
    not_a_terminal("stdout", 1);
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for two descriptors.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    not_a_terminal("pipe", fds[0]);
    let path = std::env::temp_dir().join(format!("census-calls-{}", std::process::id()));
    let file = std::fs::File::create(&path).expect("create a file");
    not_a_terminal("file", file.as_raw_fd());
    std::fs::remove_file(&path).expect("remove the file");
    let null = std::fs::File::open("/dev/null").expect("open /dev/null");
    not_a_terminal("/dev/null", null.as_raw_fd());
    let dir = std::fs::File::open("/").expect("open /");
    not_a_terminal("directory", dir.as_raw_fd());
    not_a_terminal("closed", 900);
    termios_edits();
}

/// `sockaddr`'s bytes after its family, as hex, or "null".
fn address(sockaddr: *const libc::sockaddr) -> String {
    if sockaddr.is_null() {
        return "null".into();
    }
    // SAFETY: getifaddrs gives valid addresses of their family's size.
    let family = unsafe { (*sockaddr).sa_family } as i32;
    let len = match family {
        libc::AF_INET => 16,
        libc::AF_INET6 => 28,
        _ => 20,
    };
    // SAFETY: as above.
    let bytes = unsafe { std::slice::from_raw_parts(sockaddr.cast::<u8>(), len) };
    let hex: String = bytes[2..].iter().map(|b| format!("{b:02x}")).collect();
    format!("{family}:{hex}")
}

/// Prints the `getifaddrs` entries of `only` (or all), and checks the
/// order glibc lists them in: link entries, IPv4, IPv6.
fn interface_addresses(only: Option<&str>) {
    let mut list = std::ptr::null_mut();
    // SAFETY: `list` receives the list.
    println!(
        "getifaddrs: {}",
        outcome(unsafe { libc::getifaddrs(&mut list) })
    );
    let rank = |family: i32| match family {
        libc::AF_PACKET => 0,
        libc::AF_INET => 1,
        _ => 2,
    };
    let (mut entries, mut last_rank, mut ordered) = (0, 0, true);
    let mut entry = list;
    while !entry.is_null() {
        // SAFETY: a list from getifaddrs.
        let e = unsafe { &*entry };
        // SAFETY: every entry has a name.
        let name = unsafe { CStr::from_ptr(e.ifa_name) }.to_string_lossy();
        // SAFETY: every entry here has an address.
        let family = unsafe { (*e.ifa_addr).sa_family } as i32;
        ordered &= rank(family) >= last_rank;
        last_rank = rank(family);
        entries += 1;
        if only.is_none_or(|only| only == name) {
            println!(
                "{name} flags {:x} addr {} netmask {} broadaddr {} data {}",
                e.ifa_flags,
                address(e.ifa_addr),
                address(e.ifa_netmask),
                address(e.ifa_ifu),
                !e.ifa_data.is_null()
            );
        }
        entry = e.ifa_next;
    }
    println!(
        "entries listed in order: {} (some: {})",
        ordered,
        entries > 0
    );
    // SAFETY: the list from getifaddrs, freed once.
    unsafe { libc::freeifaddrs(list) };
}

fn name_to_index(name: &str) {
    let c = CString::new(name).expect("no NUL");
    // SAFETY: a C string.
    let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
    println!(
        "if_nametoindex {name}: {index} errno {}",
        if index == 0 { errno() } else { 0 }
    );
}

fn index_to_name(index: u32) {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `buf` has IF_NAMESIZE bytes.
    let name = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if name.is_null() {
        println!("if_indextoname {index}: null errno {}", errno());
    } else {
        // SAFETY: the name written into `buf`.
        println!(
            "if_indextoname {index}: {}",
            unsafe { CStr::from_ptr(name) }.to_string_lossy()
        );
    }
}

/// `if_nameindex`'s list, or only whether it holds `lo` at 1.
fn name_index(all: bool) {
    // SAFETY: plain call; the list ends with a zero index.
    let list = unsafe { libc::if_nameindex() };
    let mut has_lo = false;
    let mut at = list;
    // SAFETY: a list from if_nameindex, read up to its end.
    while unsafe { (*at).if_index } != 0 {
        // SAFETY: as above.
        let (index, name) = unsafe {
            (
                (*at).if_index,
                CStr::from_ptr((*at).if_name).to_string_lossy(),
            )
        };
        has_lo |= index == 1 && name == "lo";
        if all {
            println!("if_nameindex: {index} {name}");
        }
        // SAFETY: within the list.
        at = unsafe { at.add(1) };
    }
    // SAFETY: as above.
    println!(
        "if_nameindex has lo at 1: {has_lo}, ends with a null name: {}",
        unsafe { (*at).if_name.is_null() }
    );
    // SAFETY: the list from if_nameindex.
    unsafe { libc::if_freenameindex(list) };
}

unsafe extern "C" {
    // The libc crate's are Rust functions; these are the C library's.
    fn htonl(host: u32) -> u32;
    fn htons(host: u16) -> u16;
    fn ntohl(network: u32) -> u32;
    fn ntohs(network: u16) -> u16;
}

fn byte_order() {
    // SAFETY: pure functions.
    unsafe {
        println!(
            "htonl {:#x} htons {:#x} ntohl {:#x} ntohs {:#x}",
            htonl(0x0102_0304),
            htons(0x0102),
            ntohl(0x0102_0304),
            ntohs(0x0102)
        );
    }
}

fn loopback_interface() {
    name_to_index("lo");
    name_to_index("nosuch0");
    name_to_index("");
    name_to_index("a-name-longer-than-ifnamsiz");
    index_to_name(1);
    index_to_name(999);
    index_to_name(0);
    name_index(false);
    interface_addresses(Some("lo"));
}

fn terminal() {
    let mut t = zeroed_termios();
    // SAFETY: `t` is a valid termios.
    println!(
        "tcgetattr: {}",
        outcome(unsafe { libc::tcgetattr(0, &mut t) })
    );
    show_termios("stdin", &t);
    // SAFETY: as above.
    unsafe {
        println!(
            "speeds: out {:o} in {:o}",
            libc::cfgetospeed(&t),
            libc::cfgetispeed(&t)
        );
        for action in [libc::TCSANOW, libc::TCSADRAIN, libc::TCSAFLUSH, 3] {
            println!(
                "tcsetattr {action} as it is: {}",
                outcome(libc::tcsetattr(0, action, &t))
            );
        }
        println!("tcflush in: {}", outcome(libc::tcflush(0, libc::TCIFLUSH)));
        println!(
            "tcflush both: {}",
            outcome(libc::tcflush(0, libc::TCIOFLUSH))
        );
        println!("tcflush 9: {}", outcome(libc::tcflush(0, 9)));
        println!("tcdrain: {}", outcome(libc::tcdrain(0)));
        println!("isatty: {}", libc::isatty(0));
    }
    let mut size = libc::winsize {
        ws_row: 7,
        ws_col: 7,
        ws_xpixel: 7,
        ws_ypixel: 7,
    };
    // SAFETY: TIOCGWINSZ writes a winsize.
    let result = unsafe { libc::ioctl(0, libc::TIOCGWINSZ, &mut size) };
    println!(
        "TIOCGWINSZ: {} rows {} cols {} pixels {}x{}",
        outcome(result),
        size.ws_row,
        size.ws_col,
        size.ws_xpixel,
        size.ws_ypixel
    );
    let mut name = [0 as libc::c_char; 8];
    // SAFETY: `name` has 8 bytes, fewer than "/dev/pts/" needs.
    println!("ttyname_r short: {}", unsafe {
        libc::ttyname_r(0, name.as_mut_ptr(), name.len())
    });
    // The console's output is not a terminal in either run (a pipe).
    // SAFETY: plain call.
    println!("stdout isatty: {}", unsafe { libc::isatty(1) });
}

fn terminal_changes() {
    let mut t = zeroed_termios();
    // SAFETY: `t` is a valid termios.
    unsafe {
        libc::tcgetattr(0, &mut t);
        libc::cfmakeraw(&mut t);
        println!(
            "tcsetattr raw: {}",
            outcome(libc::tcsetattr(0, libc::TCSANOW, &t))
        );
    }
    let mut name = [0 as libc::c_char; 64];
    // SAFETY: `name` has 64 bytes.
    println!("ttyname_r: {}", unsafe {
        libc::ttyname_r(0, name.as_mut_ptr(), name.len())
    });
    // SAFETY: plain call.
    let pointer = unsafe { libc::ttyname(0) };
    println!("ttyname: null {} errno {}", pointer.is_null(), errno());
}

fn main() {
    match std::env::args().nth(1).as_deref() {
        None => {
            non_terminals();
            loopback_interface();
            byte_order();
        }
        Some("terminal") => terminal(),
        Some("terminal-changes") => terminal_changes(),
        Some("interfaces") => {
            interface_addresses(None);
            name_index(true);
            name_to_index("eth0");
            index_to_name(2);
        }
        Some("inotify") => inotify::run(),
        Some("inotify-watch") => inotify::watch(&std::env::args().nth(2).expect("a path")),
        Some("notify") => inotify::notify_crate(),
        Some(other) => panic!("unknown mode {other}"),
    }
}
