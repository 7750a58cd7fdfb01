//! Every example boots on /dev/kvm and behaves as documented.

mod common;

use common::{code, image, run_image};

#[path = "../../../examples/compute/src/work.rs"]
mod work;

#[test]
fn hello_greets_and_lists_its_arguments() {
    let hello = image("examples/hello", false);
    let run = run_image(&hello, &[], &["one", "two words"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "Hello from Kiln!\narg 1: one\narg 2: two words\n"
    );
    assert_eq!(run.stderr, "", "kiln run prints only the guest's output");
}

#[test]
fn hello_runs_in_two_mebibytes() {
    let hello = image("examples/hello", true);
    let run = run_image(&hello, &["--memory", "2M"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "Hello from Kiln!\n");
}

#[test]
fn exit_code_passes_the_status_through() {
    let exit_code = image("examples/exit-code", false);
    for (arg, expected) in [("0", 0), ("7", 7), ("255", 255), ("256", 0), ("-1", 255)] {
        let run = run_image(&exit_code, &[], &[arg]);
        assert_eq!(run.code, expected, "exit-code {arg}: {}", run.stderr);
    }
    let run = run_image(&exit_code, &[], &[]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("usage: exit-code STATUS"));
}

#[test]
fn panic_reports_message_location_and_function() {
    let panic = image("examples/panic", false);
    let run = run_image(&panic, &[], &[]);
    assert_eq!(run.code, code::PANIC, "{}", run.stderr);
    assert!(
        run.stderr.starts_with("guest panicked at"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("the answer was 42, and that is too convenient")
    );
    assert!(
        run.stderr.contains("panic/src/main.rs:15"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("  in panic::check_answer\n"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("registers:\n  rip 0x"),
        "{}",
        run.stderr
    );
    // The backtrace starts at the panicking function and reaches main.
    let backtrace = run.stderr.split("backtrace:\n").nth(1).expect("backtrace");
    let first = backtrace.lines().next().expect("a frame");
    assert!(first.contains("panic::check_answer"), "{backtrace}");
    assert!(backtrace.contains("panic::main"), "{backtrace}");
    assert!(
        backtrace.contains("examples/panic/src/main.rs:9"),
        "{backtrace}"
    );
}

#[test]
fn panic_is_symbolized_in_release_builds_too() {
    let panic = image("examples/panic", true);
    let run = run_image(&panic, &[], &[]);
    assert_eq!(run.code, code::PANIC);
    assert!(run.stderr.contains("panic::check_answer"), "{}", run.stderr);
}

/// `kiln run fault -- MODE`: what the report says, and the function it names.
fn fault(mode: &str, what: &str, function: &str) {
    let fault = image("examples/fault", false);
    let run = run_image(&fault, &[], &[mode]);
    assert_eq!(run.code, code::FAULT, "{mode}: {}", run.stderr);
    let first = run.stderr.lines().next().unwrap_or_default();
    assert!(first.contains(what), "{mode}: {first}");
    assert!(
        run.stderr.contains(&format!("  in {function}\n")),
        "{mode}: {}",
        run.stderr
    );
    assert!(run.stderr.contains("backtrace:"), "{mode}");
    assert!(run.stderr.contains("fault::main"), "{mode}: {}", run.stderr);
    assert!(run.stderr.lines().count() < 100, "{mode}: report too long");
}

#[test]
fn fault_invalid_pointer_is_a_page_fault() {
    fault(
        "invalid-pointer",
        "page fault: read of unmapped address 0x7fffdead0000",
        "fault::read_invalid_pointer",
    );
}

#[test]
fn fault_null_is_named_as_such() {
    fault("null", "null pointer dereference", "fault::read_null");
}

#[test]
fn fault_write_to_code_is_a_protection_fault() {
    fault(
        "write-code",
        "write to protected address",
        "fault::write_code",
    );
}

#[test]
fn fault_invalid_opcode() {
    fault("invalid-opcode", "invalid opcode", "fault::invalid_opcode");
}

#[test]
fn fault_general_protection() {
    fault(
        "general-protection",
        "general protection fault",
        "fault::general_protection",
    );
}

#[test]
fn fault_stack_overflow_hits_the_guard_page() {
    fault("stack-overflow", "stack overflow", "fault::recurse");
}

#[test]
fn compute_matches_the_same_code_run_natively() {
    let compute = image("examples/compute", true);
    let run = run_image(&compute, &[], &["1000000"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let expected = format!("checksum(1000000) = {:.6}\n", work::checksum(1_000_000));
    assert!(run.stdout.starts_with(&expected), "{}", run.stdout);
}

#[test]
fn sleep_sleeps_the_requested_time() {
    let sleep = image("examples/sleep", false);
    let started = std::time::Instant::now();
    let run = run_image(&sleep, &[], &[]);
    let elapsed = started.elapsed();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let slept: u64 = run
        .stdout
        .trim()
        .strip_prefix("slept ")
        .and_then(|s| s.strip_suffix(" ms"))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("unexpected output {:?}", run.stdout));
    assert!((200..300).contains(&slept), "guest measured {slept} ms");
    assert!(elapsed.as_millis() >= 200, "host measured {elapsed:?}");
}
