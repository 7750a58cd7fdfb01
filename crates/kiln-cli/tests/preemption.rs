//! Threads that compute without blocking are preempted after a time slice,
//! as on Linux: spin-waits and polling loops end, a heartbeat keeps its
//! period beside a busy thread, threads that never block all finish. The
//! guest is `tests/guests/std-preempt`; its answers are compared with the
//! same program's on Linux. Under cooperative scheduling every one of these
//! runs hangs until its `--timeout`.

mod common;

use common::{code, free_port, image, kiln, run_image, run_native, start_server_with_args};

const GUEST: &str = "tests/guests/std-preempt";

/// Runs a mode under Kiln (with `flags`) and natively; both must succeed
/// with the same, non-trivial output, which is returned with Kiln's stderr.
fn same_as_linux(mode: &str, flags: &[&str]) -> (String, String) {
    let program = image(GUEST, false);
    let mut all = vec!["--timeout", "20s"];
    all.extend_from_slice(flags);
    let kiln = run_image(&program, &all, &[mode]);
    assert_eq!(kiln.code, 0, "{mode}: {}", kiln.stderr);
    let linux = run_native(GUEST, &[mode], b"");
    assert_eq!(linux.code, 0, "{mode} on Linux: {}", linux.stderr);
    assert!(kiln.stdout.lines().count() >= 1, "{mode}: no output");
    assert_eq!(kiln.stdout, linux.stdout, "{mode}: Kiln and Linux differ");
    (kiln.stdout, kiln.stderr)
}

/// How many exits of `kind` `kiln run --verbose` counted.
fn exits(stderr: &str, kind: &str) -> u64 {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("kiln: ") && l.contains(" exits: "))
        .unwrap_or_else(|| panic!("no exit summary in {stderr}"));
    line.split([':', ','])
        .map(str::trim)
        .find_map(|part| part.strip_prefix(kind).and_then(|n| n.trim().parse().ok()))
        .unwrap_or(0)
}

#[test]
fn a_spin_wait_on_an_atomic_ends() {
    let (stdout, _) = same_as_linux("spin", &[]);
    assert_eq!(
        stdout,
        "flag seen after spinning: true\nwaited at least 100 ms: true\n"
    );
}

#[test]
fn polling_a_mutex_ends() {
    let (stdout, _) = same_as_linux("mutex-poll", &[]);
    assert_eq!(stdout, "mutex saw true after polling: true\n");
}

#[test]
fn threads_that_never_block_all_finish_with_their_registers_intact() {
    let (stdout, stderr) = same_as_linux("busy", &["--verbose"]);
    assert_eq!(stdout.lines().count(), 4, "{stdout}");
    assert!(
        exits(&stderr, "signal") > 0,
        "no time-slice ticks: {stderr}"
    );
}

#[test]
fn a_heartbeat_keeps_its_period_beside_a_busy_thread() {
    let program = image(GUEST, false);
    let run = run_image(&program, &["--timeout", "20s"], &["heartbeat"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_steady_heartbeat(&run.stdout);
    let linux = run_native(GUEST, &["heartbeat"], b"");
    assert_eq!(linux.code, 0, "on Linux: {}", linux.stderr);
    assert_steady_heartbeat(&linux.stdout);
}

/// Five gaps of 200 ms asked; cooperative scheduling gives 1200 ms or more
/// (the busy thread's whole run). The bound is generous, for a loaded
/// machine.
fn assert_steady_heartbeat(stdout: &str) {
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 6, "{stdout}");
    assert_eq!(lines[5], "worker stopped");
    for (n, line) in lines[..5].iter().enumerate() {
        let gap: u64 = line
            .strip_prefix(&format!("gap {}: ", n + 1))
            .and_then(|rest| rest.strip_suffix(" ms"))
            .and_then(|ms| ms.parse().ok())
            .unwrap_or_else(|| panic!("not a gap: {line}"));
        assert!((200..400).contains(&gap), "gap {}: {gap} ms", n + 1);
    }
}

/// A seeded random mix of mutex, rwlock, condvar queue, channel, atomic,
/// barrier and epoll-on-pipes operations by threads preempted anywhere:
/// no update lost, no torn read, no lost wake-up (a hang would meet the
/// timeout), and the same totals as the same program on Linux, for
/// several seeds. Debug builds: more instructions per operation, so more
/// ticks land inside the library OS's and the program's critical sections.
#[test]
fn randomized_stress_of_synchronisation_and_epoll_matches_linux() {
    const STRESS: &str = "tests/guests/std-stress";
    let program = image(STRESS, false);
    let mut ticks = 0;
    for seed in ["1", "2", "3", "4"] {
        let kiln = run_image(
            &program,
            &["--timeout", "120s", "--verbose"],
            &[seed, "150"],
        );
        assert_eq!(kiln.code, 0, "seed {seed}: {}", kiln.stderr);
        let linux = run_native(STRESS, &[seed, "150"], b"");
        assert_eq!(linux.code, 0, "seed {seed} on Linux: {}", linux.stderr);
        assert!(linux.stdout.contains("torn reads 0"), "{}", linux.stdout);
        assert_eq!(kiln.stdout, linux.stdout, "seed {seed}");
        ticks += exits(&kiln.stderr, "signal");
    }
    assert!(
        ticks >= 4,
        "only {ticks} time slices ended: preemption was barely exercised"
    );
}

#[test]
fn a_lone_thread_gets_no_ticks() {
    let (stdout, stderr) = same_as_linux("alone", &["--verbose"]);
    assert_eq!(stdout, "helper answered 42\ncomputed alone\n");
    // A timer left running would tick ~60 times in 300 ms; allowed: one
    // that finds no other thread and stops it, and, on a loaded host, one or
    // two while the helper still existed.
    assert!(exits(&stderr, "signal") <= 3, "{stderr}");
}

#[test]
fn a_wild_stack_pointer_when_preempted_is_a_violation() {
    let program = image(GUEST, false);
    let run = run_image(&program, &["--timeout", "20s"], &["wild-stack"]);
    assert_eq!(run.code, code::VIOLATION, "{}", run.stderr);
    assert_eq!(run.stdout, "pointing the stack pointer outside memory\n");
    assert_eq!(
        run.stderr,
        "kiln: error: guest stopped for breaking the hypercall ABI: preemption: the interrupted \
         stack pointer 0x7fff00000000 leaves no room for the upcall frame in the guest's stack \
         or heap memory\n"
    );
}

#[test]
fn traffic_reaches_a_waiting_server_thread_while_another_computes() {
    use std::io::{BufRead, BufReader, Write};
    let program = image(GUEST, false);
    let port = free_port();
    let publish = format!("{port}:7");
    let flags = ["--memory", "32M", "--timeout", "30s", "-p", &publish];
    let _server = start_server_with_args(&program, &flags, &["serve-busy"], "listening on port 7");
    let stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("read timeout");
    (&stream).write_all(b"ping while busy\n").expect("send");
    let mut line = String::new();
    BufReader::new(&stream)
        .read_line(&mut line)
        .expect("the server thread answers while the main thread computes");
    assert_eq!(line, "ping while busy\n");
}

#[test]
fn inspect_shows_the_upcall_entry_of_a_threaded_image_only() {
    let inspect = |dir: &str| {
        let output = kiln()
            .arg("inspect")
            .arg(image(dir, false))
            .output()
            .expect("run kiln inspect");
        assert!(output.status.success(), "{output:?}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let threaded = inspect(GUEST);
    assert!(
        threaded.contains("upcall:    time-slice entry at 0x"),
        "{threaded}"
    );
    let native = inspect("examples/hello");
    assert!(!native.contains("upcall:"), "{native}");
}
