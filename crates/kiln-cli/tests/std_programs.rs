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
fn a_std_image_starts_from_adjacent_pages() {
    use object::{Object, ObjectSection, ObjectSymbol};
    let hello = image("examples/std-hello", true);
    let bytes = std::fs::read(&hello).expect("read the image");
    let elf = object::File::parse(&*bytes).expect("an ELF image");
    let text = elf.section_by_name(".text").expect("a .text section");
    // A function by the end of its mangled name (v0), or before the hash
    // (legacy): not the closures and generics named after it.
    let address = |wanted: &str| {
        let legacy = format!("{wanted}17h");
        elf.symbols()
            .find(|symbol| {
                symbol
                    .name()
                    .is_ok_and(|name| name.ends_with(wanted) || name.contains(&legacy))
            })
            .unwrap_or_else(|| panic!("no symbol named {wanted}"))
            .address()
    };
    // What every std program runs to start and exit, from the C library,
    // std and the library OS: together at the front of text, ahead of code
    // the start-up never runs, such as std's backtrace symbolizer.
    let front = text.address()..text.address() + 64 * 1024;
    for wanted in [
        "__kiln_libc_start",
        "19lang_start_internal",
        "10kiln_libos2rt5start",
        "10kiln_libos7process4exit",
    ] {
        assert!(
            front.contains(&address(wanted)),
            "{wanted} at {:#x}, outside {front:x?} (text is {} KiB)",
            address(wanted),
            text.size() / 1024
        );
    }
    assert!(!front.contains(&address("7Context3new")));
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
         current_exe: /std-env\n\
         cwd: Ok(\"/\")\n"
    );
}

#[test]
fn starting_a_process_fails_cleanly_at_run_time() {
    let command = image("tests/guests/std-command", false);
    let run = run_image(&command, &[], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // `output()` opens /dev/null for the child's stdin before it tries to
    // spawn, then fails as `status()` does.
    let enosys = "-1 (Function not implemented (os error 38))";
    assert_eq!(
        run.stdout,
        format!(
            "status: Function not implemented (os error 38) (Unsupported)\n\
             /dev/null opens: true\n\
             output: Function not implemented (os error 38) (Unsupported)\n\
             output with stdin: Function not implemented (os error 38) (Unsupported)\n\
             fork: {enosys}\nvfork: {enosys}\nexecv: {enosys}\nexecvp: {enosys}\n\
             execve: {enosys}\nsystem: {enosys}\n\
             popen: 0 (Function not implemented (os error 38))\n\
             waitpid: -1 (No child processes (os error 10))\n\
             system(NULL): 0\n\
             still running\n"
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
        "kiln: error: missing-symbol needs C-library functions Kiln does not provide: getspnam"
    );
}

/// A -sys crate that finds the system's zlib with pkg-config (libz-sys,
/// as libgit2-sys and flate2's zlib backend use it) gets a static zlib and
/// runs as natively.
#[test]
fn a_sys_crate_that_finds_zlib_links_it_statically() {
    let dir = "tests/guests/std-system-lib";
    let native = common::run_native(dir, &[], b"");
    assert_eq!(native.code, 0, "{}", native.stderr);
    let run = run_image(&image(dir, false), &[], &[]);
    assert_eq!((run.code, run.stdout), (0, native.stdout), "{}", run.stderr);
}

/// Crates on rustix (tempfile, terminal_size, and rustix itself) work as on
/// Linux: rustix is built to call the C library instead of making system
/// calls with the `syscall` instruction, which a guest has no kernel for.
#[test]
fn crates_on_rustix_answer_as_on_linux() {
    let dir = "tests/guests/std-rustix";
    let native = common::run_native(dir, &[], b"");
    assert_eq!(native.code, 0, "{}", native.stderr);
    assert!(
        native.stdout.contains("tempdir removed: true"),
        "{}",
        native.stdout
    );
    let run = run_image(&image(dir, false), &[], &[]);
    assert_eq!((run.code, run.stdout), (0, native.stdout), "{}", run.stderr);
}

/// A program linked against a shared library fails to build, naming it,
/// rather than making an image the monitor refuses for its ELF structure.
#[test]
fn a_program_linked_against_a_shared_library_fails_the_build_naming_it() {
    require_kvm();
    let run: common::Run = kiln()
        .arg("build")
        .arg(root().join("tests/guests/std-shared-lib"))
        .output()
        .expect("run kiln")
        .into();
    assert_eq!(run.code, code::BUILD, "{}", run.stderr);
    let last = run.stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(
            "kiln: error: std-shared-lib is linked against shared libraries (libkilnanswer.so); \
             a Kiln image is static"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn std_threads_spawn_join_share_and_synchronise() {
    let threads = image("examples/std-threads", false);
    // At the default memory limit: eight 2 MiB stacks grow the memory.
    let run = run_image(&threads, &["--timeout", "20s"], &[]);
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

/// Stacks are memory the guest maps as it needs it, like Linux's address
/// space: a thousand threads with std's 2 MiB stacks, alive at once, one of
/// them deep in its stack, at the default memory limit.
#[test]
fn a_thousand_threads_run_at_the_default_memory_limit() {
    let dir = "tests/guests/std-many-threads";
    let native = common::run_native(dir, &[], b"");
    assert_eq!(native.code, 0, "{}", native.stderr);
    assert!(native.stdout.starts_with("1000 threads alive at once"));
    let run = run_image(&image(dir, false), &["--timeout", "60s"], &[]);
    assert_eq!((run.code, run.stdout), (0, native.stdout), "{}", run.stderr);
}

#[test]
fn threads_beyond_the_memory_limit_fail_as_linux_would() {
    let threads = image("examples/std-threads", false);
    let run = run_image(&threads, &["--memory", "8M", "--timeout", "20s"], &[]);
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
            .any(|l| l.starts_with("kiln-libc: readlinkat(-100, ") && l.ends_with(" = 8")),
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
    let run = run_image(&overflow, &["--timeout", "20s"], &[]);
    assert_eq!(run.code, code::FAULT, "{}", run.stderr);
    assert!(
        run.stderr
            .starts_with("guest stack overflow (guard page hit at 0x"),
        "{}",
        run.stderr
    );
    // The stack is above the 8 MiB a guest starts with: in grown memory.
    let at = run
        .stderr
        .split("hit at 0x")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        .expect("the guard page's address");
    assert!(at >= 8 << 20, "guard page at {at:#x}");
    assert!(
        run.stderr
            .contains("  in std_overflow::recurse (thread 2 'deep'"),
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

/// A dependency may declare `crate-type = ["cdylib", "rlib"]` (redb 2.x
/// does): cargo then links it as a shared library too, which the guest's
/// freestanding flags must not reach.
#[test]
fn a_dependency_that_is_also_a_cdylib_links() {
    let program = image("tests/guests/std-cdylib-dep", false);
    let run = run_image(&program, &[], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "hello, Kiln, from a cdylib crate\n");
}

/// A program that runs out of guest memory ends with one line naming the
/// memory it had and `-m`, not a crash report; with the memory it suggests,
/// the program runs.
#[test]
fn running_out_of_memory_says_so_in_one_line_naming_m() {
    let program = image("tests/guests/std-oom", false);
    let run = run_image(&program, &["-m", "8M"], &[]);
    assert_eq!(run.code, code::OUT_OF_MEMORY, "{}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(
        lines,
        [
            "memory allocation of 1048576 bytes failed",
            "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace",
            "kiln: error: the guest ran out of memory: an allocation of 1.0 MiB did not fit \
             in its 8 MiB; give it more with -m (e.g. -m 16M)",
        ],
        "std's own lines, as on Linux, then Kiln's: {}",
        run.stderr
    );
    assert_eq!(run.stdout, "");
    let run = run_image(&program, &["-m", "16M"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "held 12 MiB (check 66)\n");
}

/// Small blocks freed on a vCPU are kept there for reuse; when the heap is
/// full they must still serve a request of another size, as on Linux.
#[test]
fn memory_freed_as_small_blocks_serves_other_sizes_when_the_heap_is_full() {
    let program = image("tests/guests/std-oom", false);
    for cpus in ["1", "2"] {
        let run = run_image(&program, &["-m", "8M", "--cpus", cpus], &["refill"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let figures: Vec<usize> = run
            .stdout
            .split_whitespace()
            .filter_map(|word| word.parse().ok())
            .collect();
        let [first, second, third] = figures[..] else {
            panic!("three figures expected: {}", run.stdout);
        };
        assert!(
            first > (4 << 20) / 500 && second > (2 << 20) / 1000,
            "the fills held {first} and {second} blocks of 8 MiB"
        );
        // The same blocks as the first time, give or take the odd one: the
        // blocks freed by the other fills all came back.
        assert!(
            third + 2 >= first,
            "the first fill held {first} 500-byte blocks, the third {third}"
        );
    }
}

#[test]
fn pthread_synchronisation_answers_as_linux_does() {
    let dir = "tests/guests/std-pthread";
    let native = common::run_native(dir, &[], b"");
    assert_eq!(native.code, 0, "{}", native.stderr);
    let program = image(dir, false);
    let run = run_image(&program, &["--memory", "64M", "--timeout", "60s"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // Non-trivial: every family answered, errors included, and the stress
    // counts came out whole.
    for line in [
        "errorcheck relock: EDEADLK",
        "timedlock held: ETIMEDOUT",
        "static writers first: readers kept out while a writer waits: true",
        "cond broadcast: woke 4 waiters, results [0, 0, 0, 0]",
        "sem_post at the maximum: -1 EOVERFLOW",
        "stress mutexes: normal 80000, recursive 80000, clocklock 80000, failures 0",
        "stress producer/consumer: 20000 items, sum 100010000",
        "getrandom 0.2: Ok(()), some byte set: true",
    ] {
        assert!(native.stdout.contains(line), "{line}\n{}", native.stdout);
    }
    let native_lines: Vec<&str> = native.stdout.lines().collect();
    let kiln_lines: Vec<&str> = run.stdout.lines().collect();
    for (native_line, kiln_line) in native_lines.iter().zip(&kiln_lines) {
        assert_eq!(kiln_line, native_line, "Kiln differs from Linux");
    }
    assert_eq!(kiln_lines.len(), native_lines.len(), "{}", run.stdout);
}

/// Runs the guest at `dir` under Kiln and natively against the host's
/// glibc, and asserts both print the same non-trivial output.
fn assert_same_as_linux(dir: &str, min_lines: usize) {
    let program = image(dir, false);
    let kiln_run = run_image(&program, &[], &[]);
    let linux = common::run_native(dir, &[], &[]);
    assert_eq!(linux.code, 0, "{}", linux.stderr);
    assert_eq!(kiln_run.code, 0, "{}", kiln_run.stderr);
    assert!(
        linux.stdout.lines().count() >= min_lines,
        "{}",
        linux.stdout
    );
    let differences: Vec<String> = linux
        .stdout
        .lines()
        .zip(kiln_run.stdout.lines())
        .filter(|(native, kiln)| native != kiln)
        .map(|(native, kiln)| format!("Linux: {native}\n Kiln: {kiln}"))
        .take(40)
        .collect();
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    assert_eq!(linux.stdout, kiln_run.stdout);
}

/// `memcpy`, `memmove`, `memset`, `memcmp` and `bcmp` at every length up
/// to 300 and around their size classes, at every alignment, with moves
/// overlapping both ways: the same results as glibc's.
#[test]
fn memory_functions_agree_with_glibc_at_every_length_and_alignment() {
    assert_same_as_linux("tests/guests/std-memfns", 5);
}

/// Every C99 `libm` function, double and float, at ±0, ±inf, NaN,
/// subnormals and huge values, with `errno`: the same answers as glibc's.
#[test]
fn c_math_answers_as_glibc_does() {
    assert_same_as_linux("tests/guests/std-cmath", 5000);
}

/// string.h, ctype.h (glibc's tables), the strtol/strtod families, qsort,
/// rand, locale, raise with a handler, dlopen/dlsym: the same answers as
/// glibc's.
#[test]
fn c_strings_ctype_stdlib_and_dl_answer_as_glibc_does() {
    assert_same_as_linux("tests/guests/std-cstring", 300);
}

/// A failed `assert`, a fatal `raise` and a fortify check end the program
/// as on Linux: the same message on stderr and the same exit status.
#[test]
fn assert_raise_and_fortify_checks_end_the_program_as_on_linux() {
    let dir = "tests/guests/std-cstring";
    let program = image(dir, false);
    for (mode, message) in [
        (
            "assert",
            "std-cstring: src/main.rs:42: int main(void): Assertion `1 + 1 == 3' failed.",
        ),
        ("raise-term", ""),
        ("raise-abort", ""),
        ("overflow", "*** buffer overflow detected ***: terminated"),
        (
            "memcpy-overflow",
            "*** buffer overflow detected ***: terminated",
        ),
    ] {
        let linux = common::run_native(dir, &[mode], &[]);
        let kiln_run = run_image(&program, &[], &[mode]);
        assert_eq!(
            (mode, linux.stdout.as_str()),
            (mode, ""),
            "{}",
            linux.stderr
        );
        assert_eq!(
            (mode, kiln_run.code, kiln_run.stdout.as_str()),
            (mode, linux.code, ""),
            "{}",
            kiln_run.stderr
        );
        assert_ne!(linux.code, 0, "{mode}");
        let first_line = |text: &str| text.lines().next().unwrap_or("").to_string();
        if message.is_empty() {
            assert_eq!(linux.stderr, "", "{mode}");
        } else {
            assert_eq!(first_line(&linux.stderr), message, "{mode}");
            assert_eq!(first_line(&kiln_run.stderr), message, "{mode}");
        }
    }
}

/// C code that the `cc` crate compiled against the host's glibc headers,
/// with `_FORTIFY_SOURCE` and the stack protector (ctype macros, strtol,
/// fortified copies, qsort, libm with errno), links into a std program and
/// answers as on Linux; its failed `assert` reads as glibc's.
#[test]
fn c_code_built_against_glibc_headers_runs_as_on_linux() {
    let dir = "tests/guests/std-cc";
    assert_same_as_linux(dir, 4);
    let linux = common::run_native(dir, &["assert"], &[]);
    let kiln_run = run_image(&image(dir, false), &[], &["assert"]);
    let message = "std-cc: c/probe.c:123: probe_assert: Assertion `value == 42' failed.";
    assert_eq!(linux.code, 134, "{}", linux.stderr);
    assert_eq!(kiln_run.code, 134, "{}", kiln_run.stderr);
    assert_eq!(linux.stderr.lines().next(), Some(message));
    assert_eq!(kiln_run.stderr.lines().next(), Some(message));
}

/// A release profile with cross-crate LTO (`lto = true`, as fd and tokei
/// set) still links: the C library sits beside the program, and LTO would
/// internalise the `core` functions it calls.
#[test]
fn a_program_whose_profile_asks_for_lto_links() {
    let program = image("tests/fixtures/std-lto", true);
    let run = run_image(&program, &[], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "built with lto: 0xdead, caught: true\n");
}

/// A backtrace the program captures itself names its functions, as on
/// Linux: `dl_iterate_phdr` reports the program's headers and
/// `/proc/self/exe` is the program's own file (read from the monitor), so
/// std's symbolizer finds the symbols. The same lines as natively.
#[test]
fn a_programs_own_backtrace_names_its_functions() {
    const GUEST: &str = "tests/guests/std-backtrace";
    let kiln = run_image(&image(GUEST, false), &["--timeout", "60s"], &[]);
    assert_eq!(kiln.code, 0, "{}", kiln.stderr);
    let linux = common::run_native(GUEST, &[], b"");
    assert_eq!(linux.code, 0, "on Linux: {}", linux.stderr);
    assert_eq!(
        kiln.stdout,
        "backtrace names inner: true\nbacktrace names outer: true\nbacktrace names main: true\n\
         exe is ELF: true\nexe size matches: true\nexe is executable: true\n"
    );
    assert_eq!(kiln.stdout, linux.stdout);
}

#[test]
fn workdir_is_the_programs_starting_directory() {
    let env = image("examples/std-env", false);
    let dir = std::env::temp_dir().join(format!("kiln-workdir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create a directory to share");
    let volume = format!("{}:/data:ro", dir.display());
    let run = run_image(&env, &["-v", &volume, "-w", "/data"], &[]);
    assert!(run.stdout.contains("cwd: Ok(\"/data\")"), "{}", run.stdout);
    let run = run_image(&env, &["--workdir", "/tmp"], &[]);
    assert!(run.stdout.contains("cwd: Ok(\"/tmp\")"), "{}", run.stdout);
    let run = run_image(&env, &[], &[]);
    assert!(run.stdout.contains("cwd: Ok(\"/\")"), "{}", run.stdout);
    run_image(&env, &["-w", "data"], &[]).assert_clean_error(2, "must be an absolute path");
    std::fs::remove_dir_all(&dir).expect("clean up");
}
