//! `containerd-shim-kiln-v1`: the containerd shim v2 for Kiln (runtime type
//! `io.containerd.kiln.v1`).
//!
//! containerd starts one shim per container, except that a CRI pod's
//! containers share their sandbox's shim (as runc's shim groups them). The
//! shim mounts the image's
//! root filesystem in the bundle, finds the Kiln ELF the OCI spec's
//! `process.args[0]` names there, and runs it with `kiln run` (found next to
//! this binary, else on `PATH`): the task's process is the monitor, its
//! stdio containerd's FIFOs, its exit code the task's. Under Kubernetes
//! (CRI), a pod's sandbox container boots nothing: the shim holds the pod's
//! network namespace (`holder`), and each of the pod's containers is one
//! Kiln guest, on the pod's network (`netns`).

mod answers;
mod holder;
mod netns;
mod process;
mod server;
mod service;
mod spec;
mod stats;

use std::io::Write;

use containerd_shim::protos::protobuf::Message;
use containerd_shim::synchronous::util::{read_address, write_address};
use containerd_shim::{DeleteResponse, Flags, StartOpts};

/// The runtime this shim answers to.
const RUNTIME: &str = "io.containerd.kiln.v1";

/// `start` (run in the bundle): the address of the server for the
/// container, which it prints, spawning the server unless it runs already:
/// one per CRI pod (the `io.kubernetes.cri.sandbox-id` annotation), else one
/// per container. The address is also kept in the bundle (`address`), for
/// `delete` after a lost shim.
fn start(flags: Flags) -> Result<(), String> {
    let bundle = std::env::current_dir().map_err(|e| format!("the bundle directory: {e}"))?;
    // An unreadable spec is Create's to report.
    let spec = spec::Spec::load(&bundle).ok();
    let group = spec
        .as_ref()
        .and_then(spec::Spec::pod)
        .unwrap_or(&flags.id)
        .to_string();
    let address = containerd_shim::socket_address(&flags.address, &flags.namespace, &group);
    if server::serving(&address) {
        return announce(&address);
    }
    let opts = StartOpts {
        id: flags.id.clone(),
        publish_binary: flags.publish_binary,
        address: flags.address,
        ttrpc_address: std::env::var("TTRPC_ADDRESS").unwrap_or_default(),
        namespace: flags.namespace,
        debug: flags.debug,
    };
    let (_pid, address) =
        containerd_shim::spawn(opts, &group, Vec::new()).map_err(|e| e.to_string())?;
    announce(&address)
}

/// Keeps `address` in the bundle and prints it for containerd.
fn announce(address: &str) -> Result<(), String> {
    write_address(address).map_err(|e| e.to_string())?;
    print!("{address}");
    std::io::stdout()
        .flush()
        .map_err(|e| format!("write the address: {e}"))
}

/// `delete`, after containerd lost its connection to the shim (run in the
/// bundle): unmounts the root filesystem and, if the server is dead, removes
/// its socket (a pod's shim serves on after one container's connection
/// closes). The monitor died with the shim (its parent-death signal).
fn delete() -> Result<(), String> {
    let bundle = std::env::current_dir().map_err(|e| format!("the bundle directory: {e}"))?;
    service::unmount(&bundle.join("rootfs"));
    if let Ok(address) = read_address()
        && !server::serving(&address)
    {
        server::remove_socket(address.strip_prefix("unix://").unwrap_or(&address));
    }
    let response = DeleteResponse {
        exit_status: 128 + libc::SIGKILL as u32,
        exited_at: Some(service::timestamp(std::time::SystemTime::now())).into(),
        ..Default::default()
    };
    response
        .write_to_writer(&mut std::io::stdout().lock())
        .map_err(|e| format!("write the answer: {e}"))
}

fn main() {
    let args: Vec<_> = std::env::args_os().collect();
    if args.get(1).is_some_and(|arg| arg == holder::HOLD) {
        holder::hold();
    }
    let outcome = containerd_shim::parse(&args[1..])
        .map_err(|e| e.to_string())
        .and_then(|flags| {
            if flags.namespace.is_empty() {
                return Err("no -namespace given".into());
            }
            // Orphans under the shim (a guest's helpers) become its children,
            // reaped with the rest.
            // SAFETY: prctl with integer arguments only.
            if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) } < 0 {
                return Err(format!(
                    "become a subreaper: {}",
                    std::io::Error::last_os_error()
                ));
            }
            match flags.action.as_str() {
                "start" => start(flags),
                "delete" => delete(),
                _ => server::serve(&flags),
            }
        });
    if let Err(e) = outcome {
        eprintln!("{RUNTIME}: {e}");
        std::process::exit(1);
    }
}
