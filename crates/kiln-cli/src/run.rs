//! `kiln run`: boot an image (building it first when given a crate).

mod detach;
mod external;
pub mod firecracker;
pub mod gdb;
mod hostname;
pub mod net;
pub mod profile;
pub mod qemu;
pub mod volume;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use kiln_monitor::clock::{format_ns, host_now_ns};
use kiln_monitor::core_dump::{CoreConfig, CoreWritten};
use kiln_monitor::net::NetError;
use kiln_monitor::profile::{DEFAULT_HZ, ProfileConfig};
use kiln_monitor::{BootError, ImageFile, Outcome as GuestOutcome, RunSummary, VmConfig};

use crate::exit_code::{
    FAULT, Failure, HOST, IMAGE, KILLED, OUT_OF_MEMORY, PANIC, TIMEOUT, UNAVAILABLE, USAGE,
    VIOLATION,
};
use crate::guest_build::{self, Verbosity};
use crate::instance::RestartPolicy;
use crate::units::{default_cpus, parse_cpus, parse_duration, parse_memory, parse_size};
use crate::{BuildOptions, Outcome};

/// Arguments of `kiln run`. `--profile` is the flame graph's here, so
/// cargo's profile of a crate built first is `--build-profile`.
#[derive(Args, Debug)]
#[command(mut_arg("profile", |a| a.long("build-profile")))]
pub struct RunArgs {
    /// An image file, a crate directory to build first, or an image
    /// reference (pulled first if it is not stored here).
    target: PathBuf,
    /// The guest memory limit, e.g. 512M or 1G (default: the image's, else
    /// 3G): memory is mapped as the guest grows into it, and only what it
    /// touches costs host memory.
    #[arg(short = 'm', long, value_parser = parse_memory)]
    memory: Option<u64>,
    /// The vCPUs a program with threads runs on, 1 to 16 (default: the
    /// host's CPUs, at most 16). A program without threads gets one.
    #[arg(long, value_name = "N", value_parser = parse_cpus)]
    cpus: Option<u32>,
    /// Set a guest environment variable: KEY=VALUE, or KEY to pass the host's value.
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// End the guest after this long, e.g. 10s or 500ms (exit code 124).
    #[arg(long, value_parser = parse_duration)]
    timeout: Option<Duration>,
    /// Give the guest a host directory (repeatable): HOST_DIR:GUEST_DIR,
    /// read-only with :ro.
    #[arg(short = 'v', long = "volume", value_name = "HOST_DIR:GUEST_DIR[:ro]")]
    volumes: Vec<String>,
    /// Publish a guest port on the host (repeatable), as Docker does:
    /// [HOST_IP:]HOST_PORT:GUEST_PORT[/tcp|/udp]. Implies --net user
    /// unless --net ports is given.
    #[arg(
        short = 'p',
        long = "publish",
        value_name = "[HOST_IP:]HOST_PORT:GUEST_PORT[/PROTO]"
    )]
    publish: Vec<String>,
    /// The guest's network: `user` (rootless, through passt; the guest is
    /// 10.0.2.15/24, gateway 10.0.2.2 (the host), DNS 10.0.2.3; the
    /// default with -p), `ports` (the -p ports only, forwarded by the
    /// monitor itself, lighter and faster to start than passt; the guest
    /// can reach nothing else: its own connections fail or time out, as on
    /// an isolated network, and it has no DNS), `tap:NAME` (an existing
    /// TAP device; addresses from --ip and --gateway) or `none` (the
    /// default without -p).
    #[arg(long, value_name = "user|ports|tap:NAME|none")]
    net: Option<String>,
    /// The guest's address on a TAP network, as CIDR (default 10.0.2.15/24).
    #[arg(long, value_name = "IPV4/PREFIX")]
    ip: Option<String>,
    /// The gateway on a TAP network (default 10.0.2.2).
    #[arg(long, value_name = "IPV4")]
    gateway: Option<String>,
    /// The guest's MAC address on a TAP network (default
    /// 52:54:00:12:34:56): give each guest on one bridge its own.
    #[arg(long, value_name = "XX:XX:XX:XX:XX:XX")]
    mac: Option<String>,
    /// The DNS server the guest asks for names, with any network (user
    /// mode's default: 10.0.2.3, passt's forwarder to the host's resolver;
    /// a TAP network has none without it).
    #[arg(long, value_name = "IPV4")]
    dns: Option<String>,
    /// Print a boot timeline and VM exit counts on stderr.
    #[arg(long)]
    verbose: bool,
    /// Log each call into Kiln's C library, with its result, on stderr
    /// (std programs).
    #[arg(long)]
    trace_libc: bool,
    /// If the guest crashes (panic, fault, abort) or runs past --timeout,
    /// write an ELF core file here that `gdb IMAGE CORE` opens: every
    /// thread's registers and the memory the guest touched. The last one given wins (an instance's
    /// supervisor gives one under the instance's directory).
    #[arg(long, value_name = "PATH", overrides_with = "core")]
    core: Option<PathBuf>,
    /// The most bytes the core file may take, e.g. 256M: the highest
    /// touched memory is left out beyond it (default: no limit).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, overrides_with = "core_limit")]
    core_limit: Option<u64>,
    /// Sample the guest's stacks while it runs and write a flame graph
    /// here (an SVG), with the folded stacks beside it (FILE.folded), for
    /// other tools.
    #[arg(long = "profile", id = "flame_graph", value_name = "FILE.svg")]
    flame_graph: Option<PathBuf>,
    /// Samples per second of each vCPU's CPU time, 1 to 1000 (the default,
    /// 99, costs the guest well under 1%).
    #[arg(long, value_name = "HZ", requires = "flame_graph", value_parser = clap::value_parser!(u32).range(1..=1000))]
    profile_rate: Option<u32>,
    /// Start the guest stopped and wait for gdb's remote protocol on this
    /// port, on loopback (127.0.0.1) unless an address is given
    /// (ADDR:PORT); then `gdb IMAGE -ex 'target remote :PORT'`. Port 0
    /// picks a free one, which the waiting line names.
    #[arg(long, value_name = "[ADDR:]PORT", value_parser = gdb::parse_address, conflicts_with_all = ["detach", "standby"])]
    gdb: Option<std::net::SocketAddr>,
    /// Listen on this Unix socket for `kiln debug` (set by an instance's
    /// supervisor, in the instance's directory).
    #[arg(long, hide = true, value_name = "PATH", conflicts_with = "gdb")]
    control_socket: Option<PathBuf>,
    /// Publish live counters in this file (set by an instance's supervisor
    /// for `kiln stats`).
    #[arg(long, hide = true, value_name = "PATH")]
    stats_file: Option<PathBuf>,
    /// Prepare everything up to creating the VM, the network backend
    /// included, then wait for a byte on stdin to boot (EOF: exit). `kiln
    /// serve` keeps one such monitor ready, so a cold request does not wait
    /// for process and passt start-up.
    #[arg(long, hide = true, conflicts_with = "detach")]
    standby: bool,
    /// Run in the background as an instance and print its id (see `kiln
    /// ps`, `logs`, `stop`).
    #[arg(short = 'd', long)]
    detach: bool,
    /// The guest's host name (`uname`, `gethostname`, `/etc/hostname`): 1 to
    /// 64 letters, digits, '_', '.' and '-'. Default: the instance's name
    /// with --detach, otherwise the program's name and six random hex digits.
    #[arg(long, value_name = "NAME", value_parser = hostname::check)]
    hostname: Option<String>,
    /// The program's starting working directory, an absolute guest path
    /// (default `/`), as `docker run -w`: it should exist in the guest (a
    /// volume, a baked directory, `/tmp`).
    #[arg(short = 'w', long, value_name = "DIR", value_parser = parse_workdir)]
    workdir: Option<String>,
    /// The instance's name (with --detach; default: the program's name and
    /// the start of the id).
    #[arg(long, requires = "detach")]
    name: Option<String>,
    /// Start the program again when it ends (with --detach): no,
    /// on-failure[:MAX_RESTARTS] or always.
    #[arg(long, requires = "detach", default_value = "no")]
    restart: RestartPolicy,
    #[command(flatten)]
    build: BuildOptions,
    /// Where the image boots: `kiln` (Kiln's own monitor, the default),
    /// `qemu` (QEMU's microvm machine through PVH, with KVM), `qemu-tcg`
    /// (the same without KVM) or `firecracker` (through PVH; the binary is
    /// `KILN_FIRECRACKER`, else `firecracker` on PATH).
    #[arg(long, value_enum, default_value = "kiln")]
    hypervisor: Hypervisor,
    /// Arguments for the guest program (after `--`).
    #[arg(last = true)]
    args: Vec<String>,
}

/// `kiln run --hypervisor`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hypervisor {
    /// Kiln's own monitor.
    Kiln,
    /// QEMU microvm with KVM.
    Qemu,
    /// QEMU microvm with its TCG translator.
    QemuTcg,
    /// Firecracker.
    Firecracker,
}

/// Runs the guest; the exit code is the guest's status or a Kiln failure code.
pub fn run(args: RunArgs, started_ns: u64) -> Outcome {
    crate::instance::die_with_supervisor();
    let volumes = volume::parse_volumes(&args.volumes)?;
    let net = match args.hypervisor {
        Hypervisor::Kiln => net::parse(&net::NetArgs {
            publish: &args.publish,
            net: args.net.as_deref(),
            ip: args.ip.as_deref(),
            gateway: args.gateway.as_deref(),
            mac: args.mac.as_deref(),
            dns: args.dns.as_deref(),
        })?,
        // Another VMM's own networking (QEMU's user networking, which
        // `qemu::run` sets up; `external::check` refuses what it lacks).
        Hypervisor::Qemu | Hypervisor::QemuTcg | Hypervisor::Firecracker => None,
    };
    let mut args = args;
    let (image_path, name) = resolve(&mut args)?;
    match args.hypervisor {
        Hypervisor::Kiln => {}
        Hypervisor::Qemu => return qemu::run(&args, &image_path, &name, qemu::Accel::Kvm),
        Hypervisor::QemuTcg => return qemu::run(&args, &image_path, &name, qemu::Accel::Tcg),
        Hypervisor::Firecracker => return firecracker::run(&args, &image_path, &name),
    }
    if args.detach {
        let reference = crate::images::is_reference_like(&args.target)
            .then(|| args.target.to_string_lossy().into_owned());
        return detach::start(&args, &image_path, reference, &volumes);
    }
    let file = ImageFile::open(&image_path)
        .map_err(|e| Failure::new(IMAGE, format!("cannot open {}: {e}", image_path.display())))?;
    let image = file
        .image()
        .map_err(|e| Failure::new(IMAGE, format!("{}: {e}", image_path.display())))?;
    let mut config = VmConfig {
        memory: args.memory(),
        argv: std::iter::once(name.clone()).chain(args.args).collect(),
        env: guest_env(&args.env)?,
        timeout: args.timeout,
        process_start_ns: started_ns,
        trace_libc: args.trace_libc,
        volumes,
        stats_file: args.stats_file.clone(),
        image_file: Some(file.id()),
        net,
        hostname: hostname::choose(args.hostname.as_deref(), &name)?,
        workdir: args.workdir.clone(),
        // A standby monitor's stdin carries `kiln serve`'s order to boot,
        // not the guest's input; an instance's supervisor gives /dev/null.
        stdin: !args.standby,
        cpus: args.cpus.unwrap_or_else(default_cpus),
        monitor_user: monitor_user()?,
        core: args.core.clone().map(|path| CoreConfig {
            path,
            limit: args.core_limit.unwrap_or(u64::MAX),
        }),
        profile: args.flame_graph.as_ref().map(|_| ProfileConfig {
            hz: args.profile_rate.unwrap_or(DEFAULT_HZ),
        }),
        gdb: None,
        control: args
            .control_socket
            .as_deref()
            .map(gdb::control_socket)
            .transpose()?,
    };
    let boot_failure = |e| match e {
        BootError::Layout(e) => Failure::new(IMAGE, e),
        // Taken since the check before the build, or busy.
        e @ BootError::Net(NetError::Ports(_) | NetError::Tap { .. }) => {
            Failure::new(UNAVAILABLE, e)
        }
        other => Failure::new(HOST, other),
    };
    let profile_writer = args
        .flame_graph
        .as_deref()
        .map(profile::Outputs::create)
        .transpose()?
        .map(|outputs| outputs.spawn(format!("kiln run {}", config.argv.join(" "))));
    if let Some(address) = args.gdb {
        config.gdb = Some(gdb::wait_for_gdb(address, &image_path)?);
    }
    let net = kiln_monitor::start_network(&config).map_err(boot_failure)?;
    if args.standby {
        if !wait_for_boot()? {
            return Ok(ExitCode::SUCCESS);
        }
        // The timeline counts from the order to boot, not from the wait.
        config.process_start_ns = host_now_ns(libc::CLOCK_MONOTONIC);
    }
    let summary = kiln_monitor::run_on(&image, &config, net).map_err(boot_failure)?;
    if args.verbose {
        print_timeline(&summary);
    }
    if let (Some(writer), Some(samples)) = (profile_writer, &summary.profile)
        && let Err(e) = writer.finish(samples, file.bytes())
    {
        tell!("kiln: {e}");
    }
    match summary.outcome {
        GuestOutcome::Exited(status) => Ok(ExitCode::from(status as u8)),
        GuestOutcome::Crashed(report) => {
            tell_raw!("{report}");
            if let (Some(path), Some(core)) = (&args.core, &summary.core) {
                tell_core(path, core);
            }
            Ok(ExitCode::from(if report.kind.is_panic() {
                PANIC
            } else {
                FAULT
            }))
        }
        GuestOutcome::OutOfMemory { requested } => {
            Err(out_of_memory(requested, summary.memory_limit))
        }
        GuestOutcome::Violation(violation) => Err(Failure::new(
            VIOLATION,
            format!("guest stopped for breaking the hypercall ABI: {violation}"),
        )),
        GuestOutcome::Killed => Err(Failure::new(KILLED, "guest killed from gdb")),
        GuestOutcome::TimedOut => {
            if let (Some(path), Some(core)) = (&args.core, &summary.core) {
                tell_core(path, core);
            }
            Err(Failure::new(
                TIMEOUT,
                format!(
                    "guest still running after --timeout {:?}; stopped",
                    args.timeout.unwrap_or_default()
                ),
            ))
        }
    }
}

/// Says where the core of a crash went, or why it could not be written.
fn tell_core(path: &Path, core: &std::io::Result<CoreWritten>) {
    match core {
        Ok(written) if written.left_out > 0 => tell!(
            "kiln: core written to {} ({}; {} of touched memory left out at --core-limit)",
            path.display(),
            guest_build::human_size(written.bytes),
            guest_build::human_size(written.left_out)
        ),
        Ok(written) => tell!(
            "kiln: core written to {} ({})",
            path.display(),
            guest_build::human_size(written.bytes)
        ),
        Err(e) => tell!("kiln: cannot write the core to {}: {e}", path.display()),
    }
}

/// The one line for a guest that gave up for want of memory: what it asked
/// for, what it has, and the flag that gives it more (double, or enough for
/// the request, in whole MiB).
fn out_of_memory(requested: u64, memory: u64) -> Failure {
    use kiln_abi::layout::{MAX_MEMORY, MEMORY_GRANULE, align_up};
    let what = format!(
        "the guest ran out of memory: an allocation of {} did not fit in its {} MiB",
        guest_build::human_size(requested),
        memory >> 20,
    );
    let suggested = align_up(
        memory
            .saturating_mul(2)
            .max(memory.saturating_add(requested)),
        MEMORY_GRANULE,
    )
    .min(MAX_MEMORY);
    let message = if suggested > memory {
        format!(
            "{what}; give it more with -m (e.g. -m {}M)",
            suggested >> 20
        )
    } else {
        format!("{what}, the most a guest can have")
    };
    Failure::new(OUT_OF_MEMORY, message)
}

/// A standby monitor's wait: a byte on stdin means boot (true), EOF means
/// the spare is no longer wanted (false).
fn wait_for_boot() -> Result<bool, Failure> {
    let mut byte = [0u8; 1];
    loop {
        match std::io::stdin().read(&mut byte) {
            Ok(n) => return Ok(n == 1),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Failure::new(HOST, format!("standby: reading stdin: {e}"))),
        }
    }
}

impl RunArgs {
    /// The memory limit: `-m`, else the image's, else the default.
    fn memory(&self) -> u64 {
        self.memory.unwrap_or(DEFAULT_MEMORY)
    }
}

/// The guest memory limit when neither `-m` nor the image sets one.
pub const DEFAULT_MEMORY: u64 = 3 << 30;

/// The image to run and the program name to give it. A reference's image
/// supplies what the command line leaves out: memory, environment (the
/// command line's `-e` wins) and arguments (replaced by any given).
fn resolve(args: &mut RunArgs) -> Result<(PathBuf, String), Failure> {
    if args.target.is_dir() {
        let built = guest_build::build(&args.target, &args.build, Verbosity::Quiet)?;
        return Ok((built.image, built.name));
    }
    if crate::images::is_reference_like(&args.target) {
        let image = crate::images::resolve_for_run(&args.target.to_string_lossy())?;
        let name = image.fill_in(&mut args.memory, &mut args.env, &mut args.args);
        return Ok((image.elf, name));
    }
    let name = program_name(&args.target);
    Ok((args.target.clone(), name))
}

fn program_name(path: &Path) -> String {
    path.file_stem()
        .map_or_else(|| "kiln-guest".into(), |s| s.to_string_lossy().into_owned())
}

/// `--workdir`: an absolute path the guest can hold (no NUL, at most
/// `WORKDIR_MAX` bytes).
fn parse_workdir(text: &str) -> Result<String, String> {
    if !text.starts_with('/') {
        return Err("must be an absolute path".into());
    }
    if text.contains('\0') || text.len() > kiln_abi::boot::WORKDIR_MAX {
        return Err(format!(
            "must be at most {} bytes, without NUL",
            kiln_abi::boot::WORKDIR_MAX
        ));
    }
    Ok(text.to_string())
}

/// `-e KEY=VALUE` as given; `-e KEY` takes the host's value (and is dropped if unset).
pub fn guest_env(entries: &[String]) -> Result<Vec<String>, Failure> {
    let mut env = Vec::new();
    for entry in entries {
        if entry.is_empty() || entry.starts_with('=') || entry.contains('\0') {
            return Err(Failure::new(
                crate::exit_code::USAGE,
                format!("invalid --env '{entry}': expected KEY=VALUE"),
            ));
        }
        if entry.contains('=') {
            env.push(entry.clone());
        } else if let Ok(value) = std::env::var(entry) {
            env.push(format!("{entry}={value}"));
        }
    }
    Ok(env)
}

fn print_timeline(summary: &RunSummary) {
    let t = &summary.timeline;
    let at = |ns: Option<u64>| ns.map_or_else(|| "-".into(), format_ns);
    tell!("kiln: boot timeline (since the monitor started)");
    tell!("  monitor setup done   {}", format_ns(t.setup_ns));
    tell!("  guest first insn     {}", at(t.guest_entry_ns));
    tell!("  guest main           {}", at(t.guest_main_ns));
    tell!("  guest ended          {}", format_ns(t.end_ns));
    tell!("  VM torn down         {}", format_ns(t.torn_down_ns));
    let total: u64 = summary.exits.values().sum();
    let kinds: Vec<String> = summary
        .exits
        .iter()
        .map(|(kind, count)| format!("{kind} {count}"))
        .collect();
    tell!("kiln: {total} exits: {}", kinds.join(", "));
    tell!(
        "kiln: {} vCPU{}; guest memory {} MiB mapped of {} MiB; console {} bytes out, {} bytes err",
        summary.vcpus,
        if summary.vcpus == 1 { "" } else { "s" },
        summary.memory_mapped >> 20,
        summary.memory_limit >> 20,
        summary.console_bytes[0],
        summary.console_bytes[1]
    );
}

/// `KILN_MONITOR_USER=UID[:GID]`: the user a monitor started as root
/// becomes before the guest runs (see `kiln_monitor::privileges`). An
/// environment variable rather than a flag, so that `kiln run -d`'s
/// supervisor and `kiln serve`'s instances inherit it.
fn monitor_user() -> Result<Option<kiln_monitor::privileges::MonitorUser>, Failure> {
    let Some(value) = std::env::var_os("KILN_MONITOR_USER") else {
        return Ok(None);
    };
    let value = value.to_string_lossy();
    kiln_monitor::privileges::MonitorUser::parse(&value)
        .map(Some)
        .map_err(|why| Failure::new(USAGE, format!("invalid KILN_MONITOR_USER '{value}': {why}")))
}

#[cfg(test)]
mod tests {
    use super::out_of_memory;

    #[test]
    fn out_of_memory_suggests_a_larger_limit_up_to_the_most_a_guest_can_have() {
        let small = out_of_memory(1 << 20, 8 << 20).message;
        assert!(
            small.ends_with("in its 8 MiB; give it more with -m (e.g. -m 16M)"),
            "{small}"
        );
        let default = out_of_memory(1 << 30, 3 << 30).message;
        assert!(default.ends_with("(e.g. -m 4096M)"), "{default}");
        let most = out_of_memory(1 << 20, 4 << 30).message;
        assert!(
            most.ends_with("in its 4096 MiB, the most a guest can have"),
            "{most}"
        );
    }
}
