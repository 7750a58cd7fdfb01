//! The files programs expect of the system and the host name:
//! `tests/guests/std-devfiles` prints device nodes' status and answers,
//! `/proc/self/fd` links, `/proc` and `/etc` files, `uname` and
//! `gethostname`; run natively and under Kiln it must print the same.
//! Then what only a Kiln guest answers: no terminal, read-only system
//! files, one vCPU, its own memory, `--hostname`.

mod common;

use common::{image, run_image, run_native};

const GUEST: &str = "tests/guests/std-devfiles";

fn host_file(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

#[test]
fn system_files_answer_as_on_linux() {
    let native = run_native(GUEST, &[], b"");
    assert_eq!(native.code, 0, "native run failed: {}", native.stderr);
    let kiln = run_image(&image(GUEST, false), &[], &[]);
    assert_eq!(kiln.code, 0, "Kiln run failed: {}", kiln.stderr);
    assert_eq!(
        kiln.stdout, native.stdout,
        "Kiln's answers differ from Linux's"
    );
    assert!(native.stdout.lines().count() > 40, "{}", native.stdout);
    assert!(
        native
            .stdout
            .contains("/dev/null: char true mode 666 rdev 1,3"),
        "{}",
        native.stdout
    );
}

#[test]
fn the_host_name_is_the_one_given() {
    let expected = "the-host_name.1";
    let kiln = run_image(
        &image(GUEST, false),
        &["--hostname", expected],
        &["names", expected],
    );
    let all_true = "gethostname is it: true\nuname nodename is it: true\n\
                    /proc/sys/kernel/hostname is it: true\n";
    assert_eq!(
        (kiln.code, kiln.stdout.as_str()),
        (0, all_true),
        "{}",
        kiln.stderr
    );
    // The same checks hold on Linux for its own name.
    let host = host_file("/proc/sys/kernel/hostname");
    let native = run_native(GUEST, &["names", host.trim_end()], b"");
    assert_eq!(native.stdout, all_true, "{}", native.stderr);

    let file = run_image(
        &image(GUEST, false),
        &["--hostname", expected],
        &["cat", "/etc/hostname"],
    );
    assert_eq!(file.stdout, format!("{expected}\n"), "{}", file.stderr);
    let hosts = run_image(
        &image(GUEST, false),
        &["--hostname", expected],
        &["cat", "/etc/hosts"],
    );
    assert!(
        hosts.stdout.starts_with("127.0.0.1\tlocalhost\n")
            && hosts.stdout.contains(&format!("127.0.1.1\t{expected}\n")),
        "{}",
        hosts.stdout
    );
}

#[test]
fn a_foreground_run_is_named_after_its_program() {
    let kiln = run_image(&image(GUEST, false), &[], &["cat", "/etc/hostname"]);
    let name = kiln.stdout.trim_end();
    let suffix = name.strip_prefix("std-devfiles-").unwrap_or_default();
    assert!(
        suffix.len() == 6 && suffix.chars().all(|c| c.is_ascii_hexdigit()),
        "{name:?} is not the program's name and six hex digits ({})",
        kiln.stderr
    );
    let again = run_image(&image(GUEST, false), &[], &["cat", "/etc/hostname"]);
    assert_ne!(again.stdout.trim_end(), name, "two runs got one name");
}

#[test]
fn bad_host_names_are_usage_errors() {
    let long = "a".repeat(65);
    for bad in ["", "-leading-dash", "has space", "slash/y", long.as_str()] {
        let run = run_image(&image(GUEST, false), &[&format!("--hostname={bad}")], &[]);
        run.assert_clean_error(common::code::USAGE, "invalid value");
        assert!(run.stderr.contains("--hostname"), "{}", run.stderr);
    }
    let longest = "a".repeat(64);
    let run = run_image(
        &image(GUEST, false),
        &["--hostname", &longest],
        &["names", &longest],
    );
    assert!(
        run.stdout.contains("gethostname is it: true"),
        "{}",
        run.stderr
    );
}

#[test]
fn kiln_has_no_terminal_its_vcpus_its_own_memory_and_read_only_system_files() {
    let kiln = run_image(
        &image(GUEST, false),
        &["--memory", "16M", "--cpus", "2"],
        &["kiln"],
    );
    assert_eq!(kiln.code, 0, "{}", kiln.stderr);
    let host_vendor = host_file("/proc/cpuinfo")
        .lines()
        .find(|l| l.starts_with("vendor_id"))
        .expect("the host's vendor_id")
        .to_string();
    let lines: Vec<&str> = kiln.stdout.lines().collect();
    let expected_start = [
        // As in a container started without a terminal.
        "/dev/tty: errno 6",
        // EACCES, as for a program without privileges.
        "write /proc/meminfo: errno 13",
        // EROFS: generated files are read-only, like baked ones.
        "write /etc/hostname: errno 30",
        "remove /dev/null: errno 30",
        "cpuinfo processors: 2",
        &format!("cpuinfo {host_vendor}"),
        &format!("cpuinfo {host_vendor}"),
        "meminfo MemTotal:          16384 kB",
    ];
    assert_eq!(
        &lines[..expected_start.len()],
        &expected_start,
        "{}",
        kiln.stdout
    );
    let free: u64 = lines[expected_start.len()]
        .strip_prefix("meminfo MemFree:")
        .and_then(|rest| rest.trim().strip_suffix(" kB"))
        .and_then(|kb| kb.trim().parse().ok())
        .unwrap_or_else(|| panic!("a MemFree line: {}", kiln.stdout));
    assert!(free > 0 && free < 16384, "MemFree {free} kB");
    assert!(
        kiln.stdout.contains("release: 6.1.0-kiln\n"),
        "{}",
        kiln.stdout
    );
    // EPERM, as in a container without CAP_SYS_ADMIN.
    assert!(
        kiln.stdout.contains("sethostname: -1 errno 1\n"),
        "{}",
        kiln.stdout
    );
    // Baked /etc/group, generated others, merged in one listing; no
    // resolv.conf without a DNS server.
    assert!(
        kiln.stdout
            .contains("/etc lists: [\"group\", \"hostname\", \"hosts\", \"passwd\"]\n"),
        "{}",
        kiln.stdout
    );
    let group = run_image(&image(GUEST, false), &[], &["cat", "/etc/group"]);
    assert_eq!(
        group.stdout,
        host_file(&format!("{}/{GUEST}/baked/group", common::root().display()))
    );
}

#[test]
fn resolv_conf_names_the_dns_server_and_hosts_the_address() {
    let kiln = run_image(
        &image(GUEST, false),
        &["--net", "user", "--dns", "192.0.2.53"],
        &["cat", "/etc/resolv.conf"],
    );
    assert_eq!(
        (kiln.code, kiln.stdout.as_str()),
        (0, "nameserver 192.0.2.53\n"),
        "{}",
        kiln.stderr
    );
    let hosts = run_image(
        &image(GUEST, false),
        &["--net", "user", "--hostname", "web"],
        &["cat", "/etc/hosts"],
    );
    assert!(
        hosts.stdout.ends_with("\n10.0.2.15\tweb\n"),
        "{}",
        hosts.stdout
    );
    let without = run_image(&image(GUEST, false), &[], &["cat", "/etc/resolv.conf"]);
    assert_eq!(without.stdout, "/etc/resolv.conf: errno 2\n");
}
