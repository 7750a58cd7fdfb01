//! Unmodified `std` programs, built by `kiln build` against Kiln's C
//! library and booted on /dev/kvm.

mod common;

use common::{assert_near_host_clock, code, image, kiln, require_kvm, root, run_image};

#[test]
fn std_hello_prints_and_exits() {
    let hello = image("examples/std-hello", false);
    let run = run_image(&hello, &[], &["one", "two words"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "Hello from std on Kiln!\narg 1: one\narg 2: two words\n"
    );
    assert_eq!(run.stderr, "");
}

#[test]
fn std_hello_runs_in_four_mebibytes_and_is_small() {
    let hello = image("examples/std-hello", true);
    let run = run_image(&hello, &["--memory", "4M"], &[]);
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "Hello from std on Kiln!\n")
    );
    let inspect = kiln().arg("inspect").arg(&hello).output().expect("inspect");
    let text = String::from_utf8_lossy(&inspect.stdout);
    assert!(
        text.contains("services:  console, alloc, libc, threads, fs, time"),
        "{text}"
    );
}

#[test]
fn std_env_sees_and_changes_its_environment_and_exits_with_its_status() {
    let env = image("examples/std-env", false);
    let run = run_image(
        &env,
        &["-e", "GREETING=hello there", "-e", "REMOVED=x"],
        &["a", "b c"],
    );
    assert_eq!(run.code, 7, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "args: [\"std-env\", \"a\", \"b c\"]\n\
         GREETING=hello there\n\
         env: [(\"ADDED\", \"by the program\"), (\"GREETING\", \"changed\")]\n\
         current_exe failed: no /proc/self/exe available. Is /proc mounted?\n\
         cwd: Ok(\"/\")\n"
    );
}

#[test]
fn starting_a_process_fails_cleanly_at_run_time() {
    let command = image("tests/guests/std-command", false);
    let run = run_image(&command, &[], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // `output()` opens /dev/null for the child's stdin before it tries to
    // spawn: where the image has no /dev/null that is what fails first.
    let output = if run.stdout.contains("/dev/null opens: true\n") {
        "output: Function not implemented (os error 38) (Unsupported)"
    } else {
        "output: No such file or directory (os error 2) (NotFound)"
    };
    let enosys = "-1 (Function not implemented (os error 38))";
    assert_eq!(
        run.stdout,
        format!(
            "status: Function not implemented (os error 38) (Unsupported)\n\
             /dev/null opens: {}\n\
             {output}\n\
             output with stdin: Function not implemented (os error 38) (Unsupported)\n\
             fork: {enosys}\nvfork: {enosys}\nexecv: {enosys}\nexecvp: {enosys}\n\
             execve: {enosys}\nsystem: {enosys}\n\
             popen: 0 (Function not implemented (os error 38))\n\
             waitpid: -1 (No child processes (os error 10))\n\
             system(NULL): 0\n\
             still running\n",
            output.contains("Unsupported")
        )
    );
}

#[test]
fn std_time_is_monotonic_sleeps_and_knows_the_date() {
    let time = image("examples/std-time", false);
    let started = std::time::Instant::now();
    let run = run_image(&time, &[], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let value = |key: &str| -> String {
        run.stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}: ")))
            .unwrap_or_else(|| panic!("no {key} in {}", run.stdout))
            .to_string()
    };
    assert_eq!(value("monotonic"), "true");
    let slept: u64 = value("slept_ms").parse().expect("ms");
    assert!((100..150).contains(&slept), "slept {slept} ms");
    assert!(started.elapsed().as_millis() >= 100);
    assert_near_host_clock(value("unix_seconds").parse().expect("seconds"));
}

#[test]
fn a_panic_escaping_main_exits_101_as_on_linux() {
    let abort = image("tests/guests/std-abort", false);
    let run = run_image(&abort, &[], &[]);
    assert_eq!(run.code, 101, "{}", run.stderr);
    assert_eq!(run.stdout, "checking 0 values\n");
    assert!(
        run.stderr.contains(
            "thread 'main' (1) panicked at std-abort/src/main.rs:19:9:\nno values were given"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn abort_is_reported_by_kiln_with_a_backtrace() {
    let abort = image("tests/guests/std-abort", false);
    let run = run_image(&abort, &[], &["abort"]);
    assert_eq!(run.code, code::PANIC, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("guest panicked: the program called abort()")
    );
    assert!(
        run.stderr.contains("  in std_abort::check\n"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("std_abort::main"), "{}", run.stderr);
}

#[test]
fn a_panicking_thread_is_reported_and_joined_with_an_error() {
    let panic = image("examples/std-panic", false);
    let run = run_image(&panic, &["--memory", "16M"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "worker panicked: the worker was given nothing to divide by\n\
         catch_unwind caught an index panic: true\n\
         still running\n"
    );
    assert!(
        run.stderr.contains(
            "thread 'worker' (2) panicked at std-panic/src/main.rs:13:17:\n\
             the worker was given nothing to divide by"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn a_missing_c_function_fails_the_build_with_its_name() {
    require_kvm();
    let run: common::Run = kiln()
        .arg("build")
        .arg(root().join("tests/guests/missing-symbol"))
        .output()
        .expect("run kiln")
        .into();
    assert_eq!(run.code, code::BUILD, "{}", run.stderr);
    let last = run.stderr.lines().last().unwrap_or_default();
    assert_eq!(
        last,
        "kiln: error: missing-symbol needs C-library functions Kiln does not provide: getpwnam"
    );
}

#[test]
fn std_threads_spawn_join_share_and_synchronise() {
    let threads = image("examples/std-threads", false);
    let run = run_image(&threads, &["--memory", "64M", "--timeout", "20s"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "channel total: 31996000 (expected 31996000)\n\
         join results: 280\n\
         condvar saw: 400\n\
         barrier: every thread saw [5, 5, 5, 5, 5]\n\
         scoped sums: [3, 7, 11, 15] = 36\n\
         once: initialised once\n\
         four 50 ms sleeps in parallel: overlapped\n\
         thread-local destructors run: true\n"
    );
}

#[test]
fn threads_beyond_guest_memory_fail_as_linux_would() {
    let threads = image("examples/std-threads", false);
    let run = run_image(&threads, &["--timeout", "20s"], &[]);
    assert_eq!(run.code, 101, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("failed to spawn thread: Os { code: 11, kind: WouldBlock"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_deadlock_is_reported_not_hung() {
    let deadlock = image("tests/guests/std-deadlock", false);
    let run = run_image(&deadlock, &["--memory", "16M", "--timeout", "20s"], &[]);
    assert_eq!(run.code, code::PANIC, "{}", run.stderr);
    assert_eq!(run.stdout, "joining a thread that can never finish\n");
    assert!(
        run.stderr
            .starts_with("guest panicked: deadlock: every thread is waiting, none with a timeout"),
        "{}",
        run.stderr
    );
}

#[test]
fn popular_crates_work_unmodified() {
    let deps = image("examples/std-deps", false);
    let run = run_image(&deps, &["--memory", "64M", "--timeout", "20s"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let expected: u64 = (1..=1_000_000u64).map(|x| x % 7).sum();
    assert_eq!(
        run.stdout,
        format!(
            "json: {{\"id\":42,\"customer\":\"Ada\",\"items\":[\"kiln\",\"clay\"],\"total_cents\":12345}}\n\
             round trip: true\n\
             dates: [\"22/11/2026\", \"01/12/2026\", \"15/01/2027\"]\n\
             parallel sum: {expected} on 4 threads\n"
        )
    );
}

#[test]
fn trace_libc_logs_each_call_with_its_result() {
    let env = image("examples/std-env", false);
    let quiet = run_image(&env, &[], &["a"]);
    let traced = run_image(&env, &["--trace-libc"], &["a"]);
    assert_eq!(traced.code, 7, "{}", traced.stderr);
    assert_eq!(
        traced.stdout, quiet.stdout,
        "tracing must not change the output"
    );
    assert_eq!(quiet.stderr, "", "no trace without the flag");
    assert!(
        traced
            .stderr
            .lines()
            .any(|l| l.starts_with("kiln-libc: readlinkat(-100, ")
                && l.ends_with(" = -1 ENOENT (2)")),
        "current_exe's readlink of /proc/self/exe is missing:\n{}",
        traced.stderr
    );
    for line in ["kiln-libc: unsetenv(", "kiln-libc: getcwd("] {
        assert!(
            traced.stderr.contains(line),
            "{line} missing:\n{}",
            traced.stderr
        );
    }
    let writes = traced
        .stderr
        .lines()
        .filter(|l| l.starts_with("kiln-libc: write(1, "))
        .count();
    assert_eq!(writes, quiet.stdout.lines().count(), "one write per line");
}

#[test]
fn a_thread_stack_overflow_hits_its_guard_page_and_names_the_thread() {
    let overflow = image("tests/guests/std-overflow", false);
    let run = run_image(&overflow, &["--memory", "16M", "--timeout", "20s"], &[]);
    assert_eq!(run.code, code::FAULT, "{}", run.stderr);
    assert!(
        run.stderr
            .starts_with("guest stack overflow (guard page hit at 0x"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("  in std_overflow::recurse (thread 2)\n"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stdout, "", "the program must not carry on");
}

#[test]
fn c_library_edge_cases_answer_as_linux_does() {
    let program = image("tests/guests/std-libc", false);
    let run = run_image(&program, &["--trace-libc"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 12, "{}", run.stdout);
    for line in lines {
        assert!(line.contains(": ok ("), "{line}");
    }
    // Error paths leave the shim early; the trace must show them too.
    assert!(
        run.stderr
            .contains("kiln-libc: munmap(4096, 0) = -1 EINVAL (22)\n"),
        "{}",
        run.stderr
    );
}
