//! `kiln run --hypervisor firecracker`: the image on Firecracker, entered
//! through PVH, from a config file written into a temporary directory:
//! memory, vCPUs, the command line; the serial console on stdout, the exit
//! status back as the exit code, crash reports symbolized as on Kiln's
//! monitor.
//!
//! Firecracker is not packaged: the binary is `KILN_FIRECRACKER`, else
//! `firecracker` on `PATH`. It exits 0 whatever the guest's status (the
//! guest stops it with a reset through the i8042), so the command line asks
//! the guest to print its status on the console, as `kiln-exit: NNN`, and
//! the line is taken out of the output.

use std::path::Path;
use std::process::{Command, ExitCode, Stdio};

use serde_json::json;

use super::{RunArgs, external};
use crate::Outcome;
use crate::exit_code::{Failure, HOST, IMAGE};

/// The Firecracker binary (`KILN_FIRECRACKER` overrides it).
const FIRECRACKER: &str = "firecracker";

/// Memory when `-m` is not given, as with `--hypervisor qemu`.
const DEFAULT_MEMORY: u64 = 512 << 20;

/// The command-line word that asks the guest for its status line
/// (`kiln-libos/src/platform/pvh/mod.rs`, `STATUS_LINE_WORD`).
const STATUS_LINE_WORD: &str = "kiln.status-line";

/// Firecracker's JSON configuration for `image` (also what the README
/// shows): no network, no drives, the serial console on stdout.
pub fn config(image: &Path, memory: u64, cpus: u32, cmdline: &str) -> serde_json::Value {
    json!({
        "boot-source": {
            "kernel_image_path": image,
            "boot_args": cmdline,
        },
        "drives": [],
        "machine-config": {
            "vcpu_count": cpus,
            "mem_size_mib": memory >> 20,
        },
    })
}

/// The Firecracker command line for the config at `config` (no API
/// socket), its log (errors only: Firecracker warns about every port it
/// lacks, which the image probes) in `log`.
pub fn command(config: &Path, log: &Path) -> Command {
    let mut firecracker = Command::new(binary());
    firecracker
        .args(["--no-api", "--config-file"])
        .arg(config)
        .args(["--level", "Error", "--log-path"])
        .arg(log);
    firecracker
}

fn binary() -> std::ffi::OsString {
    std::env::var_os("KILN_FIRECRACKER").unwrap_or_else(|| FIRECRACKER.into())
}

/// Runs `image` under Firecracker.
pub fn run(args: &RunArgs, image: &Path, name: &str) -> Outcome {
    // `--cpus` is at most 16 here, within Firecracker's 32.
    external::check(args, "firecracker", false)?;
    let cmdline = external::command_line(args, name, &[STATUS_LINE_WORD], "firecracker")?;
    let bytes = crate::symbolize::read_image(image)?;
    let image = std::path::absolute(image)
        .map_err(|e| Failure::new(IMAGE, format!("{}: {e}", image.display())))?;
    let dir = tempfile::tempdir()
        .map_err(|e| Failure::new(HOST, format!("cannot create a temporary directory: {e}")))?;
    let (config_path, log_path) = (dir.path().join("config.json"), dir.path().join("log"));
    let memory = args.memory.unwrap_or(DEFAULT_MEMORY);
    let config = config(&image, memory, args.cpus.unwrap_or(1), &cmdline);
    std::fs::write(&config_path, config.to_string())
        .and_then(|()| std::fs::write(&log_path, b""))
        .map_err(|e| Failure::new(HOST, format!("cannot write Firecracker's config: {e}")))?;
    let mut child = command(&config_path, &log_path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            Failure::new(
                HOST,
                format!(
                    "cannot start {} (set KILN_FIRECRACKER or put it on PATH): {e}",
                    binary().to_string_lossy()
                ),
            )
        })?;
    let end = external::follow_console(&mut child, &bytes, |_| false);
    let exit = child
        .wait()
        .map_err(|e| Failure::new(HOST, format!("{FIRECRACKER}: {e}")))?;
    match end.status() {
        Some(status) => Ok(ExitCode::from(status)),
        None => Err(Failure::new(
            HOST,
            format!(
                "{FIRECRACKER} ended without the guest's exit status ({exit}){}",
                last_error(&log_path)
            ),
        )),
    }
}

/// The last line of Firecracker's log, as `: LINE` (empty without one).
fn last_error(log: &Path) -> String {
    std::fs::read_to_string(log)
        .ok()
        .and_then(|text| Some(format!(": {}", text.lines().last()?.trim())))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_maps_memory_vcpus_and_the_command_line() {
        let config = config(Path::new("/images/hello"), 256 << 20, 2, "A=1 -- hello x");
        assert_eq!(
            config,
            json!({
                "boot-source": {
                    "kernel_image_path": "/images/hello",
                    "boot_args": "A=1 -- hello x",
                },
                "drives": [],
                "machine-config": { "vcpu_count": 2, "mem_size_mib": 256 },
            })
        );
    }

    #[test]
    fn the_command_has_no_api_socket_and_a_log_file() {
        let command = command(Path::new("/tmp/c.json"), Path::new("/tmp/log"));
        let args: Vec<_> = command.get_args().map(|a| a.to_string_lossy()).collect();
        assert_eq!(
            args,
            [
                "--no-api",
                "--config-file",
                "/tmp/c.json",
                "--level",
                "Error",
                "--log-path",
                "/tmp/log"
            ]
        );
    }
}
