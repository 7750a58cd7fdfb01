//! The shim's server process (what `start` spawns): the ttrpc server of the
//! task service, the reaper of the shim's children, and the wait for
//! Shutdown. `containerd_shim::run` would do the same, but offers no place
//! to wrap the service's generated method handlers, and only a wrapper
//! knows when an answer is queued (`answers`); the crate's pieces are used
//! for the rest.

use std::os::fd::IntoRawFd;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::sync::Arc;

use containerd_shim::protos::shim::shim_ttrpc::create_task;
use containerd_shim::protos::ttrpc::Server;
use containerd_shim::publisher::RemotePublisher;
use containerd_shim::synchronous::monitor::monitor_notify_by_pid;
use containerd_shim::{ExitSignal, Flags, error, info};
use signal_hook::consts::{SIGCHLD, SIGINT, SIGPIPE, SIGTERM};
use signal_hook::iterator::Signals;

use crate::answers::{self, Gate};
use crate::service::Service;

/// Serves the task API on `flags.socket` until Shutdown.
pub fn serve(flags: &Flags) -> Result<(), String> {
    let path = flags
        .socket
        .strip_prefix("unix://")
        .unwrap_or(&flags.socket);
    if path.is_empty() {
        return Err("no -socket to serve on".into());
    }
    // Registered before any child exists, so no exit is missed. SIGTERM,
    // SIGINT and SIGPIPE are caught to be ignored: the shim ends on
    // Shutdown, and a closed FIFO or socket is an error where it is used.
    let mut signals = Signals::new([SIGTERM, SIGINT, SIGPIPE, SIGCHLD])
        .map_err(|e| format!("catch signals: {e}"))?;
    containerd_shim::logger::init(flags.debug, "info", &flags.namespace, &flags.id)
        .map_err(|e| format!("open the log: {e}"))?;
    let events = std::env::var("TTRPC_ADDRESS")
        .map_err(|_| "TTRPC_ADDRESS is not set (containerd sets it)".to_string())?;
    let publisher =
        RemotePublisher::new(&events).map_err(|e| format!("connect to {events}: {e}"))?;
    let Some(listener) = listen(path)? else {
        info!("another shim serves {path} already");
        started();
        return Ok(());
    };
    let exit = Arc::new(ExitSignal::default());
    let gate = Arc::new(Gate::default());
    let service = Service::new(
        flags.namespace.clone(),
        Arc::clone(&exit),
        Arc::clone(&gate),
        publisher,
    );
    let methods = answers::count_kills(create_task(Arc::new(service)), &gate);
    let mut server = Server::new()
        .add_listener(listener.into_raw_fd())
        .map_err(|e| format!("serve {path}: {e}"))?
        .register_service(methods);
    server.start().map_err(|e| format!("serve {path}: {e}"))?;
    started();
    std::thread::Builder::new()
        .name("reaper".into())
        .spawn(move || {
            for signal in signals.forever() {
                if signal == SIGCHLD {
                    reap();
                }
            }
        })
        .map_err(|e| format!("start the reaper thread: {e}"))?;
    exit.wait();
    info!("shutting down");
    // Waits for every connection's queued answers to be written.
    server.shutdown();
    remove_socket(path);
    Ok(())
}

/// The listening socket at `path`; None if a live shim listens there (a
/// repeated `start`), a stale socket replaced.
fn listen(path: &str) -> Result<Option<UnixListener>, String> {
    if let Some(parent) = Path::new(path).parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("create {}: {e}", parent.display()))?;
    }
    match UnixListener::bind(path) {
        Ok(listener) => Ok(Some(listener)),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            if serving(path) {
                return Ok(None);
            }
            remove_socket(path);
            UnixListener::bind(path)
                .map(Some)
                .map_err(|e| format!("listen on {path}: {e}"))
        }
        Err(e) => Err(format!("listen on {path}: {e}")),
    }
}

/// Whether a server accepts connections at `address` (`unix://PATH` or
/// `PATH`).
pub fn serving(address: &str) -> bool {
    let path = address.strip_prefix("unix://").unwrap_or(address);
    std::os::unix::net::UnixStream::connect(path).is_ok()
}

/// Removes the socket file at `path` (only a socket).
pub fn remove_socket(path: &str) {
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
        let _ = std::fs::remove_file(path);
    }
}

/// Tells `start`, which reads this process's stdout until it closes, that
/// the server listens: stdout becomes a copy of stderr.
fn started() {
    // SAFETY: dup2 on the process's own standard descriptors, no pointers.
    if unsafe { libc::dup2(libc::STDERR_FILENO, libc::STDOUT_FILENO) } < 0 {
        error!("close stdout: {}", std::io::Error::last_os_error());
    }
}

/// Reaps every exited child and hands its code to the crate's exit
/// monitor, where `wait_pid` subscribers get it (128 + signal when killed).
fn reap() {
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes only the status integer passed to it.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        if pid <= 0 {
            return;
        }
        let code = if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else if libc::WIFSIGNALED(status) {
            128 + libc::WTERMSIG(status)
        } else {
            continue;
        };
        if let Err(e) = monitor_notify_by_pid(pid, code) {
            error!("pass on the exit of pid {pid}: {e}");
        }
    }
}
