//! `kiln run --hypervisor qemu`: the image on QEMU's `microvm` machine,
//! entered through PVH, with the flags it needs: memory, vCPUs, the serial
//! console on stdout, the exit status back as the exit code, crash reports
//! symbolized as on Kiln's monitor.

use std::path::Path;
use std::process::{Command, ExitCode, Stdio};

use super::{RunArgs, external};
use crate::Outcome;
use crate::exit_code::{Failure, HOST};

/// The QEMU binary (`KILN_QEMU` overrides it).
const QEMU: &str = "qemu-system-x86_64";

/// Memory when `-m` is not given: a small VM, as QEMU's users expect.
const DEFAULT_MEMORY: u64 = 512 << 20;

/// Which of QEMU's accelerators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    /// KVM (`/dev/kvm`).
    Kvm,
    /// QEMU's own translator (no `/dev/kvm` needed).
    Tcg,
}

/// The QEMU command line for `image` (also what the README shows).
pub fn command(
    image: &Path,
    memory: u64,
    cpus: u32,
    accel: Accel,
    cmdline: &str,
    status: &Path,
) -> Command {
    let mut qemu = Command::new(std::env::var_os("KILN_QEMU").unwrap_or_else(|| QEMU.into()));
    let (accel, cpu) = match accel {
        // kvm_pvm (and some other hosts) abort `-cpu host`/`max` on an MSR;
        // a named model with what Kiln images use works everywhere.
        Accel::Kvm => ("kvm", "qemu64,+fsgsbase,+rdrand"),
        Accel::Tcg => ("tcg", "max"),
    };
    qemu.args(["-M", "microvm", "-accel", accel, "-cpu", cpu])
        .args([
            "-m",
            &format!("{}M", memory >> 20),
            "-smp",
            &cpus.to_string(),
        ])
        .args(["-nodefaults", "-no-user-config", "-nographic", "-no-reboot"])
        .args(["-serial", "stdio", "-monitor", "none"])
        .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=1"])
        .args([
            "-chardev",
            &format!("file,id=kiln-status,path={}", status.display()),
        ])
        .args(["-device", "isa-debugcon,iobase=0x402,chardev=kiln-status"])
        .arg("-kernel")
        .arg(image)
        .args(["-append", cmdline]);
    qemu
}

/// Runs `image` under QEMU.
pub fn run(args: &RunArgs, image: &Path, name: &str, accel: Accel) -> Outcome {
    external::check(args, "qemu")?;
    let cmdline = external::command_line(args, name, &[], "qemu")?;
    let bytes = crate::symbolize::read_image(image)?;
    let dir = tempfile::tempdir()
        .map_err(|e| Failure::new(HOST, format!("cannot create a temporary directory: {e}")))?;
    let status_path = dir.path().join("status");
    let memory = args.memory.unwrap_or(DEFAULT_MEMORY);
    let mut child = command(
        image,
        memory,
        args.cpus.unwrap_or(1),
        accel,
        &cmdline,
        &status_path,
    )
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .map_err(|e| Failure::new(HOST, format!("cannot start {QEMU}: {e}")))?;
    let end = external::follow_console(&mut child, &bytes, is_cpu_feature_warning);
    let exit = child
        .wait()
        .map_err(|e| Failure::new(HOST, format!("{QEMU}: {e}")))?;
    let reported = std::fs::read_to_string(&status_path)
        .ok()
        .and_then(|text| text.lines().last()?.trim().parse::<u8>().ok());
    match end.crashed.or(reported) {
        Some(status) => Ok(ExitCode::from(status)),
        None => Err(Failure::new(
            HOST,
            format!("{QEMU} ended without the guest's exit status ({exit})"),
        )),
    }
}

/// QEMU's warnings about CPU features KVM does not list, left out of its
/// stderr (kvm_pvm lists fewer than it runs; the image checks the features
/// it needs itself).
fn is_cpu_feature_warning(line: &str) -> bool {
    line.contains("warning: host doesn't support requested feature")
}
