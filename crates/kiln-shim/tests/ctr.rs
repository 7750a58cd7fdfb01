//! The shim end to end, through containerd as a user meets it: each test
//! starts a private containerd (its own config, root, state and socket in a
//! scratch directory, the shim's directory on its PATH so the runtime
//! `io.containerd.kiln.v1` resolves), imports images made by `kiln build -t`
//! and `kiln save`, and drives it with `ctr`. The guests are real VMs: the
//! tests fail loudly without /dev/kvm or containerd.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

const RUNTIME: &str = "io.containerd.kiln.v1";
const NAMESPACE: &str = "kiln-shim-test";
const ENV_IMAGE: &str = "docker.io/library/kiln-shim-env:v1";
const SLEEP_IMAGE: &str = "docker.io/library/kiln-shim-sleep:v1";
const STDIN_IMAGE: &str = "docker.io/library/kiln-shim-stdin:v1";
const FS_IMAGE: &str = "docker.io/library/kiln-shim-fs:v1";
const SCRIPT_IMAGE: &str = "docker.io/library/kiln-shim-script:v1";

/// The shim binary cargo built for these tests.
fn shim() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_containerd-shim-kiln-v1"))
}

/// `kiln`, next to the shim (where the shim looks first), built with the
/// same profile if this test run did not build it already.
fn kiln() -> &'static Path {
    static KILN: OnceLock<PathBuf> = OnceLock::new();
    KILN.get_or_init(|| {
        let dir = shim().parent().expect("the shim's directory").to_path_buf();
        let mut build = Command::new(env!("CARGO"));
        build
            .args(["build", "-p", "kiln-cli", "--bin", "kiln", "--target-dir"])
            .arg(dir.parent().expect("the target directory"))
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if dir.ends_with("release") {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build for kiln");
        assert!(status.success(), "cargo build -p kiln-cli failed");
        dir.join("kiln")
    })
}

/// Tests boot real VMs: without a usable /dev/kvm they must fail, loudly.
fn require_kvm() {
    if let Err(e) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
    {
        panic!("these tests boot VMs and need a usable /dev/kvm: {e}");
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn check(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what}: {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        text(&output.stdout),
        text(&output.stderr)
    );
}

/// The images every test imports, built once per test process: a std
/// program that prints its arguments and environment and exits with 7, and
/// one that sleeps for the milliseconds given, one that copies stdin to
/// stdout, one that appends to `/data/visits.log`. Returns `kiln save`'s
/// archive.
fn kiln_images() -> &'static Path {
    static ARCHIVE: OnceLock<PathBuf> = OnceLock::new();
    ARCHIVE.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("kiln-shim-images");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the image directory");
        let state = dir.join("state");
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let kiln = |args: &[&str]| {
            let output = Command::new(kiln())
                .env("KILN_STATE_DIR", &state)
                .args(args)
                .output()
                .expect("run kiln");
            check(&output, &format!("kiln {args:?}"));
        };
        for (dir, reference) in [
            ("examples/std-env", ENV_IMAGE),
            ("examples/sleep", SLEEP_IMAGE),
            ("tests/guests/std-stdin", STDIN_IMAGE),
            ("examples/fs-demo", FS_IMAGE),
        ] {
            let example = root.join(dir);
            let example = example.to_str().expect("utf-8 path");
            kiln(&["build", example, "--release", "-t", reference]);
        }
        let archive = dir.join("images.tar");
        let archive_arg = archive.to_str().expect("utf-8 path");
        kiln(&[
            "save",
            ENV_IMAGE,
            SLEEP_IMAGE,
            STDIN_IMAGE,
            FS_IMAGE,
            "-o",
            archive_arg,
        ]);
        archive
    })
}

/// A plain OCI image, not a Kiln one: its layer holds a shell script, its
/// Entrypoint runs it (runc would print the line). Returns the archive.
fn script_image(dir: &Path) -> PathBuf {
    let layout = dir.join("script-layout");
    let blobs = layout.join("blobs/sha256");
    let files = dir.join("script-root");
    std::fs::create_dir_all(&blobs).expect("mkdir");
    std::fs::create_dir_all(&files).expect("mkdir");
    let script = files.join("hello.sh");
    std::fs::write(&script, "#!/bin/sh\necho hello from a shell script\n").expect("write");
    let chmod = Command::new("chmod").arg("755").arg(&script).output();
    check(&chmod.expect("chmod"), "chmod");
    let layer = dir.join("script-layer.tar");
    let tar = |archive: &Path, from: &Path, what: &str| {
        let output = Command::new("tar")
            .arg("-cf")
            .arg(archive)
            .arg("-C")
            .arg(from)
            .arg(what)
            .output()
            .expect("run tar");
        check(&output, "tar");
    };
    tar(&layer, &files, "hello.sh");
    let blob = |bytes: &[u8]| {
        let hex = format!("{:x}", Sha256::digest(bytes));
        std::fs::write(blobs.join(&hex), bytes).expect("write a blob");
        (format!("sha256:{hex}"), bytes.len())
    };
    let (layer_digest, layer_size) = blob(&std::fs::read(&layer).expect("read the layer"));
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Entrypoint": ["/hello.sh"]},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    });
    let (config_digest, config_size) = blob(config.to_string().as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest, "size": layer_size}],
    });
    let (manifest_digest, manifest_size) = blob(manifest.to_string().as_bytes());
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": manifest_digest, "size": manifest_size,
                       "annotations": {"io.containerd.image.name": SCRIPT_IMAGE}}],
    });
    std::fs::write(layout.join("index.json"), index.to_string()).expect("write");
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .expect("write");
    let archive = dir.join("script.tar");
    tar(&archive, &layout, ".");
    archive
}

/// A containerd of the test's own, with the Kiln images imported; stopped
/// (and its scratch directory removed) when dropped.
struct Containerd {
    child: Child,
    dir: PathBuf,
    socket: PathBuf,
}

impl Containerd {
    fn start(test: &str) -> Self {
        require_kvm();
        let archive = kiln_images();
        let dir = std::env::temp_dir().join(format!("kiln-shim-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the scratch directory");
        let socket = dir.join("containerd.sock");
        let config = dir.join("containerd.toml");
        std::fs::write(
            &config,
            format!(
                "version = 2\nroot = \"{}\"\nstate = \"{}\"\n\
                 disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
                 [grpc]\n  address = \"{}\"\n",
                dir.join("root").display(),
                dir.join("state").display(),
                socket.display()
            ),
        )
        .expect("write containerd's config");
        let path = std::env::join_paths(
            std::iter::once(shim().parent().expect("dir").to_path_buf()).chain(
                std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
            ),
        )
        .expect("PATH");
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&config)
            .env("PATH", path)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("containerd.log")).expect("log"))
            .spawn()
            .expect("start containerd (apt install containerd)");
        let containerd = Self { child, dir, socket };
        containerd.wait_for("containerd to answer", || {
            containerd.ctr_output(&["version"]).status.success()
        });
        let import = containerd.ctr(&["image", "import", archive.to_str().expect("utf-8")]);
        assert!(import.contains(ENV_IMAGE), "{import}");
        containerd
    }

    /// `ctr` against this containerd.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("ctr");
        command
            .arg("--address")
            .arg(&self.socket)
            .args(["--namespace", NAMESPACE])
            .args(args)
            .stdin(Stdio::null());
        command
    }

    fn ctr_output(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run ctr")
    }

    /// `ctr ARGS`, which must succeed; its stdout and stderr.
    fn ctr(&self, args: &[&str]) -> String {
        let output = self.ctr_output(args);
        check(&output, &format!("ctr {args:?}"));
        format!("{}{}", text(&output.stdout), text(&output.stderr))
    }

    /// `ctr run --rm --runtime io.containerd.kiln.v1 ARGS`.
    fn run(&self, args: &[&str]) -> Output {
        let mut all = vec!["run", "--rm", "--runtime", RUNTIME];
        all.extend_from_slice(args);
        self.ctr_output(&all)
    }

    /// The tasks `ctr task ls` lists: (id, pid, status).
    fn tasks(&self) -> Vec<(String, u32, String)> {
        self.ctr(&["task", "ls"])
            .lines()
            .skip(1)
            .filter_map(|line| {
                let mut fields = line.split_whitespace();
                let id = fields.next()?.to_string();
                let pid = fields.next()?.parse().ok()?;
                let status = fields.next()?.to_string();
                Some((id, pid, status))
            })
            .collect()
    }

    fn task(&self, id: &str) -> Option<(u32, String)> {
        self.tasks()
            .into_iter()
            .find(|(task, _, _)| task == id)
            .map(|(_, pid, status)| (pid, status))
    }

    /// Polls `condition` until it holds, failing after 60 s.
    fn wait_for(&self, what: &str, mut condition: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !condition() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The mounts under this containerd's state directory (the shims'
    /// root filesystems).
    fn mounts(&self) -> Vec<String> {
        let state = self.dir.join("state").display().to_string();
        std::fs::read_to_string("/proc/self/mountinfo")
            .expect("read mountinfo")
            .lines()
            .filter(|line| line.contains(&state))
            .map(str::to_string)
            .collect()
    }

    /// The live processes whose command line mentions `needle`.
    fn processes(&self, needle: &str) -> Vec<(u32, String)> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
                continue;
            };
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            let cmdline = text(&cmdline).replace('\0', " ");
            if cmdline.contains(needle) {
                found.push((pid, cmdline));
            }
        }
        found
    }

    /// The socket containerd's shim for container `id` listens on (named as
    /// the shim crate names it: a hash of the address, namespace and id).
    fn shim_socket(&self, id: &str) -> PathBuf {
        let name = self.socket.join(NAMESPACE).join(id).display().to_string();
        PathBuf::from(format!("/run/containerd/s/{:x}", Sha256::digest(name)))
    }

    /// The shims serving this containerd (their command line names its socket).
    fn shims(&self) -> Vec<(u32, String)> {
        let socket = self.socket.display().to_string();
        self.processes("containerd-shim-kiln-v1")
            .into_iter()
            .filter(|(_, cmdline)| cmdline.contains(&socket))
            .collect()
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        // A failed test may leave tasks: end them before containerd goes.
        if let Ok(tasks) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.tasks())) {
            for (id, _, _) in tasks {
                let _ = self.ctr_output(&["task", "kill", "-s", "SIGKILL", &id]);
                let _ = self.ctr_output(&["task", "rm", "-f", &id]);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        for mount in self.mounts() {
            if let Some(point) = mount.split_whitespace().nth(4) {
                let _ = Command::new("umount").args(["-l", point]).status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

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
