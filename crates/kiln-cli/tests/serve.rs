//! `kiln serve`: on-demand instances of the echo server (`examples/net-echo`)
//! behind a host port: the first connection boots one and is not lost, idle
//! instances stop, bursts and long-lived connections are spread up to
//! `--max`, the instances show in `kiln ps` and `kiln stop` ends one, and a
//! signal stops everything. Each kiln serve has a state directory of its
//! own (`KILN_STATE_DIR`).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
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
    state: PathBuf,
}

impl Serve {
    fn start(flags: &[&str]) -> Serve {
        require_kvm();
        let image = image("examples/net-echo", true);
        let port = free_port();
        let state = std::env::temp_dir().join(format!("kiln-serve-{port}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&state);
        let mut child = kiln()
            .env("KILN_STATE_DIR", &state)
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
            state,
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

    /// The `kiln run` children of kiln serve that have a VM (the monitor
    /// prepared for the next boot has none).
    fn instances(&self) -> usize {
        children(self.server.0.id())
            .into_iter()
            .filter(|&pid| has_vm(pid))
            .count()
    }

    /// A kiln command on this kiln serve's state directory.
    fn kiln(&self, args: &[&str]) -> common::Run {
        kiln()
            .env("KILN_STATE_DIR", &self.state)
            .args(args)
            .output()
            .expect("run kiln")
            .into()
    }

    /// `kiln ps --format json`, parsed.
    fn ps(&self) -> Vec<serde_json::Value> {
        let run = self.kiln(&["ps", "--format", "json"]);
        assert_eq!(run.code, 0, "kiln ps: {}", run.stderr);
        serde_json::from_str(&run.stdout).expect("ps JSON")
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        // A failing test shows what kiln serve said.
        if thread::panicking() {
            eprintln!("kiln serve's stderr:\n{}", self.stderr());
        }
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

/// Whether process `pid` holds a KVM VM.
fn has_vm(pid: u32) -> bool {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.map_while(Result::ok).any(|fd| {
        std::fs::read_link(fd.path())
            .is_ok_and(|target| target.to_string_lossy().starts_with("anon_inode:kvm-vm"))
    })
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

/// kiln serve keeps one monitor prepared (passt started, no VM); the first
/// connection boots that one, and another is prepared after it answered.
/// With --no-spare nothing runs before a connection.
#[test]
fn a_spare_monitor_waits_without_a_vm_and_boots_the_first_connection() {
    let serve = Serve::start(&[]);
    let pid = serve.server.0.id();
    let spare = settled_spare(pid);
    assert!(!has_vm(spare), "the spare has no VM");
    let cmdline = std::fs::read(format!("/proc/{spare}/cmdline")).unwrap_or_default();
    assert!(
        String::from_utf8_lossy(&cmdline).contains("--standby"),
        "the spare is a kiln run --standby"
    );
    drop(connect_and_echo(serve.port, b"boot the spare"));
    serve.wait_for("started instance 1 (", 1);
    assert!(has_vm(spare), "the spare became instance 1");
    let next = wait_until(|| children(pid).into_iter().find(|&c| c != spare));
    assert!(!has_vm(next), "the next spare has no VM");

    let bare = Serve::start(&["--no-spare"]);
    thread::sleep(Duration::from_millis(300));
    assert!(children(bare.server.0.id()).is_empty());
    drop(connect_and_echo(bare.port, b"boot without a spare"));
    bare.wait_for("started instance 1 (", 1);
}

/// With --net ports the monitor forwards the served port itself: no passt
/// runs, and connections work as through passt.
#[test]
fn net_ports_serves_without_passt() {
    let serve = Serve::start(&["--net", "ports"]);
    drop(connect_and_echo(
        serve.port,
        b"through the monitor's forwarder",
    ));
    serve.wait_for("started instance 1 (", 1);
    let pid = serve.server.0.id();
    let monitors = children(pid);
    assert!(!monitors.is_empty());
    for monitor in monitors {
        assert!(
            children(monitor).is_empty(),
            "monitor {monitor} has a child"
        );
    }
    drop(connect_and_echo(serve.port, b"and again, warm"));
}

/// The spare monitor of `kiln serve` `pid`, once its passt has started and
/// held its port for a while. A spare's port is one the kernel had free a
/// moment before passt binds it; when another process takes it first, that
/// spare ends and `kiln serve` starts another (by design), so the one to
/// watch is the one that stays.
fn settled_spare(pid: u32) -> u32 {
    loop {
        let spare = wait_until(|| children(pid).first().copied());
        wait_until(|| (!children(spare).is_empty()).then_some(()));
        thread::sleep(Duration::from_millis(300));
        if children(pid).contains(&spare) && !children(spare).is_empty() {
            return spare;
        }
    }
}

/// Polls `found` for up to 10 s.
fn wait_until<T>(found: impl Fn() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(value) = found() {
            return value;
        }
        assert!(Instant::now() < deadline, "waited 10 s in vain");
        thread::sleep(Duration::from_millis(10));
    }
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
    // --max 1 (the default): the whole burst went to one instance. (Its
    // line may come after the echoes.)
    serve.wait_for("started instance 1 (", 1);
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
    // The booted instance, and the next spare if it started already (20 ms
    // after the first answer; a loaded machine gets there first).
    let instances = children(serve.server.0.id());
    assert_eq!(
        instances.iter().filter(|&&pid| has_vm(pid)).count(),
        1,
        "{instances:?}"
    );
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
fn instances_show_in_ps_and_kiln_stop_ends_one() {
    let serve = Serve::start(&[]);
    assert!(serve.ps().is_empty(), "no instance before a connection");
    drop(connect_and_echo(serve.port, b"boot one"));
    serve.wait_for("started instance 1 (", 1);
    let listed = serve.ps();
    assert_eq!(listed.len(), 1, "{listed:?}");
    let instance = &listed[0];
    assert_eq!(instance["status"], "running");
    assert!(
        instance["image"]
            .as_str()
            .is_some_and(|i| i.ends_with("net-echo"))
    );
    assert!(instance["memory_bytes"].as_u64().is_some_and(|m| m > 0));
    assert_eq!(instance["guest_memory_bytes"], 64 << 20);
    let address = format!("127.0.0.1:{}", serve.port);
    assert!(
        instance["message"]
            .as_str()
            .is_some_and(|m| m.contains(&address)),
        "{instance}"
    );
    let name = instance["name"].as_str().expect("a name");

    // Started on demand only: kiln start refuses, kiln logs points to serve.
    serve
        .kiln(&["start", name])
        .assert_clean_error(code::USAGE, "on demand by kiln serve");
    serve
        .kiln(&["logs", name])
        .assert_clean_error(code::USAGE, "stderr of kiln serve");

    // kiln stop ends the VM and kiln serve removes the record...
    let stop = serve.kiln(&["stop", name]);
    assert_eq!(stop.code, 0, "kiln stop: {}", stop.stderr);
    serve.wait_for("instance 1 ended", 1);
    assert_eq!(serve.instances(), 0);
    assert!(serve.ps().is_empty(), "{:?}", serve.ps());
    assert!(serve.kiln(&["ps", "-a", "--format", "json"]).stdout.trim() == "[]");
    // ...and kiln serve goes on: the next connection boots another.
    drop(connect_and_echo(serve.port, b"after kiln stop"));
    serve.wait_for("started instance 2 (", 1);
    let name = serve.ps()[0]["name"].as_str().expect("a name").to_string();
    let rm = serve.kiln(&["rm", "-f", &name]);
    assert_eq!(rm.code, 0, "kiln rm -f: {}", rm.stderr);
    serve.wait_for("instance 2 ended", 1);
    assert!(serve.ps().is_empty());
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
    run(&["-p", "8080:7", "--net", "tap:x", image]).assert_clean_error(code::USAGE, "--net");
    run(&["-p", "8080:7", "-e", "=x", image]).assert_clean_error(code::USAGE, "--env");
    run(&["-p", "8080:7", "-v", "/nonexistent:/x", image])
        .assert_clean_error(code::USAGE, "/nonexistent");
    run(&["-p", "8080:7", "/nonexistent/image"])
        .assert_clean_error(code::IMAGE, "/nonexistent/image");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("address").port();
    run(&["-p", &format!("127.0.0.1:{port}:7"), image])
        .assert_clean_error(code::UNAVAILABLE, "cannot listen");
}

/// CPU time (user + system, all threads) of process `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let (_, rest) = stat.rsplit_once(')').expect("a stat line");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime: fields 14 and 15 of the line, 12 and 13 after ')'.
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

/// 300 connections that send nothing, under a 256-descriptor limit, do not
/// starve a real client (it is answered within a boot's time), and kiln
/// serve waits for descriptors rather than spinning on `accept`.
#[test]
fn idle_connections_beyond_the_descriptor_limit_do_not_starve_real_clients() {
    let serve = Serve::start(&[]);
    let pid = serve.server.0.id();
    let limited = Command::new("prlimit")
        .args(["--pid", &pid.to_string(), "--nofile=256:256"])
        .status()
        .expect("run prlimit");
    assert!(limited.success());
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], serve.port));
    // Beyond the listen backlog a connect may hang: each gets a second.
    let idle: Vec<TcpStream> = (0..300)
        .filter_map(|_| TcpStream::connect_timeout(&address, Duration::from_secs(1)).ok())
        .collect();
    assert!(idle.len() >= 200, "only {} idle connections", idle.len());
    thread::sleep(Duration::from_millis(300));
    let before = cpu_ticks(pid);
    thread::sleep(Duration::from_secs(1));
    let used = cpu_ticks(pid) - before;
    assert!(
        used <= 30,
        "kiln serve used {used} ticks of CPU in 1 s while idle"
    );
    let started = Instant::now();
    drop(connect_and_echo(
        serve.port,
        b"a real client among idle ones",
    ));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered after {:?}",
        started.elapsed()
    );
    drop(idle);
}

/// A connection that sends nothing within --handshake-timeout is closed,
/// and never boots an instance.
#[test]
fn a_silent_connection_is_closed_at_the_handshake_timeout() {
    let serve = Serve::start(&["--handshake-timeout", "1s", "--no-spare"]);
    let mut silent = TcpStream::connect(("127.0.0.1", serve.port)).expect("connect");
    silent
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    let started = Instant::now();
    let mut buf = [0u8; 1];
    let read = silent.read(&mut buf);
    assert!(
        matches!(read, Ok(0))
            || read
                .as_ref()
                .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
        "{read:?}"
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(3),
        "closed after {waited:?}"
    );
    assert_eq!(serve.count("started instance"), 0, "{}", serve.stderr());
    drop(connect_and_echo(serve.port, b"then a real one"));
}
