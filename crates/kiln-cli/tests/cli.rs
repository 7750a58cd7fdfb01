//! The command line: flags, environment, timeouts, the boot timeline,
//! `inspect` and `build`, and their errors.

mod common;

use common::{Run, assert_near_host_clock, code, image, kiln, require_kvm, root, run_image};

fn kiln_run(args: &[&str]) -> Run {
    require_kvm();
    kiln().args(args).output().expect("run kiln").into()
}

#[test]
fn unknown_flag_is_a_one_line_usage_error() {
    let run = kiln_run(&["run", "--frobnicate", "x"]);
    run.assert_clean_error(code::USAGE, "--frobnicate");
}

#[test]
fn bad_memory_values_are_usage_errors() {
    for (value, needle) in [
        ("lots", "not a size"),
        ("8X", "unknown unit"),
        ("3M", "multiple of 2 MiB"),
        ("1M", "multiple of 2 MiB"),
        ("64G", "multiple of 2 MiB"),
    ] {
        let run = kiln_run(&["run", "--memory", value, "x"]);
        run.assert_clean_error(code::USAGE, needle);
    }
}

#[test]
fn bad_env_and_timeout_are_usage_errors() {
    let hello = image("examples/hello", false);
    let run = run_image(&hello, &["-e", "=oops"], &[]);
    run.assert_clean_error(code::USAGE, "invalid --env");
    let run = kiln_run(&["run", "--timeout", "soon", "x"]);
    run.assert_clean_error(code::USAGE, "not a duration");
}

#[test]
fn bad_volumes_are_usage_errors() {
    let dir = std::env::temp_dir();
    let host = dir.to_str().expect("a UTF-8 temporary directory");
    for (value, needle) in [
        ("data".to_string(), "expected HOST_DIR:GUEST_DIR[:ro]"),
        (":/data".to_string(), "the host directory is empty"),
        (format!("{host}:"), "the guest path is empty"),
        (format!("{host}:data"), "the guest path must be absolute"),
        (format!("{host}:/"), "the guest path cannot be /"),
        (format!("{host}:/data:rx"), "unknown option 'rx'"),
        (
            "/nonexistent/kiln-volume:/data".to_string(),
            "/nonexistent/kiln-volume: No such file or directory",
        ),
    ] {
        // Checked before the image is even looked at.
        let run = kiln_run(&["run", "-v", &value, "no-such-image"]);
        run.assert_clean_error(
            code::USAGE,
            &format!("invalid --volume '{value}': {needle}"),
        );
    }
    let first = format!("{host}:/data");
    let second = format!("{host}:/data/:ro");
    let run = kiln_run(&["run", "-v", &first, "--volume", &second, "no-such-image"]);
    run.assert_clean_error(code::USAGE, "/data is already a volume's guest path");
}

#[test]
fn bare_kiln_prints_help_and_fails() {
    let run = kiln_run(&[]);
    assert_eq!(run.code, code::USAGE);
    assert!(run.stderr.contains("Usage: kiln"), "{}", run.stderr);
}

#[test]
fn image_needing_more_memory_than_given() {
    let big = image("tests/guests/big", false);
    let run = run_image(&big, &["--memory", "4M"], &[]);
    run.assert_clean_error(
        code::IMAGE,
        "needs at least 6 MiB of guest memory; --memory gives 4 MiB",
    );
}

#[test]
fn bss_spanning_page_tables_is_zeroed_and_writable() {
    let big = image("tests/guests/big", false);
    let run = run_image(&big, &["--memory", "6M"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let expected: u64 = (0..768u64).map(|i| i % 256).sum();
    assert_eq!(run.stdout, format!("zeroed=true sum={expected}\n"));
}

#[test]
fn arguments_and_environment_reach_the_guest() {
    let probe = image("tests/guests/probe", false);
    require_kvm();
    let run: Run = kiln()
        .args([
            "run",
            "-e",
            "GREETING=hi there",
            "-e",
            "FROM_HOST",
            "-e",
            "UNSET_ON_HOST",
        ])
        .arg(&probe)
        .args(["--", "env", "--not-a-kiln-flag"])
        .env("FROM_HOST", "host value")
        .env_remove("UNSET_ON_HOST")
        .output()
        .expect("run kiln")
        .into();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "arg[0]=probe\narg[1]=env\narg[2]=--not-a-kiln-flag\n\
         env GREETING=hi there\nenv FROM_HOST=host value\nvar GREETING=Some(\"hi there\")\n"
    );
}

#[test]
fn clocks_are_monotonic_and_near_the_host() {
    let probe = image("tests/guests/probe", false);
    let run = run_image(&probe, &[], &["clock"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let value = |key: &str| {
        run.stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("no {key} in {}", run.stdout))
            .to_string()
    };
    assert_near_host_clock(value("unix_seconds").parse().expect("seconds"));
    assert_eq!(value("monotonic_ok"), "true");
    let slept: u64 = value("slept_ms").parse().expect("ms");
    assert!((20..200).contains(&slept), "slept {slept} ms");
}

#[test]
fn the_heap_works() {
    let probe = image("tests/guests/probe", false);
    let run = run_image(&probe, &[], &["heap"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let expected: u64 = (0..64u64)
        .map(|i| (0..1024u64).map(|j| i * j).sum::<u64>())
        .sum();
    assert_eq!(run.stdout, format!("heap sum={expected} text=kilnheapok\n"));
}

#[test]
fn timeout_stops_a_spinning_guest() {
    let probe = image("tests/guests/probe", false);
    let started = std::time::Instant::now();
    let run = run_image(&probe, &["--timeout", "300ms"], &["spin"]);
    run.assert_clean_error(code::TIMEOUT, "still running after --timeout");
    let elapsed = started.elapsed();
    assert!(
        elapsed.as_millis() >= 300 && elapsed.as_secs() < 5,
        "{elapsed:?}"
    );
}

/// A timeout shorter than the timer's microsecond is not "no timeout".
#[test]
fn a_zero_timeout_stops_the_guest_at_once() {
    let probe = image("tests/guests/probe", false);
    let started = std::time::Instant::now();
    let mut child = kiln()
        .args(["run", "--timeout", "0"])
        .arg(&probe)
        .args(["--", "spin"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run kiln");
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for kiln") {
            break Some(status);
        }
        if started.elapsed() > std::time::Duration::from_secs(5) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let status = status.expect("the guest still ran 5 s after --timeout 0");
    assert_eq!(status.code(), Some(code::TIMEOUT), "{status:?}");
}

#[test]
fn timeout_stops_a_guest_blocked_forever() {
    let probe = image("tests/guests/probe", false);
    let run = run_image(&probe, &["--timeout", "200ms"], &["block-forever"]);
    run.assert_clean_error(code::TIMEOUT, "still running after --timeout");
}

#[test]
fn verbose_prints_the_boot_timeline_and_exits() {
    let hello = image("examples/hello", true);
    let run = run_image(&hello, &["--verbose"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "Hello from Kiln!\n");
    for line in [
        "monitor setup done",
        "guest first insn",
        "guest main",
        "guest ended",
    ] {
        assert!(run.stderr.contains(line), "{line} missing:\n{}", run.stderr);
    }
    // Hello costs the exit alone: its line leaves through the console's
    // ring, which the monitor empties when the VM ends.
    assert!(
        run.stderr.contains("kiln: 1 exits: exit 1\n"),
        "{}",
        run.stderr
    );
}

#[test]
fn console_output_costs_no_exit_per_line() {
    let probe = image("tests/guests/probe", false);
    let run = run_image(&probe, &["--verbose"], &["print-many"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 1000);
    assert!(run.stdout.ends_with("line 999\n"));
    assert!(!run.stderr.contains("console write"), "{}", run.stderr);
}

#[test]
fn inspect_shows_abi_entry_sections_and_services() {
    let hello = image("examples/hello", true);
    let run = kiln_run(&["inspect", hello.to_str().expect("utf-8 path")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let version = format!("Kiln ABI version {}", kiln_abi::ABI_VERSION);
    for needle in [
        version.as_str(),
        "services:  console, alloc, time",
        ".text",
        ".rodata",
        ".eh_frame",
        "traps:     stub table at 0x",
    ] {
        assert!(
            run.stdout.contains(needle),
            "{needle} missing:\n{}",
            run.stdout
        );
    }
    // Past the ELF headers, which open the text segment at the image's base.
    let entry = run
        .stdout
        .lines()
        .find_map(|line| line.strip_prefix("entry:"))
        .and_then(|entry| entry.trim().strip_suffix(" _start"))
        .and_then(|address| u64::from_str_radix(address.trim_start_matches("0x"), 16).ok());
    let base = kiln_abi::layout::IMAGE_BASE;
    assert!(
        entry.is_some_and(|entry| (base..base + 4096).contains(&entry)),
        "entry not at _start in the image's first page:\n{}",
        run.stdout
    );
}

#[test]
fn an_image_holds_only_the_services_its_program_enables() {
    let minimal = image("tests/guests/minimal", true);
    let run = kiln_run(&["inspect", minimal.to_str().expect("utf-8 path")]);
    assert!(
        run.stdout.contains("services:  console\n"),
        "{}",
        run.stdout
    );
    let bytes = std::fs::read(&minimal).expect("read image");
    let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(!has(b"talc"), "the allocator was linked in");
    let run = run_image(&minimal, &[], &[]);
    assert_eq!((run.code, run.stdout.as_str()), (0, "minimal\n"));
}

#[test]
fn build_errors_are_clear() {
    let run = kiln_run(&["build", "/nonexistent/crate"]);
    run.assert_clean_error(code::BUILD, "has no Cargo.toml");

    let dir = std::env::temp_dir().join(format!("kiln-two-bins-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("src/bin")).expect("temp crate");
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"two\"\nversion = \"0.1.0\"\nedition = \"2024\"\n[workspace]\n",
    )
    .expect("manifest");
    for bin in ["a", "b"] {
        std::fs::write(dir.join(format!("src/bin/{bin}.rs")), "fn main() {}\n").expect("bin");
    }
    let run = kiln_run(&["build", dir.to_str().expect("utf-8 path")]);
    run.assert_clean_error(code::BUILD, "several binaries (a, b); pick one with --bin");
    let run = kiln_run(&["build", "--bin", "c", dir.to_str().expect("utf-8 path")]);
    run.assert_clean_error(code::BUILD, "has no binary named c");
}

#[test]
fn run_builds_a_crate_directory_first() {
    let dir = root().join("examples/exit-code");
    let dir = dir.to_str().expect("utf-8 path");
    let run = kiln_run(&["run", dir, "--", "3"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    // Piped, a quiet build reports each crate it compiles in a plain line.
    assert!(
        run.stderr
            .lines()
            .all(|l| l.starts_with("kiln: building exit-code: compiled ")),
        "only progress lines: {}",
        run.stderr
    );
    let again = kiln_run(&["run", dir, "--", "3"]);
    assert_eq!(again.code, 3, "{}", again.stderr);
    assert_eq!(
        again.stderr, "",
        "a quiet build prints nothing when it is up to date"
    );
}

#[test]
fn the_monitor_runs_the_guest_under_seccomp() {
    let probe = image("tests/guests/probe", false);
    require_kvm();
    let mut child = kiln()
        .args(["run", "--timeout", "5s"])
        .arg(&probe)
        .args(["--", "block-forever"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start kiln");
    let status_file = format!("/proc/{}/status", child.id());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    let mut mode = String::new();
    while std::time::Instant::now() < deadline {
        let status = std::fs::read_to_string(&status_file).unwrap_or_default();
        mode = status
            .lines()
            .find_map(|l| l.strip_prefix("Seccomp:"))
            .unwrap_or_default()
            .trim()
            .to_string();
        if mode == "2" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().expect("stop kiln");
    child.wait().expect("reap kiln");
    assert_eq!(mode, "2", "the monitor should be in seccomp filter mode");
}

#[test]
fn a_closed_stdout_does_not_crash_kiln() {
    let probe = image("tests/guests/probe", false);
    require_kvm();
    let mut child = kiln()
        .arg("run")
        .arg(&probe)
        .args(["--", "print-many"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start kiln");
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("wait for kiln");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_network_flags_are_usage_errors() {
    for (flags, needle) in [
        (
            &["-p", "80"][..],
            "invalid --publish '80': expected [HOST_IP:]HOST_PORT:GUEST_PORT",
        ),
        (
            &["-p", "8080:0"],
            "invalid --publish '8080:0': '0' is not a port",
        ),
        (&["--publish", "99999:80"], "'99999' is not a port"),
        (&["-p", "8080:80/sctp"], "unknown protocol 'sctp'"),
        (&["-p", "nohost:8080:80"], "'nohost' is not an IP address"),
        (
            &["-p", "8080:80", "-p", "8080:81"],
            "host port 8080/tcp is published twice",
        ),
        (
            &["--net", "bridge"],
            "unknown --net 'bridge': expected user, ports, tap:NAME or none",
        ),
        (
            &["--net", "ports", "-p", "8080:80", "--dns", "10.0.2.3"],
            "--net ports only publishes ports",
        ),
        (&["--net", "tap:"], "--net tap needs a device name"),
        (
            &["--net", "none", "-p", "8080:80"],
            "--net none gives the guest no network",
        ),
        (
            &["--net", "tap:lo", "-p", "8080:80"],
            "--publish needs user-mode networking",
        ),
        (
            &["--net", "user", "--ip", "10.0.0.2/24"],
            "user mode's addresses are fixed",
        ),
        (
            &["--ip", "10.0.0.2/24"],
            "--ip, --gateway and --mac need --net tap:NAME",
        ),
        (
            &["--mac", "0a:58:0a:00:00:02"],
            "--ip, --gateway and --mac need --net tap:NAME",
        ),
        (
            &["--net", "tap:lo", "--mac", "01:00:5e:00:00:01"],
            "invalid --mac '01:00:5e:00:00:01'",
        ),
    ] {
        // Checked before the image is even looked at.
        let mut args = vec!["run"];
        args.extend_from_slice(flags);
        args.push("no-such-image");
        kiln_run(&args).assert_clean_error(code::USAGE, needle);
    }
}

#[test]
fn a_missing_passt_says_how_to_install_it() {
    require_kvm();
    let run: Run = kiln()
        .args(["run", "-p", "8080:80", "no-such-image"])
        .env("PATH", "/nonexistent")
        .output()
        .expect("run kiln")
        .into();
    run.assert_clean_error(code::USAGE, "passt is not installed: apt install passt");
}

#[test]
fn guest_arguments_before_the_separator_get_a_hint() {
    let run = kiln_run(&["run", "app", "arg"]);
    run.assert_clean_error(code::USAGE, "unexpected argument 'arg'");
    assert!(
        run.stderr.contains(
            "the program's arguments go after '--': 'kiln run [OPTIONS] <TARGET> -- arg'"
        ),
        "{}",
        run.stderr
    );
    // A misspelt flag is not a guest argument: clap's own words only.
    let run = kiln_run(&["run", "--no-such-flag", "app"]);
    run.assert_clean_error(code::USAGE, "--no-such-flag");
    assert!(!run.stderr.contains("go after"), "{}", run.stderr);
}

#[test]
fn a_missing_tap_device_is_an_unavailable_resource_not_a_usage_error() {
    kiln_run(&["run", "--net", "tap:kilnnosuch0", "no-such-image"])
        .assert_clean_error(code::UNAVAILABLE, "no TAP device kilnnosuch0");
}

#[test]
fn a_published_port_in_use_is_a_clear_error() {
    let hello = image("examples/hello", false);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("address").port();
    let publish = format!("127.0.0.1:{port}:80");
    let run = run_image(&hello, &["-p", &publish], &[]);
    run.assert_clean_error(
        code::UNAVAILABLE,
        &format!("host port 127.0.0.1:{port}/tcp is already in use"),
    );
}

#[test]
fn a_guest_with_a_network_device_runs_and_passt_goes_with_it() {
    let hello = image("examples/hello", false);
    // A free port: bound and released. Another process's connection may
    // take it as its local port before passt binds it: then another one.
    let (port, run) = (0..5)
        .map(|_| {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let publish = format!("127.0.0.1:{port}:80");
            (
                port,
                run_image(&hello, &["-p", &publish, "--timeout", "10s"], &[]),
            )
        })
        .find(|(_, run)| !run.stderr.contains("is already in use"))
        .expect("a free port within five tries");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("Hello"), "{}", run.stdout);
    assert_eq!(run.stderr, "", "no noise from passt");
    // passt exits when the monitor does, releasing the port.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "passt still holds port {port} after kiln exited"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
