//! `kiln run --hypervisor qemu`: the image on QEMU's `microvm` machine,
//! entered through PVH, with the flags it needs: memory, vCPUs, the serial
//! console on stdout, the exit status back as the exit code, crash reports
//! symbolized as on Kiln's monitor, and `-p` ports as QEMU user
//! networking's `hostfwd` to a virtio-net device.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

use kiln_monitor::net::{PortForward, Protocol};
use rustix::process::{Pid, Signal};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

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

/// The QEMU command line for `image` (also what the README shows), with a
/// network device when ports are published (`forwards`, each with its
/// host address).
pub fn command(
    image: &Path,
    memory: u64,
    cpus: u32,
    accel: Accel,
    cmdline: &str,
    status: &Path,
    forwards: &[PortForward],
) -> Command {
    let mut qemu = Command::new(std::env::var_os("KILN_QEMU").unwrap_or_else(|| QEMU.into()));
    let (accel, cpu) = match accel {
        // kvm_pvm (and some other hosts) abort `-cpu host`/`max` on an MSR;
        // a named model with what Kiln images use works everywhere.
        Accel::Kvm => ("kvm", "qemu64,+fsgsbase,+rdrand"),
        Accel::Tcg => ("tcg", "max"),
    };
    // Without ACPI tables, QEMU names the virtio-mmio devices on the
    // kernel command line (`virtio_mmio.device=`), where the image looks.
    qemu.args(["-M", "microvm,acpi=off", "-accel", accel, "-cpu", cpu])
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
        .args(["-device", "isa-debugcon,iobase=0x402,chardev=kiln-status"]);
    if !forwards.is_empty() {
        let mut netdev = String::from("user,id=kiln-net");
        for forward in forwards {
            let protocol = match forward.protocol {
                Protocol::Tcp => "tcp",
                Protocol::Udp => "udp",
            };
            let host = forward.host_ip.unwrap_or(LOOPBACK);
            netdev += &format!(
                ",hostfwd={protocol}:{host}:{}-:{}",
                forward.host_port, forward.guest_port
            );
        }
        // The image drives a virtio 1.x device, which QEMU's virtio-mmio
        // offers only when told to.
        qemu.args(["-netdev", &netdev])
            .args(["-device", "virtio-net-device,netdev=kiln-net"])
            .args(["-global", "virtio-mmio.force-legacy=false"]);
    }
    qemu.arg("-kernel").arg(image).args(["-append", cmdline]);
    qemu
}

/// Where a published port listens when `-p` names no address: QEMU's user
/// networking has no isolation of its own to offer, so only this host.
const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Runs `image` under QEMU.
pub fn run(args: &RunArgs, image: &Path, name: &str, accel: Accel) -> Outcome {
    external::check(args, "qemu", true)?;
    let mut forwards = super::net::parse_forwards(&args.publish)?;
    for forward in &mut forwards {
        forward.host_ip.get_or_insert(LOOPBACK);
        super::net::probe(forward)?;
    }
    let cmdline = external::command_line(args, name, &[], "qemu")?;
    let bytes = crate::symbolize::read_image(image)?;
    // Before QEMU starts: from then on a signal must not end kiln alone.
    let signals = Signals::new([SIGINT, SIGTERM, SIGHUP])
        .map_err(|e| Failure::new(HOST, format!("cannot handle signals: {e}")))?;
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
        &forwards,
    )
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .map_err(|e| Failure::new(HOST, format!("cannot start {QEMU}: {e}")))?;
    let stopped_by = stop_with_signals(signals, child.id());
    let end = external::follow_console(&mut child, &bytes, is_noise);
    let exit = child
        .wait()
        .map_err(|e| Failure::new(HOST, format!("{QEMU}: {e}")))?;
    let signal = stopped_by.load(Ordering::Relaxed);
    if signal != 0 {
        return Ok(ExitCode::from(128 + signal as u8));
    }
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

/// Has SIGINT, SIGTERM and SIGHUP stop QEMU, which would outlive `kiln
/// run` otherwise; returns where the signal is recorded (0: none), so kiln
/// then exits as killed by it (128 + signal), as on Kiln's monitor.
fn stop_with_signals(mut signals: Signals, qemu: u32) -> Arc<AtomicI32> {
    let stopped_by = Arc::new(AtomicI32::new(0));
    let recorded = Arc::clone(&stopped_by);
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            recorded.store(signal, Ordering::Relaxed);
            if let Some(pid) = i32::try_from(qemu).ok().and_then(Pid::from_raw) {
                let _ = rustix::process::kill_process(pid, Signal::TERM);
            }
        }
    });
    stopped_by
}

/// QEMU's stderr lines left out: its warnings about CPU features KVM does
/// not list (kvm_pvm lists fewer than it runs; the image checks the
/// features it needs itself), and its note that the signal kiln passed on
/// ended it.
fn is_noise(line: &str) -> bool {
    line.contains("warning: host doesn't support requested feature")
        || line.contains("terminating on signal")
}
