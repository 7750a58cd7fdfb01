//! `containerd-shim-kiln-v1`: the containerd shim v2 for Kiln (runtime type
//! `io.containerd.kiln.v1`).
//!
//! containerd starts one shim per container. The shim mounts the image's
//! root filesystem in the bundle, finds the Kiln ELF the OCI spec's
//! `process.args[0]` names there, and runs it with `kiln run` (found next to
//! this binary, else on `PATH`): the task's process is the monitor, its
//! stdio containerd's FIFOs, its exit code the task's. Under Kubernetes
//! (CRI), a pod's sandbox container boots nothing: the shim holds the pod's
//! network namespace (`holder`), and each of the pod's containers is one
//! Kiln guest, on the pod's network (`netns`).

mod holder;
mod netns;
mod process;
mod service;
mod spec;
mod stats;

use std::os::unix::fs::FileTypeExt;
use std::sync::Arc;

use containerd_shim::publisher::RemotePublisher;
use containerd_shim::synchronous::util::{read_address, write_address};
use containerd_shim::{Config, DeleteResponse, ExitSignal, Flags, StartOpts};

/// The runtime this shim answers to.
const RUNTIME: &str = "io.containerd.kiln.v1";

/// The shim binary's commands (`start`, `delete`, and the server itself).
struct Shim {
    namespace: String,
    exit: Arc<ExitSignal>,
}

impl containerd_shim::Shim for Shim {
    type T = service::Service;

    fn new(_runtime_id: &str, args: &Flags, _config: &mut Config) -> Self {
        Self {
            namespace: args.namespace.clone(),
            exit: Arc::default(),
        }
    }

    /// One shim per container: grouped by the container's own id. The
    /// socket's address is kept in the bundle (`address`), where the server
    /// finds it to remove the socket when it shuts down.
    fn start_shim(&mut self, opts: StartOpts) -> Result<String, containerd_shim::Error> {
        let group = opts.id.clone();
        let (_pid, address) = containerd_shim::spawn(opts, &group, Vec::new())?;
        write_address(&address)?;
        Ok(address)
    }

    /// After a lost shim (run in the bundle): unmount the root filesystem
    /// and remove the dead server's socket. The monitor died with the shim
    /// (its parent-death signal).
    fn delete_shim(&mut self) -> Result<DeleteResponse, containerd_shim::Error> {
        let bundle = std::env::current_dir().map_err(|e| containerd_shim::Error::IoError {
            context: "the bundle directory".into(),
            err: e,
        })?;
        service::unmount(&bundle.join("rootfs"));
        if let Ok(address) = read_address() {
            let socket = address.strip_prefix("unix://").unwrap_or(&address);
            if std::fs::symlink_metadata(socket).is_ok_and(|m| m.file_type().is_socket()) {
                let _ = std::fs::remove_file(socket);
            }
        }
        Ok(DeleteResponse {
            exit_status: 128 + libc::SIGKILL as u32,
            exited_at: Some(service::timestamp(std::time::SystemTime::now())).into(),
            ..Default::default()
        })
    }

    fn wait(&mut self) {
        self.exit.wait();
    }

    fn create_task_service(&self, publisher: RemotePublisher) -> Self::T {
        service::Service::new(self.namespace.clone(), Arc::clone(&self.exit), publisher)
    }
}

fn main() {
    if std::env::args_os()
        .nth(1)
        .is_some_and(|arg| arg == holder::HOLD)
    {
        holder::hold();
    }
    containerd_shim::run::<Shim>(RUNTIME, None);
}
