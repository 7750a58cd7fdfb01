//! `kiln serve`: listen on a host port with no instance running, boot
//! instances when connections arrive, and stop them when idle.
//!
//! `kiln serve` owns the host port. Connections are held by the accept loop
//! until they send ([`admission`], which also bounds them); each that sends
//! gets a thread that takes an instance from the [`pool`] (booting one when
//! none has room) and [`proxy`]s bytes between the client and the instance,
//! which is a
//! child `kiln run` publishing the guest port on a private loopback port,
//! prepared ahead as a [`spare`] and listed in the instance store by
//! [`records`].

mod admission;
mod pool;
mod proxy;
mod records;
mod spare;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use clap::Args;
use kiln_monitor::net::Protocol;
use kiln_monitor::{Image, ImageFile};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::exit_code::{Failure, HOST, IMAGE, UNAVAILABLE, USAGE};
use crate::guest_build::{self, Verbosity};
use crate::units::{parse_cpus, parse_duration, parse_memory};
use crate::{BuildOptions, Outcome};

/// Arguments of `kiln serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// An image file, a crate directory to build first, or an image
    /// reference (pulled first if it is not stored here).
    target: PathBuf,
    /// The port to serve and the guest port to pass connections to:
    /// [HOST_IP:]HOST_PORT:GUEST_PORT (TCP).
    #[arg(
        short = 'p',
        long = "publish",
        required = true,
        value_name = "[HOST_IP:]HOST_PORT:GUEST_PORT"
    )]
    publish: String,
    /// Stop an instance after this long without a connection, e.g. 30s.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    idle: Duration,
    /// Run at most this many instances at once.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    max: u16,
    /// Hold and proxy at most this many client connections at once
    /// (lowered to fit the descriptor limit); at the bound a new one
    /// replaces the longest-silent one, or waits in the backlog.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
    /// Close a connection that sends nothing for this long after it
    /// connects (no instance is booted for it).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    handshake_timeout: Duration,
    /// Close a proxied connection after this long without a byte either way.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    connection_idle_timeout: Duration,
    /// Do not keep a monitor prepared for the next boot (it has no VM but
    /// holds its network backend: with --net user a passt, about 20 MiB);
    /// cold requests then also wait for the monitor (and passt) to start.
    #[arg(long)]
    no_spare: bool,
    /// The instances' network: `user` (passt: the guest also reaches the
    /// host's network and DNS) or `ports` (the monitor forwards the served
    /// port itself: lighter and faster to start, but the guest reaches
    /// nothing else). See `kiln run --net`.
    #[arg(long, default_value = "user", value_parser = ["user", "ports"])]
    net: String,
    /// Each instance's guest memory limit, e.g. 512M or 1G (default: the
    /// image's, else 3G).
    #[arg(short = 'm', long, value_parser = parse_memory)]
    memory: Option<u64>,
    /// Each instance's vCPUs, 1 to 16 (default: the host's CPUs, at most
    /// 16); see `kiln run --cpus`.
    #[arg(long, value_name = "N", value_parser = parse_cpus)]
    cpus: Option<u32>,
    /// Set a guest environment variable: KEY=VALUE, or KEY to pass the host's value.
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Give each instance a host directory (repeatable): HOST_DIR:GUEST_DIR[:ro].
    #[arg(short = 'v', long = "volume", value_name = "HOST_DIR:GUEST_DIR[:ro]")]
    volumes: Vec<String>,
    #[command(flatten)]
    build: BuildOptions,
    /// Arguments for the guest program (after `--`).
    #[arg(last = true)]
    args: Vec<String>,
}

/// Serves until SIGINT or SIGTERM, which stop the instances.
pub fn serve(args: ServeArgs) -> Outcome {
    let usage = |why: String| Failure::new(USAGE, why);
    let forward = crate::run::net::parse_publish(&args.publish)
        .map_err(|why| usage(format!("invalid --publish '{}': {why}", args.publish)))?;
    if forward.protocol != Protocol::Tcp {
        return Err(usage("kiln serve serves TCP only".into()));
    }
    // Checked once here: a bad value would otherwise fail every boot.
    crate::run::guest_env(&args.env)?;
    crate::run::volume::parse_volumes(&args.volumes)?;
    if args.net == "user" && !crate::run::net::passt_installed() {
        return Err(usage("passt is not installed: apt install passt".into()));
    }
    let mut args = args;
    let image = resolve(&mut args)?;
    let memory = args.memory.unwrap_or(crate::run::DEFAULT_MEMORY);
    let host_ip = forward.host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let listener = TcpListener::bind(SocketAddr::new(host_ip, forward.host_port)).map_err(|e| {
        Failure::new(
            UNAVAILABLE,
            format!("cannot listen on {host_ip}:{}: {e}", forward.host_port),
        )
    })?;
    let mut run_args = vec![format!("--memory={memory}"), format!("--net={}", args.net)];
    run_args.extend(args.cpus.map(|cpus| format!("--cpus={cpus}")));
    run_args.extend(args.env.iter().map(|e| format!("--env={e}")));
    run_args.extend(args.volumes.iter().map(|v| format!("--volume={v}")));
    run_args.push(image.to_string_lossy().into_owned());
    let address = listener.local_addr().map_or_else(
        |_| format!("{host_ip}:{}", forward.host_port),
        |a| a.to_string(),
    );
    let mut recorded_args = run_args.clone();
    if !args.args.is_empty() {
        recorded_args.push("--".into());
        recorded_args.extend(args.args.iter().cloned());
    }
    let records = records::Records::open(image, recorded_args, memory, address);
    let pool = pool::Pool::start(
        pool::Plan {
            run_args,
            guest_args: args.args,
            guest_port: forward.guest_port,
            idle: args.idle,
            max: usize::from(args.max),
            spare: !args.no_spare,
        },
        records,
    );
    stop_on_signal(Arc::clone(&pool))?;
    if let Ok(addr) = listener.local_addr() {
        tell!("kiln serve: listening on {addr}");
    }
    raise_descriptor_limit();
    admission::run(
        &listener,
        &pool,
        admission::Limits {
            max: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
            handshake: args.handshake_timeout,
            idle: args.connection_idle_timeout,
        },
    )
    .map_err(|e| Failure::new(HOST, format!("cannot accept connections: {e}")))?;
    Ok(ExitCode::SUCCESS)
}

/// The image to boot, built first for a crate directory, pulled first for
/// a reference that is not stored (whose settings fill in what the command
/// line leaves out, as for `kiln run`); a file is checked now, so a bad one
/// is one error at start rather than one per connection.
fn resolve(args: &mut ServeArgs) -> Result<PathBuf, Failure> {
    if args.target.is_dir() {
        return Ok(guest_build::build(&args.target, &args.build, Verbosity::Quiet)?.image);
    }
    if crate::images::is_reference_like(&args.target) {
        let image = crate::images::resolve_for_run(&args.target.to_string_lossy())?;
        image.fill_in(&mut args.memory, &mut args.env, &mut args.args);
        return Ok(image.elf);
    }
    let path = &args.target;
    let file = ImageFile::open(path)
        .map_err(|e| Failure::new(IMAGE, format!("cannot open {}: {e}", path.display())))?;
    Image::parse(file.bytes())
        .map_err(|e| Failure::new(IMAGE, format!("{}: {e}", path.display())))?;
    std::path::absolute(path)
        .map_err(|e| Failure::new(IMAGE, format!("cannot open {}: {e}", path.display())))
}

/// Raises the soft descriptor limit to the hard one, as servers do: the
/// connection bound is lowered to fit the soft limit, and the default soft
/// limit (often 1024) is a compatibility setting for `select`, which kiln
/// does not use.
fn raise_descriptor_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        let _ = setrlimit(Resource::Nofile, limit);
    }
}

/// SIGINT and SIGTERM stop the instances, then kiln serve exits as killed
/// by that signal would (128 + signal).
fn stop_on_signal(pool: Arc<pool::Pool>) -> Result<(), Failure> {
    let mut signals = Signals::new([SIGINT, SIGTERM])
        .map_err(|e| Failure::new(HOST, format!("cannot handle signals: {e}")))?;
    thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            pool.shutdown();
            std::process::exit(128 + signal);
        }
    });
    Ok(())
}
