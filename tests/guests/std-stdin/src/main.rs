//! Reads stdin the ways programs do, chosen by the first argument:
//!
//! - `echo`: copies stdin to stdout (`io::copy`, large reads);
//! - `lines`: echoes stdin line by line through a small buffered reader;
//! - `eof`: counts stdin's bytes, then reads again after end of file,
//!   polls it, and says whether it is a terminal;
//! - `heartbeat`: one thread prints a heartbeat every 20 ms while the main
//!   thread blocks reading stdin; prints what it read once stdin ends;
//! - `epoll`: waits for stdin in `epoll_wait`, as mio does, then reads it.

use std::io::{self, BufRead, IsTerminal, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

#[repr(C)]
struct PollFd {
    fd: i32,
    events: i16,
    revents: i16,
}

const POLLIN: i16 = 0x1;

#[repr(C, packed)]
struct EpollEvent {
    events: u32,
    data: u64,
}

const EPOLLIN: u32 = 0x1;
const EPOLL_CTL_ADD: i32 = 1;

// SAFETY: `poll(2)`, `read(2)` and the epoll calls as glibc declares them.
unsafe extern "C" {
    fn poll(fds: *mut PollFd, count: u64, timeout_ms: i32) -> i32;
    fn read(fd: i32, buf: *mut u8, len: usize) -> isize;
    fn epoll_create1(flags: i32) -> i32;
    fn epoll_ctl(epoll: i32, op: i32, fd: i32, event: *mut EpollEvent) -> i32;
    fn epoll_wait(epoll: i32, events: *mut EpollEvent, max: i32, timeout_ms: i32) -> i32;
}

/// `poll` on stdin alone: its `revents`, or -1.
fn poll_stdin(timeout_ms: i32) -> i32 {
    let mut fd = PollFd {
        fd: 0,
        events: POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    match unsafe { poll(&mut fd, 1, timeout_ms) } {
        n if n < 0 => -1,
        _ => i32::from(fd.revents),
    }
}

/// One `read(2)` of descriptor 0, as its raw return value.
fn read_raw(buf: &mut [u8]) -> isize {
    // SAFETY: `buf` is valid for writes of its length.
    unsafe { read(0, buf.as_mut_ptr(), buf.len()) }
}

fn echo() -> io::Result<()> {
    let copied = io::copy(&mut io::stdin().lock(), &mut io::stdout().lock())?;
    eprintln!("copied {copied} bytes");
    Ok(())
}

fn lines() -> io::Result<()> {
    let mut out = io::stdout().lock();
    for line in io::stdin().lock().lines() {
        writeln!(out, "line: {}", line?)?;
    }
    Ok(())
}

fn eof() -> io::Result<()> {
    println!("terminal: {}", io::stdin().is_terminal());
    let mut all = Vec::new();
    io::stdin().lock().read_to_end(&mut all)?;
    let sum = all.iter().fold(0u64, |sum, b| {
        sum.wrapping_mul(31).wrapping_add(u64::from(*b))
    });
    println!("read {} bytes, checksum {sum:x}", all.len());
    let mut buf = [0u8; 16];
    println!("read after end of file: {}", read_raw(&mut buf));
    println!("again: {}", read_raw(&mut buf));
    println!("poll at end of file: {:#x}", poll_stdin(1000));
    println!("read of 0 bytes: {}", read_raw(&mut []));
    Ok(())
}

fn heartbeat() -> io::Result<()> {
    static DONE: AtomicBool = AtomicBool::new(false);
    static BEATS: AtomicU32 = AtomicU32::new(0);
    let beater = std::thread::spawn(|| {
        while !DONE.load(Ordering::Relaxed) {
            let beat = BEATS.fetch_add(1, Ordering::Relaxed);
            println!("heartbeat {beat}");
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    println!("poll before input: {:#x}", poll_stdin(0));
    let mut input = String::new();
    io::stdin().read_to_string(&mut input)?;
    let beats = BEATS.load(Ordering::Relaxed);
    DONE.store(true, Ordering::Relaxed);
    beater.join().expect("heartbeat thread");
    println!("read {input:?} after {beats} heartbeats");
    Ok(())
}

fn epoll() -> io::Result<()> {
    // SAFETY: a new epoll instance, stdin registered with a valid event,
    // and waits into one valid event record.
    unsafe {
        let epoll = epoll_create1(0);
        let mut event = EpollEvent {
            events: EPOLLIN,
            data: 7,
        };
        println!("add: {}", epoll_ctl(epoll, EPOLL_CTL_ADD, 0, &mut event));
        let mut ready = EpollEvent { events: 0, data: 0 };
        println!("before input: {}", epoll_wait(epoll, &mut ready, 1, 0));
        let n = epoll_wait(epoll, &mut ready, 1, -1);
        let (events, data) = (ready.events, ready.data);
        println!(
            "waited: {n}, readable {}, data {data}",
            events & EPOLLIN != 0
        );
    }
    let mut line = String::new();
    io::stdin().read_line(&mut line)?;
    println!("read: {line:?}");
    Ok(())
}

fn main() -> io::Result<()> {
    match std::env::args().nth(1).as_deref() {
        Some("echo") => echo(),
        Some("lines") => lines(),
        Some("eof") => eof(),
        Some("heartbeat") => heartbeat(),
        Some("epoll") => epoll(),
        other => {
            eprintln!("unknown mode {other:?}");
            std::process::exit(2);
        }
    }
}
