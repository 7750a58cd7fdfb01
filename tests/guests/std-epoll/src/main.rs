//! epoll and eventfd through the C library, printing what each call
//! answered: `cargo run` on Linux prints the same lines as Kiln.

use std::ffi::{c_int, c_void};
use std::time::{Duration, Instant};

#[repr(C, packed)]
#[derive(Clone, Copy, Default)]
struct EpollEvent {
    events: u32,
    data: u64,
}

unsafe extern "C" {
    fn __errno_location() -> *mut c_int;
    fn epoll_create1(flags: c_int) -> c_int;
    fn epoll_ctl(epfd: c_int, op: c_int, fd: c_int, event: *const EpollEvent) -> c_int;
    fn epoll_wait(epfd: c_int, events: *mut EpollEvent, max: c_int, timeout: c_int) -> c_int;
    fn eventfd(initial: u32, flags: c_int) -> c_int;
    fn pipe2(fds: *mut c_int, flags: c_int) -> c_int;
    fn read(fd: c_int, buf: *mut c_void, count: usize) -> isize;
    fn write(fd: c_int, buf: *const c_void, count: usize) -> isize;
    fn close(fd: c_int) -> c_int;
    fn socketpair(domain: c_int, kind: c_int, protocol: c_int, fds: *mut c_int) -> c_int;
    fn send(fd: c_int, buf: *const c_void, len: usize, flags: c_int) -> isize;
    fn recv(fd: c_int, buf: *mut c_void, len: usize, flags: c_int) -> isize;
}

const EPOLLIN: u32 = 0x1;
const EPOLLOUT: u32 = 0x4;
const EPOLLHUP: u32 = 0x10;
const EPOLLRDHUP: u32 = 0x2000;
const EPOLLET: u32 = 1 << 31;
const ADD: c_int = 1;
const DEL: c_int = 2;
const MOD: c_int = 3;
const NONBLOCK: c_int = 0o4000;
const CLOEXEC: c_int = 0o2000000;
const SEMAPHORE: c_int = 1;

/// A call's answer as Linux's C library gives it: the value, or the errno.
fn answer(result: isize) -> String {
    if result >= 0 {
        result.to_string()
    } else {
        // SAFETY: errno is this thread's.
        format!("errno {}", unsafe { *__errno_location() })
    }
}

fn ctl(epfd: c_int, op: c_int, fd: c_int, events: u32, data: u64) -> String {
    let event = EpollEvent { events, data };
    // SAFETY: a valid event.
    answer(unsafe { epoll_ctl(epfd, op, fd, &event) } as isize)
}

/// Waits and prints the events as `data:events` pairs, in data order.
fn wait(epfd: c_int, timeout: c_int) -> String {
    let mut events = [EpollEvent::default(); 8];
    // SAFETY: 8 writable events.
    let n = unsafe { epoll_wait(epfd, events.as_mut_ptr(), 8, timeout) };
    if n < 0 {
        return answer(n as isize);
    }
    let mut got: Vec<(u64, u32)> = events[..n as usize]
        .iter()
        .map(|e| (e.data, e.events))
        .collect();
    got.sort_unstable();
    let listed: Vec<String> = got.iter().map(|(d, e)| format!("{d}:{e:#x}")).collect();
    format!("{n} [{}]", listed.join(" "))
}

fn write_u64(fd: c_int, value: u64) -> String {
    // SAFETY: 8 readable bytes.
    answer(unsafe { write(fd, (&raw const value).cast(), 8) })
}

fn read_u64(fd: c_int) -> String {
    let mut value = 0u64;
    // SAFETY: 8 writable bytes.
    let n = unsafe { read(fd, (&raw mut value).cast(), 8) };
    if n == 8 {
        format!("value {value}")
    } else {
        answer(n)
    }
}

fn main() {
    // SAFETY (all blocks below): plain C calls on valid buffers.
    unsafe {
        // eventfd counters.
        let efd = eventfd(0, NONBLOCK | CLOEXEC);
        println!("eventfd empty read: {}", read_u64(efd));
        println!("eventfd write: {} {}", write_u64(efd, 1), write_u64(efd, 2));
        println!("eventfd read: {} then {}", read_u64(efd), read_u64(efd));
        println!("eventfd write max: {}", write_u64(efd, u64::MAX));
        let mut small = [0u8; 4];
        println!(
            "eventfd short read: {}",
            answer(read(efd, small.as_mut_ptr().cast(), 4))
        );
        println!(
            "eventfd overflow: {} {}",
            write_u64(efd, u64::MAX - 1),
            write_u64(efd, 1)
        );
        read_u64(efd);
        let sem = eventfd(2, NONBLOCK | SEMAPHORE);
        println!(
            "semaphore: {} {} {}",
            read_u64(sem),
            read_u64(sem),
            read_u64(sem)
        );
        close(sem);

        // Level-triggered pipe.
        let ep = epoll_create1(CLOEXEC);
        let mut fds = [0; 2];
        pipe2(fds.as_mut_ptr(), NONBLOCK);
        let [r, w] = fds;
        println!("add pipe: {}", ctl(ep, ADD, r, EPOLLIN, 1));
        println!("add again: {}", ctl(ep, ADD, r, EPOLLIN, 1));
        println!("mod unknown: {}", ctl(ep, MOD, w, EPOLLOUT, 2));
        println!("del unknown: {}", ctl(ep, DEL, w, 0, 0));
        println!("add itself: {}", ctl(ep, ADD, ep, EPOLLIN, 9));
        println!("ctl on a pipe: {}", ctl(r, ADD, efd, EPOLLIN, 9));
        println!("bad op: {}", ctl(ep, 7, w, EPOLLOUT, 9));
        println!("nothing yet: {}", wait(ep, 0));
        write(w, b"x".as_ptr().cast(), 1);
        println!("level: {}", wait(ep, 0));
        println!("level again: {}", wait(ep, 0));
        let mut byte = [0u8; 1];
        read(r, byte.as_mut_ptr().cast(), 1);
        println!("drained: {}", wait(ep, 0));

        // Edge-triggered eventfd and pipe write end, as mio registers them.
        let mio = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        println!(
            "add eventfd ET: {}",
            ctl(ep, ADD, efd, EPOLLIN | EPOLLET, 3)
        );
        println!("add writer ET: {}", ctl(ep, ADD, w, mio, 4));
        println!("writer edge: {}", wait(ep, 0));
        println!("no new edge: {}", wait(ep, 0));
        write_u64(efd, 1);
        println!("eventfd edge: {}", wait(ep, 0));
        println!("consumed: {}", wait(ep, 0));
        write_u64(efd, 1);
        println!("another write, another edge: {}", wait(ep, 0));
        read_u64(efd);
        println!("mod re-arms: {}", ctl(ep, MOD, w, mio, 5));
        println!("re-armed: {}", wait(ep, 0));
        println!("del writer: {}", ctl(ep, DEL, w, 0, 0));

        // Hang-up: the writer closed.
        close(w);
        println!("hang-up: {}", wait(ep, 0));
        println!("close removes: {} then {}", close(r), wait(ep, 0));

        // Timeouts, and a wait woken by another thread.
        let start = Instant::now();
        let timed_out = wait(ep, 30);
        println!(
            "timeout: {timed_out}, waited: {}",
            start.elapsed() >= Duration::from_millis(30)
        );
        let waker = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            write_u64(efd, 7);
        });
        let start = Instant::now();
        let woken = wait(ep, 5000);
        let elapsed = start.elapsed();
        waker.join().expect("waker");
        println!(
            "woken: {woken}, after the write: {}, before the timeout: {}",
            elapsed >= Duration::from_millis(40),
            elapsed < Duration::from_secs(4)
        );
        let _ = EPOLLHUP;
        println!("zero max: {}", {
            let mut e = EpollEvent::default();
            answer(epoll_wait(ep, &mut e, 0, 0) as isize)
        });
        println!("wait on a non-epoll: {}", wait(efd, 0));

        // A Unix stream pair, as tokio's signal driver makes one.
        let mut pair = [0; 2];
        let made = socketpair(1, 1 | NONBLOCK | CLOEXEC, 0, pair.as_mut_ptr());
        println!("socketpair: {}", answer(made as isize));
        let mut unused = [-1; 2];
        let inet = socketpair(2, 1, 0, unused.as_mut_ptr());
        println!("socketpair inet: {}", answer(inet as isize));
        let [a, b] = pair;
        let ep2 = epoll_create1(0);
        let mio = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        println!("add pair: {}", ctl(ep2, ADD, b, mio, 6));
        println!("pair writable: {}", wait(ep2, 0));
        let mut buf = [0u8; 8];
        println!(
            "pair empty: {}",
            answer(recv(b, buf.as_mut_ptr().cast(), 8, 0))
        );
        println!(
            "pair send: {}",
            answer(send(a, b"hi".as_ptr().cast(), 2, 0))
        );
        println!("pair readable: {}", wait(ep2, 0));
        println!("pair recv: {}", answer(read(b, buf.as_mut_ptr().cast(), 8)));
        println!("pair back: {}", answer(write(b, b"yo".as_ptr().cast(), 2)));
        println!(
            "pair other way: {}",
            answer(recv(a, buf.as_mut_ptr().cast(), 8, 0))
        );
        close(a);
        println!(
            "pair eof: {}",
            answer(recv(b, buf.as_mut_ptr().cast(), 8, 0))
        );
    }
    println!(
        "answers while others register: each its own: {}",
        answers_stay_with_their_registrations()
    );
}

/// Waits (level-triggered) on an epoll instance while another thread keeps
/// removing and adding registrations, as a runtime's workers do while its
/// driver waits: every readable eventfd but one never-readable one is
/// registered, and no answer may name the silent one. Removing a
/// registration moves those after it in the interest list, so answers
/// matched by position would hand the silent one a neighbour's readiness.
fn answers_stay_with_their_registrations() -> bool {
    use std::collections::VecDeque;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    const SILENT: u64 = 99;
    // SAFETY: plain calls on descriptors this function owns.
    unsafe {
        let ep = epoll_create1(0);
        let mut order: VecDeque<(c_int, u64)> = (0..7).map(|t| (eventfd(1, NONBLOCK), t)).collect();
        order.push_back((eventfd(0, NONBLOCK), SILENT));
        for &(fd, token) in &order {
            ctl(ep, ADD, fd, EPOLLIN, token);
        }
        let done = Arc::new(AtomicBool::new(false));
        let churn = {
            let done = done.clone();
            std::thread::spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    let (fd, token) = order.pop_front().expect("eight registrations");
                    ctl(ep, DEL, fd, 0, 0);
                    ctl(ep, ADD, fd, EPOLLIN, token);
                    order.push_back((fd, token));
                }
            })
        };
        let mut wrong = 0;
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(300) {
            let mut events = [EpollEvent::default(); 16];
            let n = epoll_wait(ep, events.as_mut_ptr(), 16, 10);
            wrong += events[..n.max(0) as usize]
                .iter()
                .filter(|e| e.data == SILENT)
                .count();
        }
        done.store(true, Ordering::Relaxed);
        churn.join().expect("churn");
        wrong == 0
    }
}
