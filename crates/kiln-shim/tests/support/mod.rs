//! What the shim's end-to-end tests share: the binaries under test, the
//! Kiln images they import, and a private containerd per test.

#![allow(dead_code)] // each test binary uses its own part of it

pub mod cri;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

pub const RUNTIME: &str = "io.containerd.kiln.v1";
pub const NAMESPACE: &str = "kiln-shim-test";
pub const ENV_IMAGE: &str = "docker.io/library/kiln-shim-env:v1";
pub const SLEEP_IMAGE: &str = "docker.io/library/kiln-shim-sleep:v1";
pub const STDIN_IMAGE: &str = "docker.io/library/kiln-shim-stdin:v1";
pub const FS_IMAGE: &str = "docker.io/library/kiln-shim-fs:v1";
pub const SCRIPT_IMAGE: &str = "docker.io/library/kiln-shim-script:v1";

/// The shim binary under test: cargo's for this test run, or the one in
/// `KILN_BINARIES` (a directory with the shim and `kiln`: the benchmarks
/// run release builds).
pub fn shim() -> PathBuf {
    match std::env::var_os("KILN_BINARIES") {
        Some(dir) => PathBuf::from(dir).join("containerd-shim-kiln-v1"),
        None => PathBuf::from(env!("CARGO_BIN_EXE_containerd-shim-kiln-v1")),
    }
}

/// `kiln`, next to the shim (where the shim looks first), built with the
/// same profile if this test run did not build it already.
pub fn kiln() -> &'static Path {
    static KILN: OnceLock<PathBuf> = OnceLock::new();
    KILN.get_or_init(|| {
        let dir = shim().parent().expect("the shim's directory").to_path_buf();
        if std::env::var_os("KILN_BINARIES").is_some() {
            return dir.join("kiln");
        }
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
pub fn require_kvm() {
    if let Err(e) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
    {
        panic!("these tests boot VMs and need a usable /dev/kvm: {e}");
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn check(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what}: {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        text(&output.stdout),
        text(&output.stderr)
    );
}

/// The Kiln images a test binary imports: (crate directory from the
/// repository's root, image reference).
pub type Images = [(&'static str, &'static str)];

/// The images the `ctr` tests import: a std program that prints its
/// arguments and environment and exits with 7, one that sleeps for the
/// milliseconds given, one that copies stdin to stdout, one that appends
/// to `/data/visits.log`.
pub const CTR_IMAGES: &Images = &[
    ("examples/std-env", ENV_IMAGE),
    ("examples/sleep", SLEEP_IMAGE),
    ("tests/guests/std-stdin", STDIN_IMAGE),
    ("examples/fs-demo", FS_IMAGE),
];

/// `images` built by `kiln build -t` once per test process, and saved in
/// one archive by `kiln save`; the archive.
pub fn kiln_images(images: &'static Images) -> &'static Path {
    static ARCHIVE: OnceLock<PathBuf> = OnceLock::new();
    ARCHIVE.get_or_init(|| {
        let test = std::env::current_exe().expect("the test binary");
        let name = test.file_stem().expect("a name").to_string_lossy();
        let dir =
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("kiln-shim-images-{name}"));
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
        for (dir, reference) in images {
            let example = root.join(dir);
            let example = example.to_str().expect("utf-8 path");
            kiln(&["build", example, "--release", "-t", reference]);
        }
        let archive = dir.join("images.tar");
        let mut save = vec!["save"];
        save.extend(images.iter().map(|(_, reference)| *reference));
        save.extend(["-o", archive.to_str().expect("utf-8 path")]);
        kiln(&save);
        archive
    })
}

/// A plain OCI image, not a Kiln one: its layer holds a shell script, its
/// Entrypoint runs it (runc would print the line). Returns the archive.
pub fn script_image(dir: &Path) -> PathBuf {
    oci_image(
        dir,
        SCRIPT_IMAGE,
        &[("hello.sh", b"#!/bin/sh\necho hello from a shell script\n")],
        "/hello.sh",
    )
}

/// An OCI image archive named `reference` for `ctr image import`, made by
/// hand (no registry, no builder): one uncompressed layer holding `files`
/// (name, content; all executable), whose Entrypoint is `entrypoint`.
pub fn oci_image(
    dir: &Path,
    reference: &str,
    files: &[(&str, &[u8])],
    entrypoint: &str,
) -> PathBuf {
    let name = reference
        .rsplit('/')
        .next()
        .expect("a name")
        .replace(':', "-");
    let work = dir.join(format!("oci-{name}"));
    let layout = work.join("layout");
    let blobs = layout.join("blobs/sha256");
    let root = work.join("root");
    std::fs::create_dir_all(&blobs).expect("mkdir");
    std::fs::create_dir_all(&root).expect("mkdir");
    for (file, content) in files {
        let path = root.join(file);
        std::fs::write(&path, content).expect("write");
        let chmod = Command::new("chmod").arg("755").arg(&path).output();
        check(&chmod.expect("chmod"), "chmod");
    }
    let layer = work.join("layer.tar");
    let tar = |archive: &Path, from: &Path, what: &[&str]| {
        let output = Command::new("tar")
            .arg("-cf")
            .arg(archive)
            .arg("-C")
            .arg(from)
            .args(what)
            .output()
            .expect("run tar");
        check(&output, "tar");
    };
    let names: Vec<&str> = files.iter().map(|(file, _)| *file).collect();
    tar(&layer, &root, &names);
    let blob = |bytes: &[u8]| {
        let hex = format!("{:x}", Sha256::digest(bytes));
        std::fs::write(blobs.join(&hex), bytes).expect("write a blob");
        (format!("sha256:{hex}"), bytes.len())
    };
    let (layer_digest, layer_size) = blob(&std::fs::read(&layer).expect("read the layer"));
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Entrypoint": [entrypoint]},
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
                       "annotations": {"io.containerd.image.name": reference}}],
    });
    std::fs::write(layout.join("index.json"), index.to_string()).expect("write");
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .expect("write");
    let archive = work.join("image.tar");
    tar(&archive, &layout, &["."]);
    archive
}

/// A containerd of the test's own, with the Kiln images imported; stopped
/// (and its scratch directory removed) when dropped.
pub struct Containerd {
    child: Child,
    /// The test's scratch directory.
    pub dir: PathBuf,
    /// containerd's gRPC socket.
    pub socket: PathBuf,
    /// The namespace `ctr` works in.
    namespace: &'static str,
}

impl Containerd {
    /// A containerd for the `ctr` tests: CRI off, the Kiln images imported
    /// in the tests' namespace.
    pub fn start(test: &str) -> Self {
        Self::start_with(test, NAMESPACE, CTR_IMAGES, &[], |_| {
            "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n".into()
        })
    }

    /// A containerd whose config adds `extra(dir)` (top-level settings
    /// and tables) to its own root, state and socket in the scratch
    /// directory `dir`, with `images` imported in `namespace`, and `env`
    /// added to its environment (which its shims inherit).
    pub fn start_with(
        test: &str,
        namespace: &'static str,
        images: &'static Images,
        env: &[(&str, &str)],
        extra: impl FnOnce(&Path) -> String,
    ) -> Self {
        require_kvm();
        let archive = kiln_images(images);
        let dir = std::env::temp_dir().join(format!("kiln-shim-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the scratch directory");
        let socket = dir.join("containerd.sock");
        let config = dir.join("containerd.toml");
        std::fs::write(
            &config,
            format!(
                "version = 2\nroot = \"{}\"\nstate = \"{}\"\n{}\
                 [grpc]\n  address = \"{}\"\n",
                dir.join("root").display(),
                dir.join("state").display(),
                extra(&dir),
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
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("containerd.log")).expect("log"))
            .spawn()
            .expect("start containerd (apt install containerd)");
        let containerd = Self {
            child,
            dir,
            socket,
            namespace,
        };
        containerd.wait_for("containerd to answer", || {
            containerd.ctr_output(&["version"]).status.success()
        });
        let import = containerd.ctr(&["image", "import", archive.to_str().expect("utf-8")]);
        assert!(import.contains(images[0].1), "{import}");
        containerd
    }

    /// `ctr` against this containerd.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("ctr");
        command
            .arg("--address")
            .arg(&self.socket)
            .args(["--namespace", self.namespace])
            .args(args)
            .stdin(Stdio::null());
        command
    }

    pub fn ctr_output(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run ctr")
    }

    /// `ctr ARGS`, which must succeed; its stdout and stderr.
    pub fn ctr(&self, args: &[&str]) -> String {
        let output = self.ctr_output(args);
        check(&output, &format!("ctr {args:?}"));
        format!("{}{}", text(&output.stdout), text(&output.stderr))
    }

    /// `ctr run --rm --runtime io.containerd.kiln.v1 ARGS`.
    pub fn run(&self, args: &[&str]) -> Output {
        let mut all = vec!["run", "--rm", "--runtime", RUNTIME];
        all.extend_from_slice(args);
        self.ctr_output(&all)
    }

    /// The tasks `ctr task ls` lists: (id, pid, status).
    pub fn tasks(&self) -> Vec<(String, u32, String)> {
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

    pub fn task(&self, id: &str) -> Option<(u32, String)> {
        self.tasks()
            .into_iter()
            .find(|(task, _, _)| task == id)
            .map(|(_, pid, status)| (pid, status))
    }

    /// Polls `condition` until it holds, failing after 60 s.
    pub fn wait_for(&self, what: &str, mut condition: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !condition() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The mounts under this containerd's state directory (the shims'
    /// root filesystems).
    pub fn mounts(&self) -> Vec<String> {
        let state = self.dir.join("state").display().to_string();
        std::fs::read_to_string("/proc/self/mountinfo")
            .expect("read mountinfo")
            .lines()
            .filter(|line| line.contains(&state))
            .map(str::to_string)
            .collect()
    }

    /// The live processes whose command line mentions `needle`.
    pub fn processes(&self, needle: &str) -> Vec<(u32, String)> {
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
    pub fn shim_socket(&self, id: &str) -> PathBuf {
        let name = self
            .socket
            .join(self.namespace)
            .join(id)
            .display()
            .to_string();
        PathBuf::from(format!("/run/containerd/s/{:x}", Sha256::digest(name)))
    }

    /// The shims serving this containerd (their command line names its socket).
    pub fn shims(&self) -> Vec<(u32, String)> {
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
