//! `kiln serve`: on-demand instances of the echo server (`examples/net-echo`)
//! behind a host port: the first connection boots one and is not lost, idle
//! instances stop, bursts and long-lived connections are spread up to
//! `--max`, and a signal stops everything.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{Server, code, free_port, image, kiln, require_kvm};

/// A running `kiln serve` and what it has said on stderr so far.
struct Serve {
    server: Server,
    port: u16,
    stderr: Arc<Mutex<String>>,
}

impl Serve {
    fn start(flags: &[&str]) -> Serve {
        require_kvm();
        let image = image("examples/net-echo", true);
        let port = free_port();
        let mut child = kiln()
            .arg("serve")
            .arg("-p")
            .arg(format!("127.0.0.1:{port}:7"))
            .args(["--memory", "64M"])
            .args(flags)
            .arg(&image)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start kiln serve");
        let pipe = child.stderr.take().expect("piped stderr");
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut text = sink.lock().unwrap_or_else(|e| e.into_inner());
                text.push_str(&line);
                text.push('\n');
            }
        });
        let serve = Serve {
            server: Server(child),
            port,
            stderr,
        };
        // Not a probe connection: that would itself boot an instance.
        serve.wait_for("kiln serve: listening on", 1);
        serve
    }

    fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// How many lines on stderr contain `needle`.
    fn count(&self, needle: &str) -> usize {
        self.stderr().lines().filter(|l| l.contains(needle)).count()
    }

    /// Waits until `count(needle)` reaches `n`.
    fn wait_for(&self, needle: &str, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.count(needle) < n {
            assert!(
                Instant::now() < deadline,
                "waited for {n}x {needle:?}; stderr:\n{}",
                self.stderr()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// The `kiln run` children of kiln serve.
    fn instances(&self) -> usize {
        children(self.server.0.id()).len()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        // A failing test shows what kiln serve said.
        if thread::panicking() {
            eprintln!("kiln serve's stderr:\n{}", self.stderr());
        }
    }
}

/// The child processes of `pid`.
fn children(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return found;
    };
    for task in tasks.map_while(Result::ok) {
        let list = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        found.extend(
            list.split_whitespace()
                .filter_map(|p| p.parse::<u32>().ok()),
        );
    }
    found
}

/// A connection that has had one echo round trip.
fn connect_and_echo(port: u16, message: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to kiln serve");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("read timeout");
    stream.write_all(message).expect("send");
    let mut back = vec![0u8; message.len()];
    if let Err(e) = stream.read_exact(&mut back) {
        panic!("no echo: {e}");
    }
    assert_eq!(back, message);
    stream
}

#[test]
fn first_request_boots_an_instance_and_idle_ones_stop() {
    let serve = Serve::start(&["--idle", "300ms"]);
    assert_eq!(serve.instances(), 0, "nothing runs before a connection");
    drop(connect_and_echo(serve.port, b"first, from zero instances"));
    serve.wait_for("started instance 1 (", 1);
    serve.wait_for("stopped instance 1 (idle 300", 1);
    let deadline = Instant::now() + Duration::from_secs(5);
    while serve.instances() > 0 {
        assert!(Instant::now() < deadline, "the idle instance still runs");
        thread::sleep(Duration::from_millis(10));
    }
    drop(connect_and_echo(
        serve.port,
        b"second, scaled to zero before",
    ));
    serve.wait_for("started instance 2 (", 1);
}

/// Requests spaced from under to over one idle period apart arrive before,
/// during and after the instance is stopped: none may be lost.
#[test]
fn requests_racing_the_idle_stop_are_not_lost() {
    let serve = Serve::start(&["--idle", "100ms"]);
    for i in 0..12u64 {
        drop(connect_and_echo(
            serve.port,
            format!("request {i}").as_bytes(),
        ));
        thread::sleep(Duration::from_millis(70 + 10 * i));
    }
    assert!(serve.count("stopped instance") >= 1, "{}", serve.stderr());
}

#[test]
fn a_burst_of_first_requests_all_succeed() {
    let serve = Serve::start(&[]);
    let port = serve.port;
    let clients: Vec<_> = (0..16u8)
        .map(|i| {
            thread::spawn(move || {
                let message: Vec<u8> = (0..1000u32).map(|j| (j as u8).wrapping_add(i)).collect();
                let mut stream = connect_and_echo(port, &message);
                // Half-close: the echo server sees the end, and so do we.
                stream
                    .shutdown(std::net::Shutdown::Write)
                    .expect("half-close");
                let mut rest = Vec::new();
                stream.read_to_end(&mut rest).expect("read to the end");
                assert!(rest.is_empty());
            })
        })
        .collect();
    for client in clients {
        client.join().expect("a client failed");
    }
    // --max 1 (the default): the whole burst went to one instance.
    assert_eq!(serve.count("started instance"), 1, "{}", serve.stderr());
}

#[test]
fn busy_instances_scale_out_up_to_max() {
    let serve = Serve::start(&["--max", "2"]);
    let held: Vec<TcpStream> = (0..4)
        .map(|i| connect_and_echo(serve.port, format!("long-lived {i}").as_bytes()))
        .collect();
    serve.wait_for("started instance 2 (", 1);
    assert_eq!(serve.count("started instance"), 2, "{}", serve.stderr());
    assert_eq!(serve.instances(), 2);
    // Every held connection still works, whichever instance it went to.
    for (i, mut stream) in held.into_iter().enumerate() {
        let message = format!("still there {i}");
        stream.write_all(message.as_bytes()).expect("send");
        let mut back = vec![0u8; message.len()];
        stream.read_exact(&mut back).expect("echo back");
        assert_eq!(back, message.as_bytes());
    }
}

#[test]
fn sigterm_stops_the_instances() {
    let serve = Serve::start(&[]);
    drop(connect_and_echo(serve.port, b"boot one"));
    let instances = children(serve.server.0.id());
    assert_eq!(instances.len(), 1);
    let status = Command::new("kill")
        .args(["-TERM", &serve.server.0.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let mut serve = serve;
    let exit = serve.server.0.wait().expect("wait for kiln serve");
    assert_eq!(exit.code(), Some(128 + 15));
    serve.wait_for("stopped instance 1 (shutting down)", 1);
    for pid in instances {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(
            state.is_empty() || state.contains(") Z"),
            "instance {pid} outlived kiln serve"
        );
    }
}

#[test]
fn bad_arguments_are_one_clear_error() {
    let image = image("examples/net-echo", true);
    let run = |args: &[&str]| -> common::Run {
        kiln()
            .arg("serve")
            .args(args)
            .output()
            .expect("run kiln")
            .into()
    };
    let image = image.to_str().expect("utf-8 path");
    run(&["-p", "8080", image]).assert_clean_error(code::USAGE, "invalid --publish");
    run(&["-p", "8080:7/udp", image]).assert_clean_error(code::USAGE, "TCP only");
    run(&["-p", "8080:7", "--max", "0", image]).assert_clean_error(code::USAGE, "--max");
    run(&["-p", "8080:7", "-e", "=x", image]).assert_clean_error(code::USAGE, "--env");
    run(&["-p", "8080:7", "-v", "/nonexistent:/x", image])
        .assert_clean_error(code::USAGE, "/nonexistent");
    run(&["-p", "8080:7", "/nonexistent/image"])
        .assert_clean_error(code::IMAGE, "/nonexistent/image");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("address").port();
    run(&["-p", &format!("127.0.0.1:{port}:7"), image])
        .assert_clean_error(code::HOST, "cannot listen");
}
