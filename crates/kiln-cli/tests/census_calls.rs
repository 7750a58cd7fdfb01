//! The C functions the census found real programs missing (bat's termios
//! and terminal names, miniserve's interfaces, notify's inotify):
//! `tests/guests/std-census-calls` prints each answer. Off a terminal, and
//! on a fresh pseudo-terminal as stdin, a Kiln run must print what Linux
//! does; then what only a Kiln guest answers: a terminal it cannot change
//! or name, its own interfaces, no inotify.

mod common;

use std::process::Stdio;

use common::{
    Run, free_port, image, kiln, native_command, pseudo_terminal, require_kvm, run_image,
    run_native,
};

const GUEST: &str = "tests/guests/std-census-calls";

#[test]
fn terminal_and_interface_functions_answer_as_on_linux() {
    let native = run_native(GUEST, &[], b"");
    assert_eq!(native.code, 0, "native run failed: {}", native.stderr);
    let kiln = run_image(&image(GUEST, false), &[], &[]);
    assert_eq!(kiln.code, 0, "Kiln run failed: {}", kiln.stderr);
    assert_eq!(
        kiln.stdout, native.stdout,
        "Kiln's answers differ from Linux's"
    );
    assert!(native.stdout.lines().count() > 150, "{}", native.stdout);
    for expected in [
        "pipe tcgetattr: -1 errno 25\n",
        "closed tcgetattr: -1 errno 9\n",
        "cfsetspeed 115200: 0\n",
        "if_nametoindex nosuch0: 0 errno 19\n",
        "lo flags 10049 addr 2:00007f0000010000000000000000",
        "htonl 0x4030201 htons 0x201 ntohl 0x4030201 ntohs 0x201\n",
    ] {
        assert!(
            native.stdout.contains(expected),
            "{expected:?} in\n{}",
            native.stdout
        );
    }
}

/// `kiln run GUEST -- mode` with a new pseudo-terminal as its stdin.
fn kiln_on_terminal(mode: &str) -> Run {
    require_kvm();
    let (_controller, terminal) = pseudo_terminal();
    kiln()
        .arg("run")
        .arg(image(GUEST, false))
        .args(["--", mode])
        .stdin(Stdio::from(terminal))
        .output()
        .expect("run kiln")
        .into()
}

/// The guest run natively with a new pseudo-terminal as its stdin.
fn native_on_terminal(mode: &str) -> Run {
    let (_controller, terminal) = pseudo_terminal();
    native_command(GUEST)
        .arg(mode)
        .stdin(Stdio::from(terminal))
        .output()
        .expect("run the native program")
        .into()
}

#[test]
fn a_terminal_stdin_has_a_new_terminals_settings() {
    let native = native_on_terminal("terminal");
    assert_eq!(native.code, 0, "native run failed: {}", native.stderr);
    let kiln = kiln_on_terminal("terminal");
    assert_eq!(kiln.code, 0, "Kiln run failed: {}", kiln.stderr);
    assert_eq!(
        kiln.stdout, native.stdout,
        "Kiln's answers differ from Linux's"
    );
    for expected in [
        "tcgetattr: 0\n",
        "stdin: iflag 2400 oflag 5 cflag 277 lflag 105073",
        "tcsetattr 0 as it is: 0\n",
        "tcsetattr 3 as it is: -1 errno 22\n",
        "TIOCGWINSZ: 0 rows 0 cols 0",
        "isatty: 1\n",
    ] {
        assert!(
            native.stdout.contains(expected),
            "{expected:?} in\n{}",
            native.stdout
        );
    }
}

#[test]
fn the_host_terminal_cannot_be_changed_or_named_from_the_guest() {
    let native = native_on_terminal("terminal-changes");
    assert!(
        native
            .stdout
            .starts_with("tcsetattr raw: 0\nttyname_r: 0\n"),
        "{}",
        native.stdout
    );
    let kiln = kiln_on_terminal("terminal-changes");
    assert_eq!(
        (kiln.code, kiln.stdout.as_str()),
        (
            0,
            "tcsetattr raw: -1 errno 1\nttyname_r: 19\nttyname: null true errno 19\n"
        ),
        "{}",
        kiln.stderr
    );
}

#[test]
fn without_a_network_device_only_lo_is_listed() {
    let kiln = run_image(&image(GUEST, false), &[], &["interfaces"]);
    assert_eq!(kiln.code, 0, "{}", kiln.stderr);
    let expected = "getifaddrs: 0\n\
        lo flags 10049 addr 17:000001000000040300060000000000000000 netmask null \
        broadaddr 17:000001000000040300060000000000000000 data true\n\
        lo flags 10049 addr 2:00007f0000010000000000000000 netmask 2:0000ff0000000000000000000000 \
        broadaddr 2:00007f0000010000000000000000 data false\n\
        lo flags 10049 addr 10:0000000000000000000000000000000000000000000100000000 \
        netmask 10:000000000000ffffffffffffffffffffffffffffffff00000000 broadaddr null data false\n\
        entries listed in order: true (some: true)\n\
        if_nameindex: 1 lo\n\
        if_nameindex has lo at 1: true, ends with a null name: true\n\
        if_nametoindex eth0: 0 errno 19\n\
        if_indextoname 2: null errno 6\n";
    assert_eq!(kiln.stdout, expected);
}

#[test]
fn the_network_device_is_eth0_with_the_guests_address() {
    let port = free_port().to_string();
    let kiln = run_image(
        &image(GUEST, false),
        &["--net", "ports", "-p", &format!("{port}:80")],
        &["interfaces"],
    );
    assert_eq!(kiln.code, 0, "{}", kiln.stderr);
    // Index 2, ARPHRD_ETHER, MAC 52:54:00:12:34:56; 10.0.2.15/24,
    // broadcast 10.0.2.255; no IPv6 address on the link.
    let eth0 = "eth0 flags 11043 addr 17:000002000000010000065254001234560000 netmask null \
        broadaddr 17:00000200000001000006ffffffffffff0000 data true\n";
    let eth0_ipv4 = "eth0 flags 11043 addr 2:00000a00020f0000000000000000 \
        netmask 2:0000ffffff000000000000000000 broadaddr 2:00000a0002ff0000000000000000 data false\n";
    for expected in [
        eth0,
        eth0_ipv4,
        "if_nameindex: 1 lo\nif_nameindex: 2 eth0\n",
        "if_nametoindex eth0: 2 errno 0\nif_indextoname 2: eth0\n",
        "entries listed in order: true",
    ] {
        assert!(
            kiln.stdout.contains(expected),
            "{expected:?} in\n{}",
            kiln.stdout
        );
    }
    assert_eq!(
        kiln.stdout.matches("eth0 flags").count(),
        2,
        "{}",
        kiln.stdout
    );
}

#[test]
fn inotify_reports_the_changes_linux_reports() {
    let native = run_native(GUEST, &["inotify"], b"");
    assert_eq!(native.code, 0, "native run failed: {}", native.stderr);
    let kiln = run_image(&image(GUEST, false), &[], &["inotify"]);
    assert_eq!(kiln.code, 0, "Kiln run failed: {}", kiln.stderr);
    assert_eq!(
        kiln.stdout, native.stdout,
        "Kiln's events differ from Linux's"
    );
    for expected in [
        "  wd 1 CREATE \"a\" len 16\n  wd 1 OPEN \"a\" len 16\n  wd 1 MODIFY \"a\" len 16\n",
        "  wd 1 MOVED_TO \"d\" len 16 cookie matches: true\n",
        "blocked reader got 32 bytes: woken\n",
    ] {
        assert!(
            native.stdout.contains(expected),
            "{expected:?} in\n{}",
            native.stdout
        );
    }
}

#[test]
fn the_notify_crates_watcher_sees_what_it_sees_on_linux() {
    let native = run_native(GUEST, &["notify"], b"");
    assert_eq!(native.code, 0, "native run failed: {}", native.stderr);
    let kiln = run_image(&image(GUEST, false), &[], &["notify"]);
    assert_eq!(kiln.code, 0, "Kiln run failed: {}", kiln.stderr);
    assert_eq!(
        kiln.stdout, native.stdout,
        "Kiln's events differ from Linux's"
    );
    assert!(
        native.stdout.starts_with("Create(File) [\"f\"]\n")
            && native.stdout.contains("Remove(File)"),
        "{}",
        native.stdout
    );
}

#[test]
fn a_volume_cannot_be_watched_the_guests_own_files_can() {
    let host = tempfile_dir("inotify-volume");
    let volume = format!("{}:/data", host.display());
    let image = image(GUEST, false);
    for (path, expected) in [
        ("/data", "watch /data: -1 errno 95\n"),
        ("/tmp", "watch /tmp: 1\n"),
        ("/dev/null", "watch /dev/null: 1\n"),
        ("/proc/self/fd/1", "watch /proc/self/fd/1: -1 errno 95\n"),
    ] {
        let kiln = run_image(&image, &["-v", &volume], &["inotify-watch", path]);
        assert_eq!(
            (kiln.code, kiln.stdout.as_str()),
            (0, expected),
            "{}",
            kiln.stderr
        );
    }
    std::fs::remove_dir_all(&host).expect("remove the volume");
}

/// A new empty host directory for a volume.
fn tempfile_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("kiln-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).expect("create the volume");
    dir
}
