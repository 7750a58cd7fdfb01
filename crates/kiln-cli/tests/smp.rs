//! Threads on several vCPUs (`kiln run --cpus N`): what a program sees of
//! them, work that really runs in parallel, results computed in parallel
//! that match Linux, synchronisation under true parallelism, and a crash on
//! another vCPU named in the report. The guest is `tests/guests/std-smp`.

mod common;

use common::{code, image, run_image, run_native};

const GUEST: &str = "tests/guests/std-smp";

fn run(flags: &[&str], args: &[&str]) -> common::Run {
    let program = image(GUEST, false);
    let mut all = vec!["--timeout", "60s"];
    all.extend_from_slice(flags);
    run_image(&program, &all, args)
}

#[test]
fn a_program_sees_the_vcpus_it_was_given() {
    for cpus in ["1", "2", "3"] {
        let kiln = run(&["--cpus", cpus], &["cpus"]);
        assert_eq!(kiln.code, 0, "--cpus {cpus}: {}", kiln.stderr);
        assert_eq!(
            kiln.stdout,
            format!("available parallelism {cpus}\naffinity {cpus}\n")
        );
    }
}

#[test]
fn by_default_a_program_sees_the_hosts_cpus() {
    let host = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(16);
    let kiln = run(&[], &["cpus"]);
    assert_eq!(kiln.code, 0, "{}", kiln.stderr);
    assert_eq!(
        kiln.stdout,
        format!("available parallelism {host}\naffinity {host}\n")
    );
}

/// Busy threads that never block end up on every vCPU: they run in
/// parallel, not in turns on one.
#[test]
fn busy_threads_run_on_every_vcpu() {
    for cpus in ["2", "3"] {
        let kiln = run(&["--cpus", cpus], &["spread"]);
        assert_eq!(kiln.code, 0, "--cpus {cpus}: {}", kiln.stderr);
        assert_eq!(kiln.stdout, format!("CPUs seen: {cpus} of {cpus}\n"));
    }
}

#[test]
fn a_result_computed_on_every_vcpu_matches_linux() {
    let linux = run_native(GUEST, &["sum", "3000000"], b"");
    assert_eq!(linux.code, 0, "on Linux: {}", linux.stderr);
    assert!(linux.stdout.starts_with("checksum 0x"), "{}", linux.stdout);
    for cpus in ["1", "2", "3"] {
        let kiln = run(&["--cpus", cpus], &["sum", "3000000"]);
        assert_eq!(kiln.code, 0, "--cpus {cpus}: {}", kiln.stderr);
        assert_eq!(kiln.stdout, linux.stdout, "--cpus {cpus}");
    }
}

/// The seeded stress of mutexes, rwlocks, condvars, channels, atomics,
/// barriers and epoll, with its threads spread over vCPUs that really run
/// at once: no lost update or wake-up, the same totals as on Linux.
#[test]
fn randomized_stress_across_vcpus_matches_linux() {
    const STRESS: &str = "tests/guests/std-stress";
    let program = image(STRESS, false);
    for (seed, cpus) in [("5", "2"), ("6", "2"), ("7", "3"), ("8", "4")] {
        let kiln = run_image(
            &program,
            &["--timeout", "120s", "--cpus", cpus],
            &[seed, "150"],
        );
        assert_eq!(kiln.code, 0, "seed {seed}, --cpus {cpus}: {}", kiln.stderr);
        let linux = run_native(STRESS, &[seed, "150"], b"");
        assert_eq!(linux.code, 0, "seed {seed} on Linux: {}", linux.stderr);
        assert!(linux.stdout.contains("torn reads 0"), "{}", linux.stdout);
        assert_eq!(kiln.stdout, linux.stdout, "seed {seed}, --cpus {cpus}");
    }
}

/// A thread that faults while running on another vCPU than the main
/// thread's is reported with its name and that vCPU.
#[test]
fn a_fault_on_another_vcpu_names_the_thread_and_the_vcpu() {
    let kiln = run(&["--cpus", "2"], &["fault"]);
    assert_eq!(kiln.code, code::FAULT, "{}", kiln.stderr);
    assert_eq!(kiln.stdout, "faulting on another CPU\n");
    assert!(
        kiln.stderr.contains("'faulter'") && kiln.stderr.contains("vCPU 1"),
        "{}",
        kiln.stderr
    );
}

/// One vCPU still runs every thread, in turns.
#[test]
fn one_vcpu_runs_every_thread_in_turns() {
    let kiln = run(&["--cpus", "1"], &["spread"]);
    assert_eq!(kiln.code, 0, "{}", kiln.stderr);
    assert_eq!(kiln.stdout, "CPUs seen: 1 of 1\n");
}
