//! A guest that abuses the hypercall ABI is stopped with a clear message;
//! the monitor never trusts, follows or panics on what it passes.

mod common;

use std::path::PathBuf;

use common::{code, image, kiln, require_kvm, run_image};

fn violation(case: &str, needle: &str) {
    let hostile = image("tests/guests/hostile", false);
    let run = run_image(&hostile, &[], &[case]);
    run.assert_clean_error(code::VIOLATION, needle);
    assert!(run.stderr.contains("breaking the hypercall ABI"), "{case}");
    assert_eq!(run.stdout, "", "{case}: nothing may be printed");
}

#[test]
fn console_buffer_outside_memory() {
    violation(
        "console-outside",
        "0x10 bytes at guest address 0xffff0000 are outside guest memory",
    );
}

#[test]
fn console_ring_outside_memory() {
    violation(
        "console-ring-outside",
        "ConsoleWrite hypercall: 0x10010 bytes at guest address",
    );
}

#[test]
fn console_ring_claiming_more_than_it_holds() {
    violation(
        "console-ring-overrun",
        "console ring: head 65537 is not within 65536 bytes after tail 0",
    );
}

#[test]
fn console_length_beyond_any_memory() {
    violation("console-huge-length", "exceeds the limit of 65536 bytes");
}

#[test]
fn console_buffer_wrapping_the_address_space() {
    violation(
        "console-wrapping",
        "guest address 0xfffffffffffffffb are outside",
    );
}

#[test]
fn console_buffer_just_over_the_limit() {
    violation("console-too-long", "length 65537 exceeds the limit");
}

#[test]
fn console_buffer_running_past_the_end_of_memory() {
    violation("console-past-end", "0x10 bytes at guest address 0x7ffff8");
}

#[test]
fn grow_memory_arguments_past_the_end_of_memory() {
    violation(
        "grow-args-outside",
        "GrowMemory hypercall: 0x18 bytes at guest address 0x7ffff8",
    );
}

/// Memory grows in doubling blocks up to the limit and no further; each new
/// block is the guest's to use, for its own stores and for hypercall
/// buffers; impossible requests are refused, not failed.
#[test]
fn memory_grows_block_by_block_to_the_limit_and_no_further() {
    let hostile = image("tests/guests/hostile", false);
    let run = run_image(&hostile, &["-m", "64M"], &["grow-until-refused"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "u64::MAX: (0, 0)\n\
         the limit: (0, 0)\n\
         block ends at 16 MiB\n\
         written in the new block\n\
         block ends at 32 MiB\n\
         written in the new block\n\
         block ends at 64 MiB\n\
         written in the new block\n\
         refused: 0 0\n"
    );
}

/// A raw Linux system call (the `syscall` instruction, as rustix's default
/// backend makes them) is reported as one, in the function that made it,
/// rather than as a jump to address 0.
#[test]
fn a_raw_system_call_is_reported_as_one() {
    let hostile = image("tests/guests/hostile", false);
    let run = run_image(&hostile, &[], &["raw-syscall"]);
    assert_eq!(run.code, code::FAULT, "{}", run.stderr);
    let mut lines = run.stderr.lines();
    let first = lines.next().unwrap_or_default();
    assert!(
        first.starts_with("guest made a Linux system call itself (syscall instruction at 0x")
            && first.contains(", call 39, getpid); a Kiln guest has no kernel"),
        "{}",
        run.stderr
    );
    assert_eq!(lines.next(), Some("  in hostile::main"), "{}", run.stderr);
}

/// The running thread's name comes from guest memory: a crash report
/// prints it escaped, and leaves it out when it cannot be read.
#[test]
fn a_thread_name_in_a_crash_report_is_escaped_or_left_out() {
    let hostile = image("tests/guests/hostile", false);
    let named = run_image(&hostile, &[], &["thread-name-escapes"]);
    assert_eq!(named.code, code::PANIC, "{}", named.stderr);
    assert!(
        // Escaped, and cut at Linux's 16 bytes (15 and the NUL).
        named
            .stderr
            .contains("(thread 7 '\\u{1b}[31mx\\nkiln: for')"),
        "{}",
        named.stderr
    );
    assert!(!named.stderr.contains('\x1b'), "{}", named.stderr);
    let outside = run_image(&hostile, &[], &["thread-name-outside"]);
    assert_eq!(outside.code, code::PANIC, "{}", outside.stderr);
    assert!(
        outside.stderr.contains(" (thread 7)\n"),
        "{}",
        outside.stderr
    );
}

#[test]
fn console_to_an_unknown_stream() {
    violation("console-bad-stream", "unknown stream 7");
}

#[test]
fn argument_block_outside_memory() {
    violation(
        "args-outside",
        "guest address 0xfffffff0 are outside guest memory",
    );
}

#[test]
fn argument_block_straddling_the_end_of_memory() {
    violation(
        "args-straddling-end",
        "0x18 bytes at guest address 0x7ffff8",
    );
}

#[test]
fn unknown_hypercall_number() {
    violation("unknown-call", "port 0x500, which is not a hypercall port");
}

#[test]
fn file_call_with_an_unknown_operation() {
    violation("file-unknown-op", "File hypercall: unknown operation 99");
}

#[test]
fn file_stat_into_a_buffer_of_the_wrong_size() {
    violation(
        "file-stat-wrong-size",
        "Stat buffer of 87 bytes; a FileStat is 88 bytes",
    );
}

#[test]
fn file_read_into_a_buffer_outside_memory() {
    violation(
        "file-read-outside",
        "File hypercall: 0x10 bytes at guest address 0x801000 are outside guest memory",
    );
}

/// The buffer is checked before anything is taken from the host's stdin,
/// which holds bytes here.
fn stdin_violation(case: &str, needle: &str) {
    let hostile = image("tests/guests/hostile", false);
    require_kvm();
    let run: common::Run = kiln()
        .arg("run")
        .arg(&hostile)
        .args(["--", case])
        .stdin(std::fs::File::open(hostile.as_path()).expect("open the image"))
        .output()
        .expect("run kiln")
        .into();
    run.assert_clean_error(code::VIOLATION, needle);
    assert_eq!(run.stdout, "", "{case}: nothing may be printed");
}

#[test]
fn stdin_read_into_a_buffer_outside_memory() {
    stdin_violation(
        "stdin-outside",
        "StdinRead hypercall: 0x10 bytes at guest address 0x801000 are outside guest memory",
    );
}

#[test]
fn stdin_read_into_a_buffer_past_the_end_of_memory() {
    stdin_violation(
        "stdin-past-end",
        "StdinRead hypercall: 0x10 bytes at guest address 0x7ffff8",
    );
}

#[test]
fn read_image_into_a_buffer_outside_memory() {
    violation(
        "read-image-outside",
        "ReadImage hypercall: 0x10 bytes at guest address 0x801000 are outside guest memory",
    );
}

#[test]
fn read_image_over_the_limit() {
    violation(
        "read-image-too-long",
        "ReadImage hypercall: length 1048577 exceeds the limit of 1048576 bytes",
    );
}

#[test]
fn read_image_past_its_end_copies_nothing() {
    let run = run_image(
        &image("tests/guests/hostile", false),
        &[],
        &["read-image-past-its-end"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "read past the image's end: 0 bytes
"
    );
}

#[test]
fn stdin_read_over_the_limit() {
    stdin_violation(
        "stdin-too-long",
        "StdinRead hypercall: length 1048577 exceeds the limit of 1048576 bytes",
    );
}

#[test]
fn file_read_over_the_limit() {
    violation(
        "file-read-too-long",
        "File hypercall: length 16777217 exceeds the limit of 16777216 bytes",
    );
}

#[test]
fn file_path_over_the_limit() {
    violation(
        "file-path-too-long",
        "File hypercall: length 4097 exceeds the limit of 4096 bytes",
    );
}

#[test]
fn file_deferred_block_that_may_not_be_deferred() {
    violation(
        "file-pending-open",
        "pending block 0 is op 1 with 0 pending; only Write and Close",
    );
}

#[test]
fn file_deferred_blocks_outside_memory() {
    violation(
        "file-pending-outside",
        "File hypercall: 0xd0 bytes at guest address 0x7ffff8 are outside guest memory",
    );
}

#[test]
fn file_too_many_deferred_blocks() {
    violation(
        "file-pending-too-many",
        "File hypercall: 65 pending blocks; at most 64 may be deferred",
    );
}

/// A fresh, empty directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kiln-hostile-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Every `File` operation, and the hostile variant of each (escapes
/// through links the guest plants, `..`, absolute paths, smuggled open
/// flags, the volume root, every change on a read-only view, deferred
/// blocks, an empty read at the very end of memory), made by a real guest:
/// the monitor answers each under its seccomp filter, and nothing outside
/// the volume changes.
#[test]
fn file_every_operation_answers_and_stays_inside_the_volume() {
    let base = scratch("every-op");
    let volume = base.join("volume");
    std::fs::create_dir_all(&volume).expect("create the volume");
    std::fs::create_dir_all(base.join("outside")).expect("create outside");
    std::fs::write(base.join("outside/secret"), "secret").expect("write the secret");
    let run = run_image(
        &image("tests/guests/hostile", false),
        &[
            "-v",
            &format!("{}:/data", volume.display()),
            "-v",
            &format!("{}:/ro:ro", volume.display()),
        ],
        &["file-every-op"],
    );
    let left: Vec<_> = std::fs::read_dir(&volume)
        .expect("read the volume")
        .map(|e| e.expect("entry").file_name())
        .collect();
    let outside: Vec<_> = std::fs::read_dir(base.join("outside"))
        .expect("read outside")
        .map(|e| e.expect("entry").file_name())
        .collect();
    let secret = std::fs::read_to_string(base.join("outside/secret")).expect("the secret");
    let _ = std::fs::remove_dir_all(&base);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "every file operation answered as expected\n");
    assert!(left.is_empty(), "left in the volume: {left:?}");
    assert_eq!(outside, ["secret"]);
    assert_eq!(secret, "secret");
}

/// With a file-size limit on the host (`ulimit -f`), a guest writing past
/// it gets `EFBIG`; it cannot kill the monitor with `SIGXFSZ`.
#[test]
fn file_write_past_the_hosts_file_size_limit_is_efbig() {
    require_kvm();
    let hostile = image("tests/guests/hostile", false);
    let dir = scratch("fsize");
    // 64 blocks: 32 or 64 KiB, whatever the shell's unit; the guest goes to 1 MiB.
    let output = std::process::Command::new("sh")
        .args(["-c", "ulimit -f 64 && exec \"$0\" \"$@\""])
        .arg(kiln().get_program())
        .arg("run")
        .arg("-v")
        .arg(format!("{}:/data", dir.display()))
        .arg(&hostile)
        .args(["--", "file-past-size-limit"])
        .output()
        .expect("run kiln under ulimit -f");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "past the file-size limit: EFBIG\n"
    );
}

/// A FIFO on the host, in a volume, that nothing reads: every deferred
/// write of the guest's next call blocks in the monitor, one after the
/// other. `--timeout` still ends the VM, soon after its deadline.
#[test]
fn file_writes_blocked_on_a_host_fifo_do_not_outlast_the_timeout() {
    require_kvm();
    let hostile = image("tests/guests/hostile", false);
    let dir = scratch("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(dir.join("fifo"))
        .status()
        .expect("run mkfifo");
    assert!(made.success(), "mkfifo failed");
    let started = std::time::Instant::now();
    let mut child = kiln()
        .args(["run", "--timeout", "300ms", "-v"])
        .arg(format!("{}:/data", dir.display()))
        .arg(&hostile)
        .args(["--", "file-fifo-writes", "fifo"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run kiln");
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for kiln") {
            break Some(status);
        }
        if started.elapsed() > std::time::Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let _ = std::fs::remove_dir_all(&dir);
    let status = status.expect("kiln was still running 10 s after a 300 ms --timeout");
    assert_eq!(status.code(), Some(code::TIMEOUT), "{status:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

/// A guest whose image file lies in one of its read-write volumes cannot
/// write to it or cut it short (`ETXTBSY`, as for a running executable):
/// the monitor maps the image and reads it for crash reports, and a file
/// shrunk under that mapping would crash the monitor.
#[test]
fn file_the_running_image_cannot_be_truncated_through_a_volume() {
    let dir = scratch("own-image");
    let copy = dir.join("hostile");
    std::fs::copy(image("tests/guests/hostile", false), &copy).expect("copy the image");
    let size = std::fs::metadata(&copy).expect("image").len();
    let run = run_image(
        &copy,
        &["-v", &format!("{}:/data", dir.display())],
        &["file-truncate-own-image", "hostile"],
    );
    let after = std::fs::metadata(&copy).expect("image").len();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(run.code, code::PANIC, "{}", run.stderr);
    assert!(
        run.stderr
            .starts_with("guest panicked: after truncating the image"),
        "{}",
        run.stderr
    );
    assert_eq!(
        run.stdout,
        "open 0o1001: -26\nopen 0o2: -26\nopen 0o1000: -26\n"
    );
    assert_eq!(after, size, "the image changed on the host");
}

#[test]
fn hypercall_with_a_byte_access() {
    violation("byte-access", "used a 1-byte access");
}

#[test]
fn panic_message_outside_memory() {
    violation(
        "panic-outside",
        "Panic hypercall: 0x8 bytes at guest address",
    );
}

#[test]
fn panic_message_too_long() {
    violation("panic-huge", "exceeds the limit of 4096 bytes");
}

#[test]
fn port_outside_the_hypercall_range_faults_in_the_guest() {
    let hostile = image("tests/guests/hostile", false);
    let run = run_image(&hostile, &[], &["foreign-port"]);
    assert_eq!(run.code, code::FAULT, "{}", run.stderr);
    assert!(
        run.stderr.starts_with("guest general protection fault"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("  in hostile::out32\n"),
        "{}",
        run.stderr
    );
}

/// Random hypercalls with random argument blocks (fixed seeds, so a failure
/// reproduces): whatever the guest passes, the monitor ends it in one of its
/// defined ways and never panics.
#[test]
fn random_hypercalls_never_panic_the_monitor() {
    let hostile = image("tests/guests/hostile", false);
    let mut violations = 0;
    for seed in 1..=150 {
        let seed = seed.to_string();
        let run = run_image(&hostile, &["--timeout", "1s"], &["random", &seed]);
        assert!(
            !run.stderr.contains("' panicked at"),
            "seed {seed}: the monitor panicked:\n{}",
            run.stderr
        );
        assert_ne!(run.code, code::HOST, "seed {seed}:\n{}", run.stderr);
        assert!(
            !run.stderr.contains('\x1b') && !run.stderr.contains('\0'),
            "seed {seed}: raw control characters from the guest reached stderr"
        );
        if run.code == code::VIOLATION {
            violations += 1;
            run.assert_clean_error(code::VIOLATION, "breaking the hypercall ABI");
        }
    }
    assert!(
        violations > 0,
        "no random call broke the ABI: nothing was tested"
    );
}
