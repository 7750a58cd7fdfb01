//! Shared helpers for the end-to-end tests: run the `kiln` binary, build
//! guests once per test process, and insist on a usable `/dev/kvm`.

#![allow(dead_code)] // each test binary uses a different subset

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};

/// Kiln's exit codes (see `kiln-cli/src/exit_code.rs`).
pub mod code {
    pub const USAGE: i32 = 2;
    pub const UNAVAILABLE: i32 = 119;
    pub const BUILD: i32 = 121;
    pub const IMAGE: i32 = 122;
    pub const HOST: i32 = 123;
    pub const TIMEOUT: i32 = 124;
    pub const VIOLATION: i32 = 125;
    pub const PANIC: i32 = 134;
    pub const OUT_OF_MEMORY: i32 = 137;
    pub const KILLED: i32 = 137;
    pub const FAULT: i32 = 139;
}

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A `kiln` command.
pub fn kiln() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
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

/// The guest's wall clock starts from the host's: a reading must be within
/// a few seconds of the host's own.
pub fn assert_near_host_clock(guest_unix_seconds: u64) {
    let host = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    assert!(
        host.abs_diff(guest_unix_seconds) <= 5,
        "guest {guest_unix_seconds} vs host {host}"
    );
}

/// Builds the guest crate at `dir` (relative to the repository root) with
/// `kiln build`, once per test process and profile, and returns the image path.
pub fn image(dir: &str, release: bool) -> PathBuf {
    let mut built = built_images().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(path) = built.get(&(dir.to_string(), release)) {
        return path.clone();
    }
    let mut command = kiln();
    command.arg("build").arg(root().join(dir));
    if release {
        command.arg("--release");
    }
    let output = command.output().expect("run kiln build");
    assert!(
        output.status.success(),
        "kiln build {dir} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let path = stdout
        .split(" (")
        .next()
        .map(|p| PathBuf::from(p.trim()))
        .expect("kiln build prints the image path");
    assert!(
        path.is_file(),
        "kiln build printed {path:?}, which is no file"
    );
    built.insert((dir.to_string(), release), path.clone());
    path
}

/// The result of one `kiln` invocation.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Self {
        Self {
            code: output.status.code().expect("kiln exited by a signal"),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Run {
    /// Asserts that kiln itself failed with `code` and one clear error line,
    /// and did not panic.
    pub fn assert_clean_error(&self, code: i32, needle: &str) {
        assert_eq!(self.code, code, "exit code; stderr:\n{}", self.stderr);
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "one error line expected, got:\n{}",
            self.stderr
        );
        assert!(
            lines[0].starts_with("kiln: error: "),
            "error line format: {}",
            lines[0]
        );
        assert!(
            lines[0].contains(needle),
            "error should mention {needle:?}: {}",
            lines[0]
        );
        assert!(
            !self.stderr.contains("panicked"),
            "kiln panicked: {}",
            self.stderr
        );
    }
}

/// Runs `kiln ARGS` with its own state directory `state`.
pub fn kiln_in(state: &Path, args: &[&str]) -> Run {
    kiln()
        .env("KILN_STATE_DIR", state)
        .args(args)
        .output()
        .expect("run kiln")
        .into()
}

/// Runs `kiln run IMAGE [extra flags] -- ARGS`.
pub fn run_image(image: &Path, flags: &[&str], args: &[&str]) -> Run {
    require_kvm();
    kiln()
        .arg("run")
        .args(flags)
        .arg(image)
        .arg("--")
        .args(args)
        .output()
        .expect("run kiln")
        .into()
}

/// An empty scratch directory for test `name` of test file `file`, under
/// the system's temporary directory.
pub fn scratch_dir(file: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kiln-{file}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the scratch directory");
    dir
}

/// A host port free now (the kernel's choice), for `-p`.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let port = listener.local_addr().expect("local address").port();
    drop(listener);
    port
}

/// A running `kiln run`, stopped when dropped.
pub struct Server(pub std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `kiln run FLAGS IMAGE` with the guest's stdout piped, checks that
/// its first line is `ready`, and keeps draining the rest so the guest never
/// blocks on a full pipe.
pub fn start_server(image: &Path, flags: &[&str], ready: &str) -> Server {
    start_server_with_args(image, flags, &[], ready)
}

/// [`start_server`], with arguments for the program.
pub fn start_server_with_args(image: &Path, flags: &[&str], args: &[&str], ready: &str) -> Server {
    use std::io::{BufRead, BufReader};
    require_kvm();
    let mut child = kiln()
        .arg("run")
        .args(flags)
        .arg(image)
        .arg("--")
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("start kiln run");
    let stdout = child.stdout.take().expect("piped stdout");
    let server = Server(child);
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    assert_eq!(first, ready);
    std::thread::spawn(move || lines.for_each(drop));
    server
}

/// Set in the child that runs a test inside its own namespaces.
const IN_NAMESPACE: &str = "KILN_TEST_IN_NETNS";

/// The images the parent built, handed to a namespace child as
/// `dir\trelease\tpath` lines: a second `kiln build` of the same program
/// there would re-link its output (cargo replaces the file even when
/// nothing changed) while the parent's other tests run it.
const BUILT_IMAGES: &str = "KILN_TEST_BUILT_IMAGES";

type BuiltImages = Mutex<HashMap<(String, bool), PathBuf>>;

/// This process's built images, seeded from the parent's in a namespace
/// child.
fn built_images() -> &'static BuiltImages {
    static BUILT: OnceLock<BuiltImages> = OnceLock::new();
    BUILT.get_or_init(|| {
        let inherited = std::env::var(BUILT_IMAGES).unwrap_or_default();
        let images = inherited
            .lines()
            .filter_map(|line| {
                let mut fields = line.splitn(3, '\t');
                let (dir, release, path) = (fields.next()?, fields.next()?, fields.next()?);
                Some(((dir.to_string(), release == "true"), PathBuf::from(path)))
            })
            .collect();
        Mutex::new(images)
    })
}

/// Outside the test's namespace, runs `test` again inside a fresh one
/// (`unshare` with `namespaces`; needs CAP_SYS_ADMIN) and returns false;
/// inside, returns true.
pub fn in_namespace(test: &str, namespaces: &[&str]) -> bool {
    if std::env::var_os(IN_NAMESPACE).is_none() {
        let images: String = built_images()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|((dir, release), path)| format!("{dir}\t{release}\t{}\n", path.display()))
            .collect();
        let output = Command::new("unshare")
            .args(namespaces)
            .arg("--")
            .arg(std::env::current_exe().expect("test binary"))
            .args([test, "--exact", "--nocapture"])
            .env(IN_NAMESPACE, "1")
            .env(BUILT_IMAGES, images)
            .output()
            .expect("run unshare (util-linux)");
        assert!(output.status.success(), "in the namespace: {output:?}");
        assert!(String::from_utf8_lossy(&output.stdout).contains("1 passed"));
        return false;
    }
    true
}

/// Runs each `ip` command, insisting on success.
pub fn ip(commands: &[&[&str]]) {
    for args in commands {
        let status = Command::new("ip").args(*args).status().expect("run ip");
        assert!(status.success(), "ip {args:?}");
    }
}

/// Makes closing `stream` reset the connection instead of ending it with a
/// FIN (`SO_LINGER` with a zero time).
pub fn reset_on_close(stream: &std::net::TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket and a `linger` of the size given.
    let rc = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(stream),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_LINGER");
}

/// Sends one GET for `target` on a kept-alive connection and reads one
/// response, by its length: the status line and the body.
pub fn http_get(
    stream: &mut std::io::BufReader<std::net::TcpStream>,
    target: &str,
) -> (String, String) {
    use std::io::{BufRead, Read, Write};
    let request = format!("GET {target} HTTP/1.1\r\nHost: kiln\r\n\r\n");
    stream
        .get_mut()
        .write_all(request.as_bytes())
        .expect("send request");
    let mut status = String::new();
    stream.read_line(&mut status).expect("status line");
    let mut length = None;
    loop {
        let mut line = String::new();
        stream.read_line(&mut line).expect("header");
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse::<usize>().ok();
        }
    }
    let mut body = vec![0; length.expect("a content-length header")];
    stream.read_exact(&mut body).expect("body");
    (
        status.trim_end().to_string(),
        String::from_utf8(body).expect("UTF-8 body"),
    )
}

/// Builds the `std` guest at `dir` (relative to the repository root) as an
/// ordinary Linux program against the host's glibc, once per test process,
/// and runs it with `args` and `stdin`: the answers a Kiln run of the same
/// program is compared with.
pub fn run_native(dir: &str, args: &[&str], stdin: &[u8]) -> Run {
    run_native_with_env(dir, args, stdin, &[])
}

/// [`run_native`] with `env` added to the environment, or removed for a
/// `None` value (the same variables a Kiln run gets with `-e`).
pub fn run_native_with_env(
    dir: &str,
    args: &[&str],
    stdin: &[u8],
    env: &[(&str, Option<&str>)],
) -> Run {
    use std::io::Write;
    let mut command = native_command(dir);
    for (name, value) in env {
        match value {
            Some(value) => command.env(name, value),
            None => command.env_remove(name),
        };
    }
    let mut child = command
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {:?}: {e}", command.get_program()));
    let mut input = child.stdin.take().expect("piped stdin");
    input
        .write_all(stdin)
        .expect("write the native program's stdin");
    drop(input);
    let output = child
        .wait_with_output()
        .expect("wait for the native program");
    // A signal reads as the shell shows it, 128 + its number (134 for
    // SIGABRT), which is also how Kiln reports a guest abort.
    let code = output.status.code().unwrap_or_else(|| {
        128 + std::os::unix::process::ExitStatusExt::signal(&output.status).unwrap_or(0)
    });
    Run {
        code,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The guest crate at `dir` built natively (once per test process) as a
/// command that starts as a Kiln guest does, whoever started the test: the
/// leader of its own session, and no core dumps (a CI runner's session
/// leader may live outside its PID namespace, and its core limit is the
/// runner's choice).
pub fn native_command(dir: &str) -> Command {
    use std::os::unix::process::CommandExt;
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let binary = {
        let built = BUILT.get_or_init(Default::default);
        let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
        built
            .entry(dir.to_string())
            .or_insert_with(|| build_native(dir))
            .clone()
    };
    let mut command = Command::new(&binary);
    // SAFETY: between fork and exec the closure calls only setsid and
    // setrlimit, both async-signal-safe, with a valid pointer.
    unsafe {
        command.pre_exec(|| {
            let no_core = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            if libc::setsid() < 0 || libc::setrlimit(libc::RLIMIT_CORE, &no_core) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command
}

/// `cargo build` of the guest crate at `dir` for the host, in a target
/// directory of its own (never the one `kiln build` uses for guests).
fn build_native(dir: &str) -> PathBuf {
    let manifest = root().join(dir).join("Cargo.toml");
    let target = root().join("target/native-guests");
    let output = Command::new(env!("CARGO"))
        .args([
            "build",
            "--quiet",
            "--message-format=json",
            "--manifest-path",
        ])
        .arg(&manifest)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("run cargo build");
    assert!(
        output.status.success(),
        "native build of {dir} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|m| m.get("executable")?.as_str().map(PathBuf::from))
        .next_back()
        .unwrap_or_else(|| panic!("native build of {dir} made no executable"))
}

/// A new pseudo-terminal: (controlling side, terminal).
pub fn pseudo_terminal() -> (std::os::fd::OwnedFd, std::os::fd::OwnedFd) {
    use std::os::fd::{FromRawFd, OwnedFd};
    let (mut controller, mut terminal) = (-1, -1);
    // SAFETY: openpty writes two descriptors; the other arguments may be null.
    let result = unsafe {
        libc::openpty(
            &mut controller,
            &mut terminal,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(result, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors are new and owned here.
    unsafe {
        (
            OwnedFd::from_raw_fd(controller),
            OwnedFd::from_raw_fd(terminal),
        )
    }
}
