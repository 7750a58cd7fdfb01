//! Host processes: finding `kiln`, starting the monitor, and waiting.
//!
//! The shim is a child subreaper and the `containerd-shim` crate reaps every
//! child on SIGCHLD, so `Child::wait` would race it (and lose, with
//! ECHILD). Exits are taken from the crate's monitor instead: subscribe
//! before the child exists, then `wait_pid`.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc::{Sender, channel};

use containerd_shim::monitor::Topic;
use containerd_shim::synchronous::monitor::{Subscription, monitor_subscribe, wait_pid};

/// Set for the task's process: `kiln run` (and the pod holder) asks the
/// kernel to kill it when this process (its supervisor) dies, so no VM
/// outlives a killed shim (`kiln-cli`'s `instance::SUPERVISOR_ENV`).
pub const SUPERVISOR_ENV: &str = "KILN_SUPERVISOR_PID";

/// The `kiln` binary: next to the shim's own binary, else on `PATH`.
pub fn find_kiln() -> Result<PathBuf, String> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("kiln")));
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join("kiln"));
    beside
        .into_iter()
        .chain(on_path)
        .find(|p| is_executable(p))
        .ok_or_else(|| "kiln not found next to the shim or on PATH".to_string())
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A finished helper command.
pub struct Finished {
    /// Its exit code (128 + the signal if one killed it).
    pub code: i32,
    /// What it wrote on stderr.
    pub stderr: String,
}

/// Runs `command` to its end, stdout discarded, stderr kept.
pub fn run_to_end(mut command: Command) -> Result<Finished, String> {
    let subscription = monitor_subscribe(Topic::Pid).map_err(|e| e.to_string())?;
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {command:?}: {e}"))?;
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    let code = wait_pid(child.id() as i32, subscription);
    Ok(Finished { code, stderr })
}

/// The monitor's stdio: containerd's FIFOs.
pub struct Stdio3 {
    stdin: Option<File>,
    stdout: Option<File>,
    stderr: Option<File>,
}

impl Stdio3 {
    /// Opens the FIFOs (an empty path: none). Output FIFOs are opened
    /// read-write, which never blocks and keeps the monitor from SIGPIPE
    /// while no reader is attached (as runc's shim keeps a reader open).
    /// stdin is opened without waiting for its writer.
    pub fn open(stdin: &str, stdout: &str, stderr: &str) -> Result<Self, String> {
        let open = |path: &str, input: bool| -> Result<Option<File>, String> {
            if path.is_empty() {
                return Ok(None);
            }
            let mut options = OpenOptions::new();
            if input {
                options.read(true).custom_flags(libc::O_NONBLOCK);
            } else {
                options.read(true).write(true);
            }
            let file = options
                .open(path)
                .map_err(|e| format!("open {path}: {e}"))?;
            if input {
                clear_nonblock(&file).map_err(|e| format!("{path}: {e}"))?;
            }
            Ok(Some(file))
        };
        Ok(Self {
            stdin: open(stdin, true)?,
            stdout: open(stdout, false)?,
            stderr: open(stderr, false)?,
        })
    }
}

fn clear_nonblock(file: &File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor this function borrows, with no pointers.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    // SAFETY: as above; only the O_NONBLOCK bit changes.
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// What the spawner needs for one process.
struct SpawnOrder {
    command: Command,
    stdio: Stdio3,
    reply: Sender<Result<(u32, Subscription), String>>,
}

/// Starts the task's processes from one long-lived thread: the kernel's
/// parent-death signal, which `kiln run` and the pod holder ask for,
/// follows the thread that forked the child, and ttrpc's worker threads
/// come and go.
pub struct Spawner {
    orders: Mutex<Sender<SpawnOrder>>,
}

impl Spawner {
    /// Starts the spawner thread.
    pub fn new() -> Self {
        let (orders, incoming) = channel::<SpawnOrder>();
        std::thread::Builder::new()
            .name("spawner".into())
            .spawn(move || {
                for order in incoming {
                    let result = spawn_task(order.command, order.stdio);
                    let _ = order.reply.send(result);
                }
            })
            .expect("start the spawner thread");
        Self {
            orders: Mutex::new(orders),
        }
    }

    /// Starts `command` with `stdio`; its pid and the subscription its exit
    /// arrives on.
    pub fn spawn(&self, command: Command, stdio: Stdio3) -> Result<(u32, Subscription), String> {
        let (reply, answer) = channel();
        let order = SpawnOrder {
            command,
            stdio,
            reply,
        };
        self.orders
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(order)
            .map_err(|_| "the spawner thread is gone".to_string())?;
        answer
            .recv()
            .map_err(|_| "the spawner thread is gone".to_string())?
    }
}

fn spawn_task(mut command: Command, stdio: Stdio3) -> Result<(u32, Subscription), String> {
    let subscription = monitor_subscribe(Topic::Pid).map_err(|e| e.to_string())?;
    let as_stdio = |f: Option<File>| f.map_or_else(Stdio::null, Stdio::from);
    let child = command
        .env(SUPERVISOR_ENV, std::process::id().to_string())
        .stdin(as_stdio(stdio.stdin))
        .stdout(as_stdio(stdio.stdout))
        .stderr(as_stdio(stdio.stderr))
        .spawn()
        .map_err(|e| {
            format!(
                "cannot start {}: {e}",
                command.get_program().to_string_lossy()
            )
        })?;
    // The child is not waited for here: its exit arrives through the
    // subscription. Dropping the handle closes the shim's copies of the
    // FIFOs, so readers see the end of output when the monitor ends.
    Ok((child.id(), subscription))
}
