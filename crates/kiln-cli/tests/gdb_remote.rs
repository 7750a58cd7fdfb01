//! `kiln run --gdb` and `kiln debug`: Debian's gdb (`gdb -batch -nx IMAGE
//! -ex 'target remote ...'`) on live guests booted on /dev/kvm:
//! breakpoints, stepping, variables, threads, Ctrl-C, attaching to and
//! detaching from a background instance, and a hostile packet stream.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{code, image, kiln, require_kvm};

const GUEST: &str = "tests/guests/std-debug";

/// A `kiln run --gdb` waiting for gdb, its output collected in threads.
struct Waiting {
    child: Child,
    address: String,
    stdout: std::thread::JoinHandle<String>,
    stderr: std::thread::JoinHandle<String>,
}

/// How a `kiln run --gdb` ended.
struct Ended {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Starts `kiln run FLAGS --gdb GDB IMAGE -- ARGS` and reads the address
/// its waiting line names.
fn start(image: &Path, flags: &[&str], gdb: &str, args: &[&str]) -> Waiting {
    require_kvm();
    let mut command = kiln();
    command
        .arg("run")
        .args(flags)
        .args(["--gdb", gdb])
        .arg(image)
        .arg("--")
        .args(args);
    waiting(command)
}

/// Starts `command`, a kiln that waits for gdb, and reads the address its
/// waiting line names.
fn waiting(mut command: Command) -> Waiting {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kiln run --gdb");
    let mut stderr = BufReader::new(child.stderr.take().expect("piped stderr"));
    let mut first = String::new();
    stderr.read_line(&mut first).expect("kiln's waiting line");
    let address = first
        .strip_prefix("kiln: waiting for gdb on ")
        .and_then(|rest| rest.split(": ").next())
        .unwrap_or_else(|| panic!("no waiting line: {first:?}"))
        .to_owned();
    let mut stdout = child.stdout.take().expect("piped stdout");
    Waiting {
        child,
        address,
        stdout: std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stdout.read_to_string(&mut text);
            text
        }),
        stderr: std::thread::spawn(move || {
            let mut text = first;
            let _ = stderr.read_to_string(&mut text);
            text
        }),
    }
}

impl Waiting {
    /// Waits for kiln to end (at most a minute).
    fn end(mut self) -> Ended {
        for _ in 0..600 {
            if let Some(status) = self.child.try_wait().expect("wait for kiln") {
                return Ended {
                    code: status.code().expect("kiln exited by a signal"),
                    stdout: self.stdout.join().expect("stdout reader"),
                    stderr: self.stderr.join().expect("stderr reader"),
                };
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        panic!("kiln did not end");
    }
}

/// gdb in batch mode on `image`, connected to `address`, running
/// `commands`.
fn gdb_command(image: &Path, address: &str, commands: &[&str]) -> Command {
    let mut command = Command::new("gdb");
    command.args(["-batch", "-nx", "-ex", &format!("target remote {address}")]);
    for c in commands {
        command.args(["-ex", c]);
    }
    command
        .arg(image)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// What a gdb run printed.
fn printed(output: std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs gdb to the end of `commands`.
fn gdb(image: &Path, address: &str, commands: &[&str]) -> String {
    printed(
        gdb_command(image, address, commands)
            .output()
            .expect("run gdb (apt-get install gdb)"),
    )
}

/// The value gdb printed for history entry `$n`.
fn value(out: &str, n: u32) -> String {
    let prefix = format!("${n} = ");
    out.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no ${n} in:\n{out}"))
        .to_owned()
}

/// Asserts that gdb saw the program exit normally, and kiln with it,
/// after the program printed `stdout`.
fn assert_exited_normally(out: &str, kiln: Waiting, stdout: &str) {
    assert!(
        out.contains("[Inferior 1 (process 1) exited normally]"),
        "{out}"
    );
    let ended = kiln.end();
    assert_eq!(ended.code, 0, "{}", ended.stderr);
    assert_eq!(ended.stdout, stdout);
}

#[test]
fn gdb_stops_at_a_breakpoint_of_a_std_program_steps_and_reads_variables() {
    let guest = image(GUEST, false);
    let kiln = start(&guest, &[], "0", &["gdb"]);
    let out = gdb(
        &guest,
        &kiln.address,
        &[
            "break std_debug::add_for_gdb",
            "continue",
            "bt",
            "p a",
            "p/x $pc",
            "stepi",
            "p/x $pc",
            "p/x $fs_base",
            "p $xmm0",
            "info threads",
            "next",
            "set var sum = 100",
            "p sum",
            "finish",
            "next",
            "p first",
            "delete",
            "continue",
        ],
    );
    // Stopped in the named function, with its arguments and callers.
    assert!(
        out.contains("hit Breakpoint 1, std_debug::add_for_gdb (a=20, b=1)"),
        "{out}"
    );
    let bt = out
        .split("#0  std_debug::add_for_gdb")
        .nth(1)
        .unwrap_or_else(|| panic!("no backtrace:\n{out}"));
    assert!(
        bt.contains("#1 ") && bt.contains("in std_debug::call_for_gdb ()"),
        "{out}"
    );
    assert!(bt.contains("in std_debug::main ()"), "{out}");
    assert_eq!(value(&out, 1), "20", "{out}");
    // One instruction further.
    assert_ne!(value(&out, 2), value(&out, 3), "{out}");
    // The thread pointer of a std program's main thread, and SSE registers.
    assert_ne!(value(&out, 4), "0x0", "{out}");
    assert!(value(&out, 5).contains("v2_int64"), "{out}");
    // The guest's threads: main on its vCPU, the sleeping waiter
    // switched out.
    assert!(out.contains("Thread 1.1 (on vCPU"), "{out}");
    assert!(out.contains("('waiter' switched out)"), "{out}");
    // Back in the caller with the value returned, then one line further.
    // A write to guest memory reads back.
    assert_eq!(value(&out, 6), "100", "{out}");
    assert!(out.contains("Value returned is $7 = 42"), "{out}");
    assert!(out.contains("let second = add_for_gdb(first, 0);"), "{out}");
    assert_eq!(value(&out, 8), "42", "{out}");
    assert_exited_normally(&out, kiln, "gdb: 126\n");
}

#[test]
fn hbreak_stops_and_a_watchpoint_sees_a_variable_change() {
    let guest = image(GUEST, false);
    let kiln = start(&guest, &[], "0", &["gdb"]);
    let out = gdb(
        &guest,
        &kiln.address,
        &[
            "hbreak std_debug::add_for_gdb",
            "break std_debug::add_for_gdb",
            "continue",
            "delete 2",
            "continue",
            "delete",
            "watch std_debug::LAST_ANSWER",
            "continue",
            "delete",
            "continue",
        ],
    );
    // A hardware breakpoint (an int3 here), still there once the software
    // one at the same address is gone.
    assert!(out.contains("Hardware assisted breakpoint 1 at"), "{out}");
    assert!(
        out.contains("Breakpoint 1, std_debug::add_for_gdb (a=20, b=1)"),
        "{out}"
    );
    assert!(
        out.contains("Breakpoint 1, std_debug::add_for_gdb (a=42, b=0)"),
        "{out}"
    );
    // gdb's software watchpoint single-steps to the store.
    assert!(out.contains("atchpoint 3: std_debug::LAST_ANSWER"), "{out}");
    let new_value = out
        .lines()
        .find(|line| line.starts_with("New value = "))
        .unwrap_or_else(|| panic!("the watchpoint did not trigger:\n{out}"));
    assert!(new_value.contains("126"), "{out}");
    assert_exited_normally(&out, kiln, "gdb: 126\n");
}

#[test]
fn gdb_debugs_a_native_guest_from_its_image() {
    let guest = image("examples/hello", false);
    let kiln = start(&guest, &[], "0", &["one"]);
    let out = gdb(
        &guest,
        &kiln.address,
        &[
            "break hello::main",
            "continue",
            "bt",
            "next",
            "next",
            "continue",
        ],
    );
    assert!(out.contains("Breakpoint 1, hello::main ()"), "{out}");
    assert!(out.contains("in kiln_libos::rt::start"), "{out}");
    assert_exited_normally(&out, kiln, "Hello from Kiln!\narg 1: one\n");
}

#[test]
fn ctrl_c_in_gdb_stops_a_spinning_guest_and_stopped_time_is_not_timed_out() {
    let guest = image(GUEST, false);
    // The guest spins for 30 s; --timeout 3s would end it, but it spends
    // 4 s stopped in gdb.
    let kiln = start(&guest, &["--timeout", "3s"], "0", &["spin", "30"]);
    let child = gdb_command(
        &guest,
        &kiln.address,
        &[
            "continue",
            "bt",
            "shell sleep 4",
            "stepi",
            "p 1 + 1",
            "kill",
        ],
    )
    .spawn()
    .expect("run gdb");
    std::thread::sleep(Duration::from_secs(2));
    // gdb passes its SIGINT on as the protocol's interrupt.
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success());
    let out = printed(child.wait_with_output().expect("gdb's output"));
    assert!(
        out.contains("Program received signal SIGINT, Interrupt."),
        "{out}"
    );
    assert!(out.contains("std_debug::spin ("), "{out}");
    // Still alive after 4 s stopped: the step and the print work.
    assert!(!out.contains("SIGALRM"), "{out}");
    assert_eq!(value(&out, 1), "2", "{out}");
    let ended = kiln.end();
    assert_eq!(ended.code, code::KILLED, "{}", ended.stderr);
    assert!(
        ended.stderr.contains("kiln: error: guest killed from gdb"),
        "{}",
        ended.stderr
    );
}

/// A packet of gdb's protocol: `$BODY#CHECKSUM`.
fn packet(body: &[u8]) -> Vec<u8> {
    let sum = body.iter().fold(0u8, |sum, &b| sum.wrapping_add(b));
    let mut packet = vec![b'$'];
    packet.extend_from_slice(body);
    packet.extend_from_slice(format!("#{sum:02x}").as_bytes());
    packet
}

#[test]
fn a_hostile_packet_stream_ends_the_session_not_the_monitor() {
    let guest = image(GUEST, false);
    let kiln = start(&guest, &[], "0", &["gdb"]);
    let mut socket = TcpStream::connect(&kiln.address).expect("connect to --gdb");
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("a timeout");
    let hostile: [&[u8]; 10] = [
        b"m0,ffffffffffffffff",
        b"mffffffffffffff00,100",
        b"Mfffffffffffffff0,10:00112233445566778899aabbccddeeff",
        b"M0,4:",
        b"Z0,ffffffffffffffff,1",
        b"z0,1234,1",
        b"Hgp1.7fffffff",
        b"G00",
        b"qThreadExtraInfo,p1.12345",
        b"vCont;s:p1.99",
    ];
    let mut answers = Vec::new();
    for body in hostile {
        socket.write_all(&packet(body)).expect("send a packet");
        let mut reply = [0u8; 4096];
        answers.push(socket.read(&mut reply).unwrap_or(0));
    }
    // A bad checksum, then bytes at random (a fixed seed: the same each run).
    socket.write_all(b"$g#00").expect("send");
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let noise: Vec<u8> = (0..64 << 10)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect();
    let _ = socket.write_all(&noise);
    drop(socket);
    // The monitor answered, then ended the session with one line, and the
    // guest ran on to its end.
    assert!(answers.iter().any(|&n| n > 0), "no replies");
    let ended = kiln.end();
    assert_eq!(ended.code, 0, "{}", ended.stderr);
    assert_eq!(ended.stdout, "gdb: 126\n");
    let said: Vec<&str> = ended
        .stderr
        .lines()
        .filter(|l| l.starts_with("kiln: gdb session ended: "))
        .collect();
    assert_eq!(said.len(), 1, "{}", ended.stderr);
    assert!(
        said[0].ends_with("; the guest runs on without gdb"),
        "{}",
        said[0]
    );
    assert!(!ended.stderr.contains("panicked"), "{}", ended.stderr);
}

#[test]
fn gdb_listens_on_loopback_unless_told_otherwise() {
    let guest = image(GUEST, false);
    let kiln = start(&guest, &[], "0", &["gdb"]);
    assert!(kiln.address.starts_with("127.0.0.1:"), "{}", kiln.address);
    // Leaving at once lets the guest run.
    let out = gdb(&guest, &kiln.address, &["detach"]);
    assert!(out.contains("[Inferior 1 (process 1) detached]"), "{out}");
    let ended = kiln.end();
    assert_eq!(ended.code, 0, "{}", ended.stderr);
    assert_eq!(ended.stdout, "gdb: 126\n");

    let everywhere = start(&guest, &[], "0.0.0.0:0", &["gdb"]);
    assert!(
        everywhere.address.starts_with("0.0.0.0:"),
        "{}",
        everywhere.address
    );
    let port = everywhere.address.rsplit(':').next().expect("a port");
    let out = gdb(&guest, &format!("127.0.0.1:{port}"), &["continue"]);
    assert!(out.contains("exited normally"), "{out}");
    assert_eq!(everywhere.end().code, 0);
}

#[test]
fn a_bad_gdb_address_or_a_busy_port_is_a_clean_error() {
    let guest = image(GUEST, false);
    let run: common::Run = kiln()
        .args(["run", "--gdb", "nowhere"])
        .arg(&guest)
        .output()
        .expect("run kiln")
        .into();
    assert_eq!(run.code, code::USAGE, "{}", run.stderr);
    assert!(
        run.stderr.contains("expected PORT or ADDR:PORT"),
        "{}",
        run.stderr
    );
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = busy.local_addr().expect("its address").port().to_string();
    let run: common::Run = kiln()
        .args(["run", "--gdb", &port])
        .arg(&guest)
        .output()
        .expect("run kiln")
        .into();
    run.assert_clean_error(code::UNAVAILABLE, "cannot listen for gdb on 127.0.0.1:");
}

/// `kiln` with the state directory `state`, to spawn.
fn kiln_command_in(state: &Path) -> Command {
    let mut command = kiln();
    command.env("KILN_STATE_DIR", state);
    command
}

/// The status and exit code `kiln inspect` gives for instance `name`.
fn instance_status(state: &Path, name: &str) -> (String, serde_json::Value) {
    let out = kiln_command_in(state)
        .args(["inspect", name, "--format", "json"])
        .output()
        .expect("run kiln inspect");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("inspect JSON");
    (
        json["state"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        json["state"]["exit_code"].clone(),
    )
}

/// The monitor's control socket is its owner's only, and answers a
/// request it does not know, a bad one and one too long with an error or
/// by hanging up, then serves the next client.
fn control_socket_refuses_what_it_does_not_know(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::net::UnixStream;
    // The monitor binds it just after `kiln run -d` returns.
    for _ in 0..250 {
        if path.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mode = std::fs::metadata(path)
        .expect("the control socket")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    let ask = |request: &[u8]| {
        let mut socket = UnixStream::connect(path).expect("connect to the control socket");
        socket.write_all(request).expect("send a request");
        let mut answer = String::new();
        let _ = socket.read_to_string(&mut answer);
        answer
    };
    assert_eq!(ask(b"nonsense\n"), "error unknown request\n");
    assert_eq!(
        ask(b"profile 5000 1\n"),
        "error the rate is 1 to 1000 samples per second\n"
    );
    assert_eq!(ask(&[b'x'; 100]), "");
    assert_eq!(ask(b"\xff\xfe\n"), "error a request is text\n");
}

#[test]
fn gdb_attaches_to_a_background_instance_which_runs_on_after_detach() {
    require_kvm();
    let state = common::scratch_dir("gdb_remote", "attach");
    let guest = image(GUEST, false);
    let started = kiln_command_in(&state)
        .args(["run", "-d", "--name", "ticker"])
        .arg(&guest)
        .args(["--", "ticks", "6"])
        .output()
        .expect("run kiln run -d");
    assert!(started.status.success(), "{started:?}");
    let id = String::from_utf8_lossy(&started.stdout).trim().to_owned();
    control_socket_refuses_what_it_does_not_know(&state.join("instances").join(id).join("control"));
    let mut command = kiln_command_in(&state);
    command.args(["debug", "ticker", "--gdb", "0"]);
    let debug = waiting(command);
    assert!(debug.address.starts_with("127.0.0.1:"), "{}", debug.address);
    let out = gdb(
        &guest,
        &debug.address,
        &[
            "break std_debug::tick_for_gdb",
            "continue",
            "bt",
            "p count",
            "continue",
            "p count",
            "delete",
            "detach",
        ],
    );
    // Stopped where the running program was, twice in a row.
    assert!(
        out.contains("hit Breakpoint 1, std_debug::tick_for_gdb (count="),
        "{out}"
    );
    assert!(out.contains("in std_debug::ticks (seconds=6)"), "{out}");
    let first: u64 = value(&out, 1).parse().expect("a count");
    assert_eq!(value(&out, 2), (first + 1).to_string(), "{out}");
    assert!(out.contains("[Inferior 1 (process 1) detached]"), "{out}");
    let ended = debug.end();
    assert_eq!(ended.code, 0, "{}", ended.stderr);
    assert!(
        ended
            .stderr
            .contains("kiln: gdb left 'ticker', which runs on"),
        "{}",
        ended.stderr
    );
    // Still running after the detach, then it ends by itself, normally.
    assert_eq!(instance_status(&state, "ticker").0, "running");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let (status, code) = loop {
        let (status, code) = instance_status(&state, "ticker");
        if status != "running" || std::time::Instant::now() > deadline {
            break (status, code);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!((status.as_str(), code), ("exited", serde_json::json!(0)));
    let logs = kiln_command_in(&state)
        .args(["logs", "ticker"])
        .output()
        .expect("run kiln logs");
    assert_eq!(String::from_utf8_lossy(&logs.stdout), "ticks: done\n");

    // Not running any more: a clean error.
    let run: common::Run = kiln_command_in(&state)
        .args(["debug", "ticker", "--gdb", "0"])
        .output()
        .expect("run kiln debug")
        .into();
    run.assert_clean_error(code::USAGE, "instance 'ticker' is not running");
}
