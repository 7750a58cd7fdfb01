//! The tokio + hyper server (`examples/http-hello`) as a unikernel: an
//! unmodified async program on Kiln's epoll and eventfd, reached through
//! `-p` (passt) from the host, with keep-alive and 16 clients at once,
//! in the default 8 MiB of guest memory; and the epoll, eventfd and
//! socketpair calls beneath tokio (`tests/guests/std-epoll`) against
//! Linux's answers; and tokio's runtimes with every feature (`std-tokio`).

mod common;

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use common::{Server, free_port, http_get, image, run_image, start_server};

const BODY: &str = "Hello from Kiln!\n";

/// Boots http-hello (release) with guest port 80 published on `port`, in
/// the default memory and vCPUs (tokio starts a worker per vCPU), and waits
/// until it says it is listening.
fn start_hello(port: u16) -> Server {
    let image = image("examples/http-hello", true);
    let publish = format!("{port}:80");
    let flags = ["--timeout", "60s", "-p", &publish];
    start_server(&image, &flags, "http-hello: listening on port 80")
}

/// Connects, retrying while passt may not have published the port yet.
fn connect(port: u16) -> TcpStream {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) {
            stream
                .set_read_timeout(Some(Duration::from_secs(20)))
                .expect("timeout");
            return stream;
        }
        assert!(Instant::now() < deadline, "cannot connect to http-hello");
        thread::sleep(Duration::from_millis(20));
    }
}

/// Clients at once, with the kept-alive one beside them: well within the
/// ~30 connections 8 MiB of guest memory holds (~110 KiB each: socket
/// buffers, hyper's and tokio's), whatever the timing of their handshakes.
const CLIENTS: usize = 16;

#[test]
fn http_hello_serves_keep_alive_and_concurrent_clients_through_publish() {
    let port = free_port();
    let _server = start_hello(port);

    // One connection at a time, each closed after its request.
    for i in 0..5 {
        let mut stream = connect(port);
        let request = format!("GET /{i} HTTP/1.1\r\nHost: kiln\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).expect("send");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read to close");
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(response.ends_with(BODY), "{response}");
    }

    // Several requests on one kept-alive connection.
    let mut stream = BufReader::new(connect(port));
    for i in 0..5 {
        let (status, body) = http_get(&mut stream, &format!("/keep/{i}"));
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert_eq!(body, BODY);
    }

    // Sixteen clients connecting at once (a burst of SYNs, each of which
    // must find a socket in LISTEN: there were 8 before), each with a few
    // requests.
    let start = std::sync::Arc::new(std::sync::Barrier::new(CLIENTS));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let start = start.clone();
            thread::spawn(move || {
                start.wait();
                let mut stream = BufReader::new(connect(port));
                for i in 0..10 {
                    let (status, body) = http_get(&mut stream, &format!("/client/{c}/{i}"));
                    assert_eq!(status, "HTTP/1.1 200 OK");
                    assert_eq!(body, BODY);
                }
            })
        })
        .collect();
    for client in clients {
        client.join().expect("client");
    }
}

/// Thousands of requests on one kept-alive connection, none of them held
/// up: a frame that reaches the monitor while the guest goes idle must
/// wake it, not wait for the next frame (which here would be passt's
/// retransmission, a second or more later).
#[test]
fn a_kept_alive_connection_never_stalls() {
    let port = free_port();
    let _server = start_hello(port);
    let mut stream = BufReader::new(connect(port));
    let mut slowest = Duration::ZERO;
    for i in 0..3000 {
        let started = Instant::now();
        let (status, body) = http_get(&mut stream, &format!("/{i}"));
        slowest = slowest.max(started.elapsed());
        assert_eq!((status.as_str(), body.as_str()), ("HTTP/1.1 200 OK", BODY));
    }
    assert!(
        slowest < Duration::from_millis(500),
        "a request took {slowest:?}: a wake-up was lost"
    );
}

/// The tokio + hyper server is a small image: at most 2 MiB (release).
#[test]
fn http_hello_image_is_at_most_two_mib() {
    let image = image("examples/http-hello", true);
    let size = std::fs::metadata(&image).expect("image").len();
    assert!(size <= 2 << 20, "http-hello is {size} bytes");
}

/// epoll (level- and edge-triggered), eventfd and Unix stream pairs (tokio's
/// signal driver makes one): the guest prints each
/// call's answer; these are the lines the same program prints on Linux.
#[test]
fn epoll_eventfd_and_socketpair_answer_as_linux_does() {
    let image = image("tests/guests/std-epoll", false);
    let run = run_image(&image, &[], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "eventfd empty read: errno 11\n\
         eventfd write: 8 8\n\
         eventfd read: value 3 then errno 11\n\
         eventfd write max: errno 22\n\
         eventfd short read: errno 22\n\
         eventfd overflow: 8 errno 11\n\
         semaphore: value 1 value 1 errno 11\n\
         add pipe: 0\n\
         add again: errno 17\n\
         mod unknown: errno 2\n\
         del unknown: errno 2\n\
         add itself: errno 22\n\
         ctl on a pipe: errno 22\n\
         bad op: errno 22\n\
         nothing yet: 0 []\n\
         level: 1 [1:0x1]\n\
         level again: 1 [1:0x1]\n\
         drained: 0 []\n\
         add eventfd ET: 0\n\
         add writer ET: 0\n\
         writer edge: 1 [4:0x4]\n\
         no new edge: 0 []\n\
         eventfd edge: 1 [3:0x1]\n\
         consumed: 0 []\n\
         another write, another edge: 1 [3:0x1]\n\
         mod re-arms: 0\n\
         re-armed: 1 [5:0x4]\n\
         del writer: 0\n\
         hang-up: 1 [1:0x10]\n\
         close removes: 0 then 0 []\n\
         timeout: 0 [], waited: true\n\
         woken: 1 [3:0x1], after the write: true, before the timeout: true\n\
         zero max: errno 22\n\
         wait on a non-epoll: errno 22\n\
         socketpair: 0\n\
         socketpair inet: errno 95\n\
         add pair: 0\n\
         pair writable: 1 [6:0x4]\n\
         pair empty: errno 11\n\
         pair send: 2\n\
         pair readable: 1 [6:0x5]\n\
         pair recv: 2\n\
         pair back: 2\n\
         pair other way: 2\n\
         pair eof: 0\n\
         answers while others register: each its own: true\n"
    );
}

/// An unmodified tokio program with every feature (its signal driver
/// makes a socketpair) on both runtimes, in the default memory: timers,
/// blocking tasks, channels, in-memory pipes. Linux prints the same.
#[test]
fn tokio_runtimes_run_timers_tasks_and_channels() {
    let image = image("tests/guests/std-tokio", false);
    let run = run_image(&image, &["--timeout", "30s"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "current-thread: slept 50 ms: true\n\
         current-thread: spawn_blocking: Ok(42)\n\
         current-thread: channel sum: 10\n\
         current-thread: timeout elapsed: true\n\
         current-thread: duplex: Ok(21) \"ping through a duplex\" Some(Ok(()))\n\
         current-thread: interval: true\n\
         multi-thread: slept 50 ms: true\n\
         multi-thread: spawn_blocking: Ok(42)\n\
         multi-thread: channel sum: 10\n\
         multi-thread: timeout elapsed: true\n\
         multi-thread: duplex: Ok(21) \"ping through a duplex\" Some(Ok(()))\n\
         multi-thread: interval: true\n\
         done\n"
    );
}
