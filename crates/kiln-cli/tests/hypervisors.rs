//! The same images on QEMU's microvm machine, entered through PVH, with
//! KVM and with TCG: output, exit codes, threads, the memory map, crash
//! reports symbolized by `kiln run --hypervisor` and `kiln symbolize`, and
//! `http-hello` serving through `-p` on QEMU's user networking.

mod common;

use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{code, free_port, http_get, image, kiln, require_kvm, run_image, start_server};

/// Both of QEMU's accelerators, as `kiln run --hypervisor` names them.
const HYPERVISORS: [&str; 2] = ["qemu", "qemu-tcg"];

/// These tests need QEMU: without it they fail, loudly.
fn require_qemu() {
    require_kvm();
    let found = Command::new("qemu-system-x86_64")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "these tests boot images on QEMU: install qemu-system-x86 (.ci/run does)"
    );
}

/// `kiln run --hypervisor HYPERVISOR [flags] IMAGE -- ARGS`.
fn run_on(hypervisor: &str, image: &Path, flags: &[&str], args: &[&str]) -> common::Run {
    require_qemu();
    let flags: Vec<&str> = ["--hypervisor", hypervisor]
        .into_iter()
        .chain(flags.iter().copied())
        .collect();
    run_image(image, &flags, args)
}

#[test]
fn hello_prints_its_arguments_and_exits_zero() {
    let hello = image("examples/hello", false);
    for hypervisor in HYPERVISORS {
        let run = run_on(hypervisor, &hello, &[], &["one", "two"]);
        assert_eq!(run.code, 0, "{hypervisor}: {}", run.stderr);
        assert_eq!(
            run.stdout, "Hello from Kiln!\narg 1: one\narg 2: two\n",
            "{hypervisor}"
        );
        assert_eq!(run.stderr, "", "{hypervisor}");
    }
}

#[test]
fn inspect_names_both_platforms() {
    let hello = image("examples/hello", false);
    let output = kiln()
        .arg("inspect")
        .arg(&hello)
        .output()
        .expect("kiln inspect");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    assert!(
        text.contains(
            "platforms: Kiln monitor; PVH (QEMU microvm, Firecracker, Cloud Hypervisor), entry 0x"
        ),
        "{text}"
    );
}

#[test]
fn exit_statuses_pass_through_whole() {
    let exit_code = image("examples/exit-code", false);
    for hypervisor in HYPERVISORS {
        // Above 127 too, which QEMU's isa-debug-exit alone cannot carry.
        for (arg, expected) in [("0", 0), ("7", 7), ("200", 200)] {
            let run = run_on(hypervisor, &exit_code, &[], &[arg]);
            assert_eq!(
                run.code, expected,
                "{hypervisor} exit-code {arg}: {}",
                run.stderr
            );
        }
    }
}

#[test]
fn environment_reaches_the_program() {
    let probe = image("tests/guests/probe", false);
    for hypervisor in HYPERVISORS {
        let run = run_on(hypervisor, &probe, &["-e", "GREETING=hello"], &["env"]);
        assert_eq!(run.code, 0, "{hypervisor}: {}", run.stderr);
        assert!(
            run.stdout.contains("arg[1]=env"),
            "{hypervisor}: {}",
            run.stdout
        );
        assert!(
            run.stdout.contains("env GREETING=hello"),
            "{hypervisor}: {}",
            run.stdout
        );
    }
}

#[test]
fn std_threads_run_as_on_kiln() {
    let threads = image("examples/std-threads", false);
    for hypervisor in HYPERVISORS {
        let run = run_on(hypervisor, &threads, &[], &[]);
        assert_eq!(run.code, 0, "{hypervisor}: {}", run.stderr);
        for line in [
            "channel total: 31996000 (expected 31996000)",
            "barrier: every thread saw [5, 5, 5, 5, 5]",
            "four 50 ms sleeps in parallel: overlapped",
            "thread-local destructors run: true",
        ] {
            assert!(
                run.stdout.contains(line),
                "{hypervisor}: no {line:?} in\n{}",
                run.stdout
            );
        }
    }
}

#[test]
fn the_memory_map_is_honoured() {
    let probe = image("tests/guests/probe", false);
    for hypervisor in HYPERVISORS {
        let run = run_on(hypervisor, &probe, &["-m", "64M"], &["memory", "40"]);
        assert_eq!(run.code, 0, "{hypervisor}: {}", run.stderr);
        assert!(
            run.stdout.contains("memory_mib=64\n"),
            "{hypervisor}: {}",
            run.stdout
        );
        assert!(
            run.stdout.contains("allocated 40 MiB, 10240 pages touched"),
            "{}",
            run.stdout
        );
        // More than the VM has: the allocation fails (as on Kiln's monitor),
        // no memory beyond the map is used.
        let run = run_on(hypervisor, &probe, &["-m", "64M"], &["memory", "80"]);
        assert_eq!(run.code, code::PANIC, "{hypervisor}: {}", run.stderr);
        assert!(
            run.stderr
                .contains("memory allocation of 83886080 bytes failed"),
            "{hypervisor}: {}",
            run.stderr
        );
        let run = run_on(hypervisor, &probe, &["-m", "128M"], &["memory", "80"]);
        assert_eq!(run.code, 0, "{hypervisor}: {}", run.stderr);
        assert!(
            run.stdout.contains("memory_mib=128\n"),
            "{hypervisor}: {}",
            run.stdout
        );
    }
}

#[test]
fn panics_and_faults_are_reported_symbolized() {
    let panic = image("examples/panic", false);
    let fault = image("examples/fault", false);
    for hypervisor in HYPERVISORS {
        let run = run_on(hypervisor, &panic, &[], &[]);
        assert_eq!(run.code, code::PANIC, "{hypervisor}: {}", run.stderr);
        assert!(
            run.stderr.starts_with("guest panicked at"),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains("the answer was 42"), "{}", run.stderr);
        assert!(
            run.stderr.contains("in panic::check_answer"),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains("panic/src/main.rs:"), "{}", run.stderr);
        assert!(!run.stdout.contains("kiln-crash:"), "{}", run.stdout);

        let run = run_on(hypervisor, &fault, &[], &["invalid-pointer"]);
        assert_eq!(run.code, code::FAULT, "{hypervisor}: {}", run.stderr);
        assert!(
            run.stderr
                .starts_with("guest page fault: read of unmapped address 0x7fffdead0000"),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr.contains("fault::read_invalid_pointer"),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn null_pointers_and_stack_overflows_fault_as_on_kiln() {
    let fault = image("examples/fault", false);
    for hypervisor in HYPERVISORS {
        let run = run_on(hypervisor, &fault, &[], &["null"]);
        assert_eq!(run.code, code::FAULT, "{hypervisor}: {}", run.stderr);
        assert!(
            run.stderr.starts_with(
                "guest page fault: read of unmapped address 0x0 (null pointer dereference)"
            ),
            "{hypervisor}: {}",
            run.stderr
        );
        let run = run_on(hypervisor, &fault, &[], &["stack-overflow"]);
        assert_eq!(run.code, code::FAULT, "{hypervisor}: {}", run.stderr);
        assert!(
            run.stderr
                .starts_with("guest stack overflow (guard page hit at 0x"),
            "{hypervisor}: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains("in fault::recurse"),
            "{hypervisor}: {}",
            run.stderr
        );
    }
}

/// The README's plain QEMU command line for `image`, with TCG.
fn plain_qemu(image: &Path, append: &str) -> std::process::Output {
    require_qemu();
    Command::new("qemu-system-x86_64")
        .args(["-M", "microvm,acpi=off", "-cpu", "max", "-m", "128M"])
        .args(["-nodefaults", "-no-user-config", "-nographic", "-no-reboot"])
        .args([
            "-serial",
            "stdio",
            "-device",
            "isa-debug-exit,iobase=0xf4,iosize=1",
        ])
        .arg("-kernel")
        .arg(image)
        .args(["-append", append])
        .output()
        .expect("run qemu")
}

#[test]
fn plain_qemu_boots_an_image_and_kiln_symbolize_reads_its_crash() {
    let hello = image("examples/hello", false);
    let output = plain_qemu(&hello, "-- hello x");
    // isa-debug-exit: (status << 1) | 1.
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "Hello from Kiln!\narg 1: x\n"
    );

    let fault = image("examples/fault", false);
    let output = plain_qemu(&fault, "-- fault invalid-pointer");
    assert_eq!(output.status.code(), Some((139 << 1 | 1) & 0xff));
    let console = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(console.contains("kiln-crash: trap e"), "{console}");
    let mut symbolize = kiln()
        .arg("symbolize")
        .arg(&fault)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run kiln symbolize");
    let mut stdin = symbolize.stdin.take().expect("stdin is piped");
    stdin
        .write_all(console.as_bytes())
        .expect("write the console log");
    drop(stdin);
    let output = symbolize.wait_with_output().expect("kiln symbolize");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{report}");
    assert!(
        report.starts_with("guest page fault: read of unmapped address 0x7fffdead0000"),
        "{report}"
    );
    assert!(report.contains("fault::read_invalid_pointer"), "{report}");
    assert!(report.contains("__kiln_main"), "{report}");
    assert!(!report.contains("kiln-crash:"), "{report}");
}

/// The README's plain line with its network lines, on TCG: the guest takes
/// its address from `ip=` (10.0.2.20 here, which QEMU's user networking
/// forwards to only when told) and serves through the `hostfwd`.
#[test]
fn plain_qemu_serves_http_at_the_address_ip_gives() {
    use std::io::BufRead;
    require_qemu();
    let http_hello = image("examples/http-hello", true);
    let port = free_port();
    let mut qemu = Command::new("qemu-system-x86_64")
        .args(["-M", "microvm,acpi=off", "-cpu", "max", "-m", "128M"])
        .args(["-nodefaults", "-no-user-config", "-nographic", "-no-reboot"])
        .args(["-serial", "stdio"])
        .args([
            "-netdev",
            &format!("user,id=net0,hostfwd=tcp:127.0.0.1:{port}-10.0.2.20:80"),
        ])
        .args(["-device", "virtio-net-device,netdev=net0"])
        .args(["-global", "virtio-mmio.force-legacy=false"])
        .arg("-kernel")
        .arg(&http_hello)
        .args([
            "-append",
            "ip=10.0.2.20::10.0.2.2:255.255.255.0::eth0:off -- http-hello",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run qemu");
    let console = qemu.stdout.take().expect("piped stdout");
    // QEMU is this test's own child: killed however the test ends.
    let _qemu = common::Server(qemu);
    let first = std::io::BufReader::new(console)
        .lines()
        .next()
        .and_then(Result::ok)
        .unwrap_or_default();
    assert_eq!(first, "http-hello: listening on port 80");
    let (status, body) = http_get(&mut connect(port), "/plain");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(body, "Hello from Kiln!\n");
}

#[test]
fn monitor_only_options_are_refused() {
    let hello = image("examples/hello", false);
    let run = run_on("qemu", &hello, &["-v", "/tmp:/data"], &[]);
    run.assert_clean_error(code::USAGE, "--hypervisor qemu");
    let run = run_on("qemu", &hello, &["--net", "user"], &[]);
    run.assert_clean_error(code::USAGE, "--net is not available with --hypervisor qemu");
    let run = run_on("qemu", &hello, &["-p", "8080"], &[]);
    run.assert_clean_error(code::USAGE, "invalid --publish '8080'");
}

/// `kiln run --hypervisor` serving: SIGTERM on drop, which stops QEMU
/// with it (`Server`'s SIGKILL would leave QEMU running after a failure).
struct Serving(common::Server);

impl Serving {
    /// Sends SIGTERM to `kiln run` and waits for it.
    fn stop(&mut self) -> std::process::ExitStatus {
        let child = &mut (self.0).0;
        let pid = rustix::process::Pid::from_child(child);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        child.wait().expect("wait for kiln run")
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A kept-alive connection to `port` on the loopback, which QEMU accepts
/// from its start (it forwards once the guest listens).
fn connect(port: u16) -> BufReader<TcpStream> {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to QEMU's hostfwd");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    BufReader::new(stream)
}

#[test]
fn http_hello_serves_through_published_ports_and_stops_cleanly() {
    let http_hello = image("examples/http-hello", true);
    for hypervisor in HYPERVISORS {
        require_qemu();
        let port = free_port();
        let publish = format!("{port}:80");
        let mut server = Serving(start_server(
            &http_hello,
            &["--hypervisor", hypervisor, "-p", &publish],
            "http-hello: listening on port 80",
        ));
        let mut stream = connect(port);
        for i in 0..5 {
            let (status, body) = http_get(&mut stream, &format!("/keep/{i}"));
            assert_eq!(status, "HTTP/1.1 200 OK", "{hypervisor}");
            assert_eq!(body, "Hello from Kiln!\n", "{hypervisor}");
        }
        // Several connections at once, each kept alive.
        let clients: Vec<_> = (0..4)
            .map(|c| {
                std::thread::spawn(move || {
                    let mut stream = connect(port);
                    (0..5)
                        .map(|i| http_get(&mut stream, &format!("/client/{c}/{i}")).1)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for client in clients {
            let bodies = client.join().expect("client");
            assert!(
                bodies.iter().all(|body| body == "Hello from Kiln!\n"),
                "{hypervisor}: {bodies:?}"
            );
        }
        // SIGTERM ends QEMU too: kiln exits as killed by it, and the port
        // is free again (QEMU no longer holds it).
        assert_eq!(server.stop().code(), Some(128 + 15), "{hypervisor}");
        TcpListener::bind(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("{hypervisor}: port {port} still held after the stop: {e}"));
    }
}
