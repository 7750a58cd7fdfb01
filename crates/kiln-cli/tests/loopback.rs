//! Loopback networking in a VM started without a network device: the
//! library OS runs its stack on the loopback alone, as Linux does in a
//! network namespace with only `lo` up. The same program run natively in
//! such a namespace prints exactly the same. Unix-domain stream sockets,
//! which live in the program too, are compared with Linux here as well.

mod common;

use common::{image, in_namespace, ip, run_image, run_native};

const GUEST: &str = "tests/guests/std-loopback";

#[test]
fn loopback_works_without_a_network_device_as_with_only_lo_on_linux() {
    let test = "loopback_works_without_a_network_device_as_with_only_lo_on_linux";
    let image = image(GUEST, false);
    if !in_namespace(test, &["--net"]) {
        return;
    }
    ip(&[&["link", "set", "lo", "up"]]);
    assert_prints_as_linux(
        GUEST,
        &image,
        &[
            "tcp 127.0.0.1: 262144 bytes back intact: true, then \"echoed 262144\"",
            "tcp ::1: server sees peer ::1 local ::1, ports match: true",
            "udp 127.0.0.1: received 65507 bytes",
            "closed port 127.0.0.1: ConnectionRefused (111)",
            "connect 10.1.2.3:80: NetworkUnreachable (101)",
            "epoll add ready ::1: connect InProgress (115), ctl 0, epoll 1 events 0x4 token 9",
            "tokio ::1: 20 of 20 rounds echoed",
        ],
    );
}

/// Runs the program natively (which must print each of `lines`), then its
/// image with no network flags and the default memory limit, as a user runs
/// it: the same output.
fn assert_prints_as_linux(dir: &str, image: &std::path::Path, lines: &[&str]) {
    let linux = run_native(dir, &[], b"");
    assert_eq!(linux.code, 0, "natively: {}", linux.stderr);
    for line in lines {
        assert!(linux.stdout.contains(line), "{line:?} in {}", linux.stdout);
    }
    let run = run_image(image, &["--timeout", "120s"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, linux.stdout);
}

#[test]
fn unix_domain_stream_sockets_answer_as_on_linux() {
    const UNIX: &str = "tests/guests/std-unix";
    let image = image(UNIX, false);
    assert_prints_as_linux(
        UNIX,
        &image,
        &[
            "bound: a socket file: true",
            "server read \"ping!\", client read \"pong\", then 300000 bytes of 7 and end of file",
            "connect to a regular file: ConnectionRefused (111)",
            "tokio: 10 of 10 echoed",
        ],
    );
}
