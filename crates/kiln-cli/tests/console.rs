//! The console (`tests/guests/std-console`): standard output batched in the
//! guest's ring, as Linux's programs see it: every byte, in order, also
//! before a crash; promptly while the program computes; in program order
//! with standard error; and never holding the VM past `--timeout`.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{code, image, kiln, require_kvm, run_image, run_native};

const GUEST: &str = "tests/guests/std-console";

fn console_image() -> PathBuf {
    image(GUEST, false)
}

/// `kiln run IMAGE -- args` with stdout and stderr into one pipe, as a
/// terminal or `2>&1` gets them; returns the exit code and what came.
fn run_merged(image: &Path, args: &[&str]) -> (i32, String) {
    require_kvm();
    let (mut reader, writer) = std::io::pipe().expect("pipe");
    let mut child = kiln()
        .arg("run")
        .arg(image)
        .arg("--")
        .args(args)
        .stdout(Stdio::from(writer.try_clone().expect("clone the pipe")))
        .stderr(Stdio::from(writer))
        .spawn()
        .expect("run kiln");
    let mut merged = String::new();
    reader.read_to_string(&mut merged).expect("read the output");
    let status = child.wait().expect("wait for kiln");
    (status.code().expect("kiln exited"), merged)
}

#[test]
fn a_hundred_thousand_lines_are_byte_identical_to_native() {
    let native = run_native(GUEST, &["lines", "100000"], b"");
    assert_eq!(native.code, 0, "native run: {}", native.stderr);
    assert_eq!(native.stdout.lines().count(), 100_000);
    let kiln = run_image(&console_image(), &[], &["lines", "100000"]);
    assert_eq!(kiln.code, 0, "{}", kiln.stderr);
    assert!(
        kiln.stdout == native.stdout,
        "the output differs from native"
    );
    assert_eq!(kiln.stderr, "");
}

#[test]
fn every_line_written_before_a_crash_comes_before_its_report() {
    let lines: String = (0..1000).map(|i| format!("line {i} of 1000\n")).collect();
    for (mode, exit, report) in [
        // std's own panic handler prints the message and exits 101.
        ("then-panic", 101, "panicked at"),
        ("then-abort", code::PANIC, "abort"),
        ("then-fault", code::FAULT, "guest page fault"),
        ("then-oom", code::OUT_OF_MEMORY, "out of memory"),
    ] {
        let (got, merged) = run_merged(&console_image(), &[mode]);
        assert_eq!(got, exit, "{mode}: exit code; output:\n{merged}");
        assert!(
            merged.starts_with(&lines),
            "{mode}: the 1000 lines, whole and first: {}",
            &merged[..merged.len().min(400)]
        );
        assert!(
            merged[lines.len()..].contains(report),
            "{mode}: the report after them: {}",
            &merged[lines.len()..]
        );
    }
}

#[test]
fn a_line_printed_before_a_long_computation_shows_before_it_ends() {
    require_kvm();
    let spin = Duration::from_secs(3);
    let mut child = kiln()
        .arg("run")
        .arg(console_image())
        .args(["--", "then-spin", &spin.as_millis().to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run kiln");
    let mut out = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("read the first line");
    let first = Instant::now();
    assert_eq!(line, "before the loop\n");
    line.clear();
    out.read_line(&mut line).expect("read the second line");
    let apart = first.elapsed();
    assert_eq!(line, "after the loop\n");
    assert!(child.wait().expect("wait for kiln").success());
    // Measured between the lines, not from the start, so a slow boot on a
    // busy machine does not count: the first line must not have waited
    // for the loop's end (the console's deadline is 20 ms).
    assert!(
        apart > spin / 2,
        "the lines came {apart:?} apart, around a loop of {spin:?}"
    );
}

#[test]
fn stdout_and_stderr_keep_the_order_the_program_wrote_them_in() {
    let (got, merged) = run_merged(&console_image(), &["interleave", "3000"]);
    assert_eq!(got, 0, "{merged}");
    let expected: String = (0..3000).map(|i| format!("out {i}\nerr {i}\n")).collect();
    assert!(
        merged == expected,
        "out of order: {}",
        &merged[..merged.len().min(400)]
    );
}

#[test]
fn the_timeout_ends_a_run_whose_reader_does_not_read() {
    require_kvm();
    // Stdout into a pipe nobody reads: once it is full, every write the
    // monitor makes would wait for the reader.
    let (reader, writer) = std::io::pipe().expect("pipe");
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["run", "--timeout", "2s"])
        .arg(console_image())
        .args(["--", "flood"])
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kiln");
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll kiln") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(20) {
            child.kill().expect("kill kiln");
            panic!("kiln ran on past --timeout 2s while its stdout was full");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let ended = started.elapsed();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("piped stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    assert_eq!(status.code(), Some(code::TIMEOUT), "{stderr}");
    assert!(stderr.contains("--timeout 2s"), "{stderr}");
    assert!(
        ended < Duration::from_secs(4),
        "ended {ended:?} after the start"
    );
    drop(reader);
}
