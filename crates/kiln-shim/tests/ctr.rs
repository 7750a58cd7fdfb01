//! The shim end to end, through containerd as a user meets it: each test
//! starts a private containerd (its own config, root, state and socket in a
//! scratch directory, the shim's directory on its PATH so the runtime
//! `io.containerd.kiln.v1` resolves), imports images made by `kiln build -t`
//! and `kiln save`, and drives it with `ctr`. The guests are real VMs: the
//! tests fail loudly without /dev/kvm or containerd.

mod support;

use std::io::Read;
use std::process::Stdio;

use support::*;

#[test]
fn ctr_run_prints_the_guest_output_and_exits_with_its_code() {
    let containerd = Containerd::start("output");
    let run = containerd.run(&[ENV_IMAGE, "env-default"]);
    let stdout = text(&run.stdout);
    assert_eq!(
        run.status.code(),
        Some(7),
        "the guest's exit code; stdout:\n{stdout}\nstderr:\n{}",
        text(&run.stderr)
    );
    // The image's Entrypoint, from the mounted root filesystem, with no
    // arguments; the environment containerd gives every container.
    assert!(stdout.contains(r#"args: ["std-env"]"#), "{stdout}");
    assert!(stdout.contains("GREETING is not set"), "{stdout}");
    assert!(stdout.contains(r#"("PATH", "/usr/local/sbin:"#), "{stdout}");
    // --rm: nothing left behind.
    assert!(containerd.tasks().is_empty());
    assert!(
        !containerd
            .ctr(&["container", "ls", "-q"])
            .contains("env-default")
    );
    assert_eq!(containerd.mounts(), Vec::<String>::new());
}

#[test]
fn arguments_and_environment_from_the_command_line_reach_the_guest() {
    let containerd = Containerd::start("args");
    let run = containerd.run(&[
        "--env",
        "GREETING=hello from ctr",
        "--env",
        "REMOVED=gone",
        ENV_IMAGE,
        "env-args",
        "/std-env",
        "one",
        "two words",
    ]);
    let stdout = text(&run.stdout);
    assert_eq!(run.status.code(), Some(7), "stderr:\n{}", text(&run.stderr));
    assert!(
        stdout.contains(r#"args: ["std-env", "one", "two words"]"#),
        "{stdout}"
    );
    assert!(stdout.contains("GREETING=hello from ctr"), "{stdout}");
    assert!(
        !stdout.contains("REMOVED"),
        "the program removed it: {stdout}"
    );
}

#[test]
fn stdin_reaches_the_guest() {
    let containerd = Containerd::start("stdin");
    let mut run = containerd
        .command(&[
            "run",
            "--rm",
            "--runtime",
            RUNTIME,
            STDIN_IMAGE,
            "reader",
            "/std-stdin",
            "echo",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ctr");
    let mut stdin = run.stdin.take().expect("stdin");
    std::io::Write::write_all(&mut stdin, b"hello\nfrom the host\n").expect("write stdin");
    drop(stdin);
    let output = run.wait_with_output().expect("wait for ctr run");
    check(&output, "ctr run with stdin");
    assert_eq!(text(&output.stdout), "hello\nfrom the host\n");
    assert!(
        text(&output.stderr).contains("copied 20 bytes"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn bind_mounts_reach_the_guest_as_volumes_read_only_where_the_spec_says() {
    let containerd = Containerd::start("volumes");
    let data = containerd.dir.join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    let bind = |options: &str| {
        format!(
            "type=bind,src={},dst=/data,options={options}",
            data.display()
        )
    };
    let run = containerd.run(&["--mount", &bind("rbind:rw"), FS_IMAGE, "writer"]);
    let stdout = text(&run.stdout);
    assert_eq!(run.status.code(), Some(0), "{stdout}{}", text(&run.stderr));
    assert!(
        stdout.contains("/data/visits.log: 1 visits, last: visit 1"),
        "{stdout}"
    );
    let log = data.join("visits.log");
    assert_eq!(std::fs::read_to_string(&log).expect("the log"), "visit 1\n");

    // Read-only: the guest reads the log but cannot replace it.
    let run = containerd.run(&["--mount", &bind("rbind:ro"), FS_IMAGE, "reader"]);
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{}{stderr}", text(&run.stdout));
    assert!(stderr.contains("ReadOnlyFilesystem"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&log).expect("the log"), "visit 1\n");
}

#[test]
fn a_long_running_guest_is_listed_stopped_by_signals_and_removed() {
    let containerd = Containerd::start("long");

    // SIGTERM (ctr task kill's default) ends `ctr run`'s guest, and the
    // exit code says so.
    let mut foreground = containerd
        .command(&[
            "run",
            "--rm",
            "--runtime",
            RUNTIME,
            SLEEP_IMAGE,
            "sleeper",
            "/sleep",
            "600000",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ctr");
    containerd.wait_for("the task to run", || {
        containerd
            .task("sleeper")
            .is_some_and(|(_, s)| s == "RUNNING")
    });
    let exec = containerd.ctr_output(&["task", "exec", "--exec-id", "e1", "sleeper", "/sleep"]);
    assert!(!exec.status.success());
    assert!(
        text(&exec.stderr).contains("exec is not supported by unikernels"),
        "{}",
        text(&exec.stderr)
    );
    containerd.ctr(&["task", "kill", "sleeper"]);
    let status = foreground.wait().expect("wait for ctr run");
    let mut stderr = String::new();
    let _ = foreground
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr);
    assert_eq!(status.code(), Some(128 + 15), "killed by SIGTERM: {stderr}");

    // A detached guest, with a memory limit and a read-only bind mount.
    let data = containerd.dir.join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    let mount = format!(
        "type=bind,src={},dst=/data,options=rbind:ro",
        data.display()
    );
    containerd.ctr(&[
        "run",
        "-d",
        "--runtime",
        RUNTIME,
        "--memory-limit",
        "67108864",
        "--mount",
        &mount,
        SLEEP_IMAGE,
        "daemon",
        "/sleep",
        "600000",
    ]);
    containerd.wait_for("the task to run", || {
        containerd
            .task("daemon")
            .is_some_and(|(_, s)| s == "RUNNING")
    });
    let (pid, _) = containerd.task("daemon").expect("listed");
    // The task's pid is the monitor, run with the container's settings.
    let cmdline = text(&std::fs::read(format!("/proc/{pid}/cmdline")).expect("the monitor"))
        .replace('\0', " ");
    assert!(cmdline.contains(" run -m 67108864 "), "{cmdline}");
    // rbind: the mount's submounts are the guest's too (as in a container).
    assert!(
        cmdline.contains(&format!(" -v {}:/data:ro,rbind ", data.display())),
        "{cmdline}"
    );
    assert!(cmdline.ends_with("/rootfs/sleep -- 600000 "), "{cmdline}");
    let metrics = containerd.ctr(&["task", "metrics", "--format", "json", "daemon"]);
    let metrics: serde_json::Value = serde_json::from_str(&metrics).expect("json metrics");
    assert!(
        metrics["memory"]["usage"]["usage"]
            .as_u64()
            .is_some_and(|bytes| bytes > 0),
        "the monitor's resident memory: {metrics}"
    );
    assert_eq!(containerd.mounts().len(), 1, "the root filesystem");
    assert_eq!(containerd.shims().len(), 1, "one shim");
    let socket = containerd.shim_socket("daemon");
    assert!(socket.exists(), "{}", socket.display());

    containerd.ctr(&["task", "kill", "-s", "SIGKILL", "daemon"]);
    containerd.wait_for("the task to stop", || {
        containerd
            .task("daemon")
            .is_some_and(|(_, s)| s == "STOPPED")
    });
    containerd.ctr(&["task", "rm", "daemon"]);
    containerd.ctr(&["container", "rm", "daemon"]);
    assert!(containerd.tasks().is_empty());
    assert_eq!(containerd.ctr(&["container", "ls", "-q"]).trim(), "");
    // No monitor, shim or mount is left behind.
    let monitors = containerd.processes(&format!("{}/state/", containerd.dir.display()));
    assert!(monitors.is_empty(), "{monitors:?}");
    assert_eq!(containerd.mounts(), Vec::<String>::new());
    containerd.wait_for("the shims to exit", || containerd.shims().is_empty());
    assert!(!socket.exists(), "the shim removed its socket");
}

#[test]
fn a_killed_shim_takes_its_vm_with_it_and_containerd_cleans_up() {
    let containerd = Containerd::start("lost-shim");
    containerd.ctr(&[
        "run",
        "-d",
        "--runtime",
        RUNTIME,
        SLEEP_IMAGE,
        "lost",
        "/sleep",
        "600000",
    ]);
    containerd.wait_for("the task to run", || {
        containerd.task("lost").is_some_and(|(_, s)| s == "RUNNING")
    });
    let (monitor, _) = containerd.task("lost").expect("listed");
    let shims = containerd.shims();
    assert_eq!(shims.len(), 1, "{shims:?}");
    let socket = containerd.shim_socket("lost");
    assert!(socket.exists(), "{}", socket.display());
    // SAFETY: kill(2) takes no pointers; the pid is the test's shim.
    assert_eq!(unsafe { libc::kill(shims[0].0 as i32, libc::SIGKILL) }, 0);
    // The monitor gets its parent-death signal (dead, if not yet reaped by
    // whoever inherits it), and containerd runs the shim's `delete`, which
    // unmounts the root filesystem and removes the dead server's socket.
    let dead = || {
        std::fs::read_to_string(format!("/proc/{monitor}/stat")).map_or(true, |stat| {
            stat.rsplit(')').next().is_some_and(|s| s.starts_with(" Z"))
        })
    };
    containerd.wait_for("the monitor to die", dead);
    containerd.wait_for("containerd to forget the task", || {
        containerd.task("lost").is_none()
    });
    containerd.wait_for(
        "the root filesystem's unmount and the socket's removal",
        || containerd.mounts().is_empty() && !socket.exists(),
    );
    containerd.ctr(&["container", "rm", "lost"]);
}

#[test]
fn an_image_that_is_not_a_kiln_image_fails_with_a_clear_error() {
    let containerd = Containerd::start("not-kiln");
    let archive = script_image(&containerd.dir);
    containerd.ctr(&["image", "import", archive.to_str().expect("utf-8")]);
    let run = containerd.run(&[SCRIPT_IMAGE, "script"]);
    let stderr = text(&run.stderr);
    assert!(!run.status.success(), "{stderr}");
    assert!(
        stderr.contains("/hello.sh is not a Kiln image") && stderr.contains("not an ELF64 file"),
        "{stderr}"
    );
    assert!(containerd.tasks().is_empty());
    assert_eq!(containerd.mounts(), Vec::<String>::new());
    containerd.wait_for("the shim to exit", || containerd.shims().is_empty());
}
