//! `kiln run --hypervisor firecracker`. Firecracker is not packaged, so the
//! boots are a manual check: `KILN_FIRECRACKER=/path/to/firecracker cargo
//! test --test firecracker -- --ignored` (BENCHMARKS.md says how the binary
//! was built). What needs no Firecracker, refusals and a missing binary,
//! runs everywhere.

mod common;

use std::path::Path;

use common::{code, image, kiln, run_image};

/// `kiln run --hypervisor firecracker [flags] IMAGE -- ARGS`.
fn run_on_firecracker(image: &Path, flags: &[&str], args: &[&str]) -> common::Run {
    let flags: Vec<&str> = ["--hypervisor", "firecracker"]
        .into_iter()
        .chain(flags.iter().copied())
        .collect();
    run_image(image, &flags, args)
}

/// The manual check needs a binary: without one it fails, loudly.
fn require_firecracker() {
    let binary = std::env::var_os("KILN_FIRECRACKER")
        .expect("this manual check boots images on Firecracker: set KILN_FIRECRACKER");
    assert!(
        Path::new(&binary).is_file(),
        "KILN_FIRECRACKER={} is not a file",
        binary.to_string_lossy()
    );
}

#[test]
fn monitor_only_options_are_refused() {
    let hello = image("examples/hello", false);
    let run = run_on_firecracker(&hello, &["-p", "8080:80"], &[]);
    run.assert_clean_error(code::USAGE, "--hypervisor firecracker");
}

#[test]
fn a_missing_binary_is_named() {
    let hello = image("examples/hello", false);
    let run: common::Run = kiln()
        .env("KILN_FIRECRACKER", "/nonexistent/firecracker")
        .args(["run", "--hypervisor", "firecracker"])
        .arg(&hello)
        .output()
        .expect("run kiln")
        .into();
    run.assert_clean_error(code::HOST, "KILN_FIRECRACKER");
}

#[test]
#[ignore = "manual: needs a Firecracker binary in KILN_FIRECRACKER"]
fn images_boot_on_firecracker() {
    require_firecracker();
    let hello = image("examples/hello", false);
    let run = run_on_firecracker(&hello, &[], &["one", "two"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "Hello from Kiln!\narg 1: one\narg 2: two\n");
    assert_eq!(run.stderr, "");

    let exit_code = image("examples/exit-code", false);
    let run = run_on_firecracker(&exit_code, &[], &["200"]);
    assert_eq!(run.code, 200, "{}", run.stderr);

    let probe = image("tests/guests/probe", false);
    let run = run_on_firecracker(&probe, &["-e", "GREETING=hello"], &["env"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("env GREETING=hello"), "{}", run.stdout);
    assert!(!run.stdout.contains("pci=off"), "{}", run.stdout);

    let run = run_on_firecracker(&probe, &["-m", "64M"], &["memory", "40"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("memory_mib=64\n"), "{}", run.stdout);
    let run = run_on_firecracker(&probe, &["-m", "64M"], &["memory", "80"]);
    assert_eq!(run.code, code::PANIC, "{}", run.stderr);

    let threads = image("examples/std-threads", false);
    let run = run_on_firecracker(&threads, &[], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);

    // No RTC on Firecracker: the wall clock comes from kvmclock.
    let time = image("examples/std-time", false);
    let run = run_on_firecracker(&time, &[], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let field = |name: &str| -> u64 {
        run.stdout
            .lines()
            .find_map(|line| line.strip_prefix(name)?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {}", run.stdout))
    };
    let seconds = field("unix_seconds: ");
    let host = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    assert!(host.abs_diff(seconds) < 60, "{seconds} against {host}");
    // A 100 ms sleep measured with the TSC rate kvmclock gave.
    assert!((100..150).contains(&field("slept_ms: ")), "{}", run.stdout);

    let fault = image("examples/fault", false);
    let run = run_on_firecracker(&fault, &[], &["invalid-pointer"]);
    assert_eq!(run.code, code::FAULT, "{}", run.stderr);
    assert!(
        run.stderr.contains("fault::read_invalid_pointer"),
        "{}",
        run.stderr
    );
    assert!(!run.stdout.contains("kiln-exit:"), "{}", run.stdout);
}
