//! `kiln test`: a crate's own tests (`tests/fixtures/test-suite`), each test
//! binary booted as a unikernel, against `cargo test` of the same crate run
//! natively: the same results per test binary and the same exit code.

mod common;

use std::process::Command;

use common::{Run, code, kiln, require_kvm, root};

const FIXTURE: &str = "tests/fixtures/test-suite";

/// `kiln test FIXTURE ARGS...`.
fn kiln_test(args: &[&str]) -> Run {
    require_kvm();
    kiln()
        .arg("test")
        .arg(root().join(FIXTURE))
        .args(args)
        .output()
        .expect("run kiln test")
        .into()
}

/// `cargo test ARGS...` of the fixture, natively.
fn cargo_test(args: &[&str]) -> Run {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .arg("test")
        .current_dir(root().join(FIXTURE))
        .args(args)
        .env_remove("RUSTFLAGS")
        .output()
        .expect("run cargo test")
        .into()
}

/// The harness's verdicts, without their timings: `test result: ...` lines
/// and each `test NAME ... RESULT` line, sorted (tests run in parallel).
fn verdicts(run: &Run) -> Vec<String> {
    let mut lines: Vec<String> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("test ") || l.starts_with("test result:"))
        .map(|l| l.split("; finished in").next().unwrap_or(l).to_string())
        .collect();
    lines.sort();
    lines
}

#[test]
fn the_results_are_cargo_tests_for_each_test_binary() {
    let ours = kiln_test(&["--no-fail-fast", "--lib", "--bins", "--test", "files"]);
    let theirs = cargo_test(&["--no-fail-fast", "--lib", "--bins", "--test", "files"]);
    assert_eq!(ours.code, 101, "{}", ours.stderr);
    assert_eq!(ours.code, theirs.code, "exit codes");
    assert_eq!(
        verdicts(&ours),
        verdicts(&theirs),
        "kiln:\n{}\ncargo:\n{}",
        ours.stdout,
        theirs.stdout
    );
    assert!(
        ours.stdout
            .contains("test result: FAILED. 4 passed; 1 failed; 1 ignored"),
        "{}",
        ours.stdout
    );
    // Cargo's own lines: what ran, what failed and how to rerun it.
    for line in [
        "     Running unittests src/lib.rs (",
        "     Running unittests src/main.rs (",
        "     Running tests/files.rs (",
        "error: test failed, to rerun pass `--lib`",
        "error: 1 target failed:",
    ] {
        assert!(ours.stderr.contains(line), "{line:?} in:\n{}", ours.stderr);
    }
}

#[test]
fn the_first_failing_binary_stops_the_run_unless_told_otherwise() {
    let run = kiln_test(&["--lib", "--test", "files"]);
    assert_eq!(run.code, 101);
    assert!(
        run.stderr
            .contains("error: test failed, to rerun pass `--lib`"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("Running tests/files.rs"),
        "{}",
        run.stderr
    );
}

#[test]
fn harness_arguments_reach_the_harness() {
    let filtered = kiln_test(&["--lib", "--", "adds", "--exact"]);
    assert_eq!(filtered.code, 0, "{}", filtered.stderr);
    assert_eq!(
        verdicts(&filtered),
        verdicts(&cargo_test(&["--lib", "--", "adds", "--exact"]))
    );
    let captured = kiln_test(&["--lib", "--", "prints"]);
    assert!(
        !captured.stdout.contains("output of a passing test"),
        "{}",
        captured.stdout
    );
    let shown = kiln_test(&["--lib", "--", "prints", "--nocapture"]);
    assert!(
        shown.stdout.contains("output of a passing test"),
        "{}",
        shown.stdout
    );
    let listed = kiln_test(&["--lib", "--", "--list"]);
    assert!(
        listed
            .stdout
            .contains("tests::division_by_zero_panics: test"),
        "{}",
        listed.stdout
    );
    let ignored = kiln_test(&["--lib", "--", "--ignored"]);
    assert!(
        ignored.stdout.contains("test tests::ignored ... ok"),
        "{}",
        ignored.stdout
    );
}

#[test]
fn tests_read_their_crates_files_and_write_temporary_ones() {
    let run = kiln_test(&["--test", "files"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("test result: ok. 4 passed"),
        "{}",
        run.stdout
    );
    // Without the crate's directory a relative read fails.
    let without = kiln_test(&["--test", "files", "--no-crate-volume"]);
    assert_eq!(without.code, 101, "{}", without.stdout);
    assert!(
        without
            .stdout
            .contains("test reads_a_file_relative_to_the_crate ... FAILED"),
        "{}",
        without.stdout
    );
}

/// The crate's directory is read-only by default; a volume the user gives
/// at its path replaces that, so a test can write there as natively.
#[test]
fn a_volume_at_the_crates_path_lets_tests_write_there() {
    let dir = root().join(FIXTURE).canonicalize().expect("the fixture");
    let written = dir.join("target/tmp/written-by-a-test");
    std::fs::create_dir_all(written.parent().expect("a parent")).expect("target/tmp");
    let _ = std::fs::remove_file(&written);
    let token = format!("token-{}", std::process::id());
    let env = format!("TEST_SUITE_WRITE={token}");
    let filter = ["--test", "files", "-e", &env, "--", "writes_into"];
    let read_only = kiln_test(&filter);
    assert_eq!(read_only.code, 101, "{}", read_only.stdout);
    assert!(
        !written.exists(),
        "a test wrote into the read-only crate directory"
    );
    let volume = format!("{0}:{0}", dir.display());
    let mut writable = vec!["-v", &volume];
    writable.extend(filter);
    let run = kiln_test(&writable);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        std::fs::read_to_string(&written).expect("the file the test wrote"),
        token
    );
    std::fs::remove_file(&written).expect("remove it");
}

#[test]
fn a_test_binary_kiln_cannot_build_is_named_and_the_others_still_run() {
    let run = kiln_test(&["--tests", "--no-fail-fast"]);
    assert_eq!(run.code, 101, "{}", run.stderr);
    assert!(
        run.stderr.contains("kiln: error: tests/shadow.rs: shadow needs C-library functions Kiln does not provide: getspnam"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("test result: ok. 4 passed"),
        "files still ran:\n{}",
        run.stdout
    );
    // Natively the same binary builds and passes.
    let native = cargo_test(&["--test", "shadow"]);
    assert_eq!(native.code, 0, "{}", native.stderr);
}

#[test]
fn bad_selections_are_one_clear_line() {
    kiln_test(&["--test", "nosuch"])
        .assert_clean_error(code::USAGE, "has no test target named nosuch");
}
