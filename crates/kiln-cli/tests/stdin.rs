//! The guest's stdin: `kiln run` hands it the host's (pipe, file,
//! terminal, non-blocking or not) with end of file at its end; background
//! instances get an empty one. The guest `tests/guests/std-stdin` prints
//! what it reads, and its answers are compared with the same program run
//! natively.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Run, image, kiln, require_kvm, run_native};

const GUEST: &str = "tests/guests/std-stdin";

fn guest() -> PathBuf {
    image(GUEST, false)
}

fn spawn(command: &mut Command) -> Child {
    require_kvm();
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kiln")
}

/// `kiln run GUEST -- mode` with `input` on its stdin, written by a thread
/// of its own so a large input cannot deadlock against the output.
fn run_with_input(mode: &str, input: Vec<u8>) -> (i32, Vec<u8>, String) {
    let mut child = spawn(kiln().arg("run").arg(guest()).args(["--", mode]));
    let mut stdin = child.stdin.take().expect("piped stdin");
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().expect("wait for kiln");
    writer
        .join()
        .expect("stdin writer")
        .expect("write the guest's stdin");
    let code = output.status.code().expect("kiln exited by a signal");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (code, output.stdout, stderr)
}

/// Deterministic bytes of every value, newlines included.
fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

#[test]
fn megabytes_of_stdin_come_out_unchanged() {
    let input = noise(6 << 20);
    let (code, stdout, stderr) = run_with_input("echo", input.clone());
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.len(), input.len(), "{stderr}");
    assert!(stdout == input, "the echoed bytes differ from the input");
    assert!(
        stderr.contains(&format!("copied {} bytes", input.len())),
        "{stderr}"
    );
}

#[test]
fn end_of_file_and_lines_read_as_on_linux() {
    for (mode, input) in [
        ("eof", &b"hello\nworld\n"[..]),
        ("eof", b""),
        ("lines", b"one\ntwo\n\nthree without newline"),
    ] {
        let native = run_native(GUEST, &[mode], input);
        let (code, stdout, stderr) = run_with_input(mode, input.to_vec());
        assert_eq!(code, native.code, "{mode}: {stderr}");
        assert_eq!(
            String::from_utf8_lossy(&stdout),
            native.stdout,
            "{mode} {input:?}"
        );
        assert!(native.stdout.lines().count() >= 2, "{}", native.stdout);
    }
}

#[test]
fn a_file_on_stdin_reads_to_its_end() {
    let dir = scratch("file");
    let path = dir.join("input");
    std::fs::write(&path, b"from a file\n").expect("write the input file");
    let native = {
        let input = std::fs::read(&path).expect("read the input file");
        run_native(GUEST, &["eof"], &input)
    };
    require_kvm();
    let run: Run = kiln()
        .arg("run")
        .arg(guest())
        .args(["--", "eof"])
        .stdin(std::fs::File::open(&path).expect("open the input file"))
        .output()
        .expect("run kiln")
        .into();
    assert_eq!(run.code, 0, "{}", run.stderr);
    // A file is always readable: `poll` at its end says POLLIN where a
    // drained pipe says POLLHUP; everything else is the pipe's answer.
    let expected = native
        .stdout
        .replace("poll at end of file: 0x10", "poll at end of file: 0x1");
    assert_eq!(run.stdout, expected);
    let _ = std::fs::remove_dir_all(dir);
}

/// Starts the guest in `mode` with `read_end` as its stdin, and its stdout
/// piped to the test.
fn start_on_pipe(
    mode: &str,
    read_end: std::os::fd::OwnedFd,
) -> (std::process::Child, BufReader<std::process::ChildStdout>) {
    let mut child = kiln()
        .arg("run")
        .arg(guest())
        .args(["--", mode])
        .stdin(read_end)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kiln");
    let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    (child, stdout)
}

/// One thread blocks reading a pipe nobody writes yet; another keeps
/// printing. The host's end is non-blocking when `nonblocking` is set,
/// which must change nothing for the guest.
fn reader_waits_while_another_thread_runs(nonblocking: bool) {
    let (read_end, write_end) = pipe();
    if nonblocking {
        // SAFETY: F_SETFL on a descriptor this process owns; kiln inherits
        // the same open file description, non-blocking.
        let rc = unsafe { libc::fcntl(read_end.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
        assert_eq!(rc, 0, "set O_NONBLOCK on the pipe");
    }
    require_kvm();
    let (mut child, mut stdout) = start_on_pipe("heartbeat", read_end);
    let mut seen = String::new();
    let started = Instant::now();
    let mut line = String::new();
    while !seen.contains("heartbeat 5\n") {
        line.clear();
        let n = stdout
            .read_line(&mut line)
            .expect("read the guest's output");
        assert!(n > 0, "the guest ended early: {seen}");
        seen.push_str(&line);
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no heartbeats: {seen}"
        );
    }
    let mut stdin = std::fs::File::from(write_end);
    stdin.write_all(b"late\n").expect("write stdin");
    drop(stdin);
    stdout.read_to_string(&mut seen).expect("read the rest");
    let status = child.wait().expect("wait for kiln");
    assert!(status.success(), "{seen}");
    // The heartbeat thread runs on another vCPU, as on Linux another CPU:
    // its first lines may come before the main thread's.
    assert!(
        seen.lines().any(|l| l == "poll before input: 0x0"),
        "{seen}"
    );
    let last = seen.lines().last().expect("output");
    let beats: u32 = last
        .strip_prefix("read \"late\\n\" after ")
        .and_then(|rest| rest.strip_suffix(" heartbeats"))
        .unwrap_or_else(|| panic!("last line: {last}"))
        .parse()
        .expect("a count");
    assert!(beats >= 6, "{seen}");
}

#[test]
fn a_thread_runs_while_another_waits_for_stdin() {
    reader_waits_while_another_thread_runs(false);
}

#[test]
fn a_non_blocking_host_stdin_still_blocks_the_guest_reader() {
    reader_waits_while_another_thread_runs(true);
}

#[test]
fn epoll_waits_for_stdin_to_become_readable() {
    let (read_end, write_end) = pipe();
    require_kvm();
    let (mut child, mut stdout) = start_on_pipe("epoll", read_end);
    let mut seen = String::new();
    while !seen.contains("before input:") {
        let n = stdout
            .read_line(&mut seen)
            .expect("read the guest's output");
        assert!(n > 0, "the guest ended early: {seen}");
    }
    std::thread::sleep(Duration::from_millis(200));
    let mut stdin = std::fs::File::from(write_end);
    stdin.write_all(b"ping\n").expect("write stdin");
    stdout.read_to_string(&mut seen).expect("read the rest");
    assert!(child.wait().expect("wait for kiln").success(), "{seen}");
    assert_eq!(
        seen,
        "add: 0\nbefore input: 0\nwaited: 1, readable true, data 7\nread: \"ping\\n\"\n"
    );
}

#[test]
fn a_background_instance_reads_an_empty_stdin() {
    let state = scratch("detached");
    let command = |args: &[&str]| {
        let mut command = kiln();
        command.env("KILN_STATE_DIR", &state).args(args);
        command
    };
    let image = guest();
    let image = image.to_str().expect("utf-8 path");
    let mut child = spawn(&mut command(&[
        "run", "-d", "--name", "reader", image, "--", "eof",
    ]));
    // Offered to `kiln run -d`, never to the guest.
    let _ = child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(b"not for the instance\n");
    let started = child.wait_with_output().expect("wait for kiln run -d");
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let logs = loop {
        let logs: Run = command(&["logs", "reader"])
            .output()
            .expect("kiln logs")
            .into();
        if logs.stdout.contains("read of 0 bytes") {
            break logs.stdout;
        }
        assert!(Instant::now() < deadline, "no output: {}", logs.stderr);
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        logs.contains("terminal: false\nread 0 bytes, checksum 0\n"),
        "{logs}"
    );
    let _ = command(&["rm", "-f", "reader"]).output();
    let _ = std::fs::remove_dir_all(state);
}

#[test]
fn a_terminal_on_stdin_is_a_terminal_to_the_guest() {
    let (master, slave) = common::pseudo_terminal();
    require_kvm();
    let child = kiln()
        .arg("run")
        .arg(guest())
        .args(["--", "eof"])
        .stdin(slave)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kiln");
    let mut master = std::fs::File::from(master);
    // A line, then three Ctrl-Ds: each is one end of file, after which a
    // terminal can be read again (unlike a pipe); the guest reads three
    // times after its data, then its `poll` finds nothing more.
    master.write_all(b"typed\n\x04\x04\x04").expect("type");
    let output = child.wait_with_output().expect("wait for kiln");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.starts_with(
            "terminal: true\nread 6 bytes, checksum cccfb4e0\n\
             read after end of file: 0\nagain: 0\npoll at end of file: 0x0\n"
        ),
        "{stdout}"
    );
}

/// A new pipe: its read and write ends.
fn pipe() -> (std::os::fd::OwnedFd, std::os::fd::OwnedFd) {
    use std::os::fd::FromRawFd;
    let mut fds = [-1; 2];
    // SAFETY: `fds` has room for the two descriptors.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors are new and owned by nothing else.
    unsafe {
        (
            std::os::fd::OwnedFd::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        )
    }
}

/// A fresh directory for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kiln-stdin-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a scratch directory");
    dir
}
