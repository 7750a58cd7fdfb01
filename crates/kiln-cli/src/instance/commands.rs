//! The instance commands: `ps`, `logs`, `stop`, `start`, `rm`, and
//! `inspect` of an instance; [`launch`] serves `kiln run -d`.

use std::io::Write;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::log::{self, Cursor};
use super::store::now_ms;
use super::supervise::DEFAULT_STOP_TIMEOUT;
use super::{Config, Instance, State, Status, Store, proc};
use crate::Outcome;
use crate::exit_code::{Failure, HOST, USAGE};
use crate::guest_build::human_size;

/// How a listing is printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Columns for people.
    #[default]
    Table,
    /// JSON for programs.
    Json,
}

/// How long a supervisor may take to report its first start.
const START_WAIT: Duration = Duration::from_secs(5);

/// Creates an instance and starts its supervisor; returns once the
/// supervisor has recorded the start (or an immediate end).
pub fn launch(config: Config) -> Result<Instance, Failure> {
    let store = Store::open()?;
    let instance = store.create(config)?;
    start_supervisor(&instance)?;
    Ok(instance)
}

fn start_supervisor(instance: &Instance) -> Result<(), Failure> {
    let exe = std::env::current_exe()
        .map_err(|e| Failure::new(HOST, format!("cannot find the kiln binary: {e}")))?;
    let before = instance.state()?.started_ms;
    // Its own process group: a Ctrl-C meant for the shell's foreground
    // job does not reach it.
    std::os::unix::process::CommandExt::process_group(
        Command::new(exe)
            .args(["supervise", &instance.id])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
        0,
    )
    .spawn()
    .map_err(|e| Failure::new(HOST, format!("cannot start the supervisor: {e}")))?;
    let deadline = Instant::now() + START_WAIT;
    while Instant::now() < deadline {
        let state = instance.state()?;
        if state.started_ms != before && (state.monitor_pid.is_some() || state.status.ended()) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Err(Failure::new(
        HOST,
        format!("instance {}: the supervisor did not start", instance.id),
    ))
}

/// One line of `kiln ps`, and its JSON form.
#[derive(Serialize)]
struct Row {
    id: String,
    name: String,
    image: String,
    status: Status,
    /// Seconds since it started (running) or ended (exited).
    since_s: Option<u64>,
    exit_code: Option<i32>,
    restarts: u32,
    /// Host memory of the monitor (its own and the guest's touched pages).
    memory_bytes: Option<u64>,
    /// Guest memory configured.
    guest_memory_bytes: u64,
    restart: String,
    message: Option<String>,
}

fn row(instance: &Instance, state: &State) -> Row {
    let since = match state.status {
        Status::Running => state.started_ms,
        _ => state.finished_ms,
    };
    Row {
        id: instance.id.clone(),
        name: instance.config.name.clone(),
        image: instance
            .config
            .reference
            .clone()
            .unwrap_or_else(|| instance.config.image.display().to_string()),
        status: state.status,
        since_s: since.map(|t| now_ms().saturating_sub(t) / 1000),
        exit_code: state.exit_code,
        restarts: state.restarts,
        memory_bytes: state.monitor_pid.and_then(proc::resident_bytes),
        guest_memory_bytes: instance.config.memory,
        restart: instance.config.restart.to_string(),
        message: state.message.clone(),
    }
}

fn print_json(value: &impl Serialize) -> Outcome {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::new(HOST, format!("encoding JSON: {e}")))?;
    say!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// `1h02m`, `3m05s`, `42s`.
fn human_duration(seconds: u64) -> String {
    match seconds {
        s if s >= 86400 => format!("{}d{:02}h", s / 86400, s % 86400 / 3600),
        s if s >= 3600 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

/// `kiln ps`: active instances, or all with `all`.
pub fn ps(all: bool, format: Format) -> Outcome {
    let store = Store::open()?;
    let mut rows = Vec::new();
    for instance in store.list()? {
        let state = instance.state()?;
        if all || !state.status.ended() {
            rows.push(row(&instance, &state));
        }
    }
    if format == Format::Json {
        return print_json(&rows);
    }
    say!(
        "{:<12}  {:<20}  {:<16}  {:<24}  {:>9}  {}",
        "ID",
        "NAME",
        "IMAGE",
        "STATUS",
        "MEMORY",
        "RESTARTS"
    );
    for r in rows {
        let since = r.since_s.map_or_else(String::new, human_duration);
        let status = match (r.status, r.exit_code) {
            (Status::Running, _) => format!("up {since}"),
            (Status::Restarting, code) => format!("restarting ({})", code.unwrap_or(-1)),
            (Status::Stopped, _) => format!("stopped {since} ago"),
            (Status::Exited, Some(code)) => format!("exited ({code}) {since} ago"),
            // Ended without a code: its supervisor (or kiln serve) died.
            (Status::Exited, None) if r.since_s.is_some() => format!("exited {since} ago"),
            (Status::Exited, None) => "created".into(),
        };
        let image = std::path::Path::new(&r.image)
            .file_name()
            .map_or(r.image.clone(), |n| n.to_string_lossy().into_owned());
        say!(
            "{:<12}  {:<20}  {:<16}  {:<24}  {:>9}  {}",
            r.id,
            r.name,
            image,
            status,
            r.memory_bytes.map_or_else(|| "-".into(), human_size),
            r.restarts
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `kiln logs`: the console output, the last `tail` lines of it, and with
/// `follow` what comes next until the instance ends.
pub fn logs(key: &str, follow: bool, tail: Option<usize>) -> Outcome {
    let instance = Store::open()?.find(key)?;
    if let Some(server) = &instance.config.served_by {
        return Err(Failure::new(
            USAGE,
            format!(
                "instance {} runs on demand: its output goes to the stderr of kiln serve {} (pid {})",
                instance.config.name, server.address, server.pid
            ),
        ));
    }
    let path = instance.log_path();
    let (text, mut cursor): (Vec<u8>, Cursor) = log::tail(&path, tail)
        .map_err(|e| Failure::new(HOST, format!("reading {}: {e}", path.display())))?;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(&text).and_then(|()| out.flush());
    if !follow {
        return Ok(ExitCode::SUCCESS);
    }
    loop {
        // Read after checking, so the last output before the end is not missed.
        let active = instance.is_active()?;
        let new = log::read_new(&path, &mut cursor)
            .map_err(|e| Failure::new(HOST, format!("reading {}: {e}", path.display())))?;
        let closed = out.write_all(&new).and_then(|()| out.flush()).is_err();
        if closed || (!active && new.is_empty()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(ExitCode::SUCCESS)
}

/// `kiln stop`: ends instances (SIGTERM to the monitor, SIGKILL after
/// `timeout`) and waits until their supervisors have recorded it.
pub fn stop(keys: &[String], timeout: Option<Duration>) -> Outcome {
    let store = Store::open()?;
    let instances = keys
        .iter()
        .map(|key| store.find(key))
        .collect::<Result<Vec<_>, _>>()?;
    end(&instances, timeout.unwrap_or(DEFAULT_STOP_TIMEOUT))?;
    for instance in &instances {
        say!("{}", instance.config.name);
    }
    Ok(ExitCode::SUCCESS)
}

/// Signals the instances' supervisors to stop them and waits until they
/// have recorded it. An instance `kiln serve` runs has no supervisor of its
/// own: its monitor is signalled, and kiln serve removes its record.
fn end(instances: &[Instance], timeout: Duration) -> Result<(), Failure> {
    let mut served = Vec::new();
    for instance in instances {
        let state = instance.state()?;
        let Some((pid, _)) = state.supervisor.filter(|_| !state.status.ended()) else {
            continue;
        };
        if instance.config.served_by.is_some() {
            if let Some(monitor) = state.monitor_pid.filter(|&m| proc::parent(m) == Some(pid)) {
                proc::signal(monitor, false);
                served.push((instance, monitor));
            }
            continue;
        }
        let _ = crate::state::write_private(
            &instance.dir.join("stop-timeout"),
            timeout.as_millis().to_string().as_bytes(),
        );
        proc::signal(pid, false);
    }
    // The supervisor kills the monitor at the timeout (for kiln serve's,
    // this does); a little more for it to record the end.
    let started = Instant::now();
    let deadline = started + timeout + Duration::from_secs(5);
    let mut killed = false;
    for instance in instances {
        while still_active(instance)? {
            if !killed && started.elapsed() >= timeout {
                for (instance, monitor) in &served {
                    if still_active(instance)? {
                        proc::signal(*monitor, true);
                    }
                }
                killed = true;
            }
            if Instant::now() >= deadline {
                return Err(Failure::new(
                    HOST,
                    format!("instance {} did not stop", instance.config.name),
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    Ok(())
}

/// Whether an instance still runs; one whose record is gone (kiln serve
/// removes its instances' records as they end) does not.
fn still_active(instance: &Instance) -> Result<bool, Failure> {
    match instance.is_active() {
        Err(_) if !instance.dir.join("config.json").exists() => Ok(false),
        other => other,
    }
}

/// `kiln start`: starts stopped instances again.
pub fn start(keys: &[String]) -> Outcome {
    let store = Store::open()?;
    for key in keys {
        let instance = store.find(key)?;
        if let Some(server) = &instance.config.served_by {
            return Err(Failure::new(
                USAGE,
                format!(
                    "instance {} is started on demand by kiln serve {} (pid {})",
                    instance.config.name, server.address, server.pid
                ),
            ));
        }
        if instance.is_active()? {
            return Err(Failure::new(
                USAGE,
                format!("instance {} is already running", instance.config.name),
            ));
        }
        start_supervisor(&instance)?;
        say!("{}", instance.config.name);
    }
    Ok(ExitCode::SUCCESS)
}

/// `kiln rm`: deletes instances' records; running ones only with `force`
/// (which stops them first, at once).
pub fn rm(keys: &[String], force: bool) -> Outcome {
    let store = Store::open()?;
    for key in keys {
        let instance = store.find(key)?;
        if instance.is_active()? {
            if !force {
                return Err(Failure::new(
                    USAGE,
                    format!(
                        "instance {} is running: stop it first, or kiln rm --force",
                        instance.config.name
                    ),
                ));
            }
            end(std::slice::from_ref(&instance), Duration::ZERO)?;
        }
        store.remove(&instance)?;
        say!("{}", instance.config.name);
    }
    Ok(ExitCode::SUCCESS)
}

/// What `kiln inspect` says of an instance.
#[derive(Serialize)]
struct Inspection<'a> {
    id: &'a str,
    directory: String,
    config: &'a Config,
    state: &'a State,
    log: String,
    /// The monitor's report of the last crash.
    last_error: Option<String>,
    /// The core file of the last crash, if it left one.
    core: Option<String>,
}

/// Whether an instance has this name or id.
pub fn exists(key: &str) -> Result<bool, Failure> {
    Ok(Store::open()?.lookup(key)?.is_some())
}

/// `kiln inspect` of an instance.
pub fn inspect(key: &str, format: Format) -> Outcome {
    let instance = Store::open()?.lookup(key)?.ok_or_else(|| {
        Failure::new(
            USAGE,
            format!("'{key}' is neither an image file, an instance's name nor a stored image"),
        )
    })?;
    let state = instance.state()?;
    let last_error = std::fs::read_to_string(instance.last_error_path()).ok();
    let inspection = Inspection {
        id: &instance.id,
        directory: instance.dir.display().to_string(),
        config: &instance.config,
        state: &state,
        log: instance.log_path().display().to_string(),
        last_error,
        core: instance
            .core_path()
            .is_file()
            .then(|| instance.core_path().display().to_string()),
    };
    if format == Format::Json {
        return print_json(&inspection);
    }
    let r = row(&instance, &state);
    say!("instance:  {} ({})", instance.config.name, instance.id);
    say!("image:     {}", instance.config.image.display());
    if let Some(reference) = &instance.config.reference {
        say!("reference: {reference}");
    }
    say!("run:       kiln run {}", instance.config.run_args.join(" "));
    say!("restart:   {} ({} restarts)", r.restart, r.restarts);
    say!("status:    {}", state.status);
    if let Some(code) = state.exit_code {
        say!("exit code: {code}");
    }
    if let Some(message) = &state.message {
        say!("message:   {message}");
    }
    if let Some(bytes) = r.memory_bytes {
        say!(
            "memory:    {} (guest memory {})",
            human_size(bytes),
            human_size(r.guest_memory_bytes)
        );
    }
    say!("log:       {}", inspection.log);
    if let Some(core) = &inspection.core {
        let size = std::fs::metadata(core).map_or(0, |m| m.len());
        say!(
            "core:      {core} ({}; open with: gdb {} {core})",
            human_size(size),
            instance.config.image.display()
        );
    }
    if let Some(report) = &inspection.last_error {
        say!("last crash:\n{report}");
    }
    Ok(ExitCode::SUCCESS)
}

/// What `kiln stats` reports of a running instance.
#[derive(Serialize)]
struct Stats {
    name: String,
    id: String,
    status: Status,
    /// CPU time the monitor has used (guest and monitor), in seconds.
    cpu_seconds: Option<f64>,
    /// CPU time of each running vCPU's thread: (vCPU, seconds).
    vcpu_cpu_seconds: Vec<(u32, f64)>,
    /// Host memory of the monitor: its own pages and the guest pages touched.
    memory_bytes: Option<u64>,
    guest_memory_bytes: u64,
    /// VM exits by kind.
    exits: std::collections::BTreeMap<&'static str, u64>,
    console_bytes: [u64; 2],
    /// Volume bytes read and written.
    volume_bytes: [u64; 2],
    /// Network frame bytes the guest received and sent.
    network_bytes: [u64; 2],
}

/// `kiln stats`: what each instance's current run uses.
pub fn stats(keys: &[String], format: Format) -> Outcome {
    let store = Store::open()?;
    let mut all = Vec::new();
    for key in keys {
        let instance = store.find(key)?;
        let state = instance.state()?;
        let pid = state.monitor_pid;
        // Counters of the last run remain after it ends.
        let counters = kiln_monitor::stats::read(&instance.stats_path()).unwrap_or_default();
        all.push(Stats {
            name: instance.config.name.clone(),
            id: instance.id.clone(),
            status: state.status,
            cpu_seconds: pid.and_then(proc::cpu_seconds),
            vcpu_cpu_seconds: pid.map_or_else(Vec::new, |pid| {
                counters
                    .vcpu_threads
                    .iter()
                    .filter_map(|&(vcpu, tid)| Some((vcpu, proc::thread_cpu_seconds(pid, tid)?)))
                    .collect()
            }),
            memory_bytes: pid.and_then(proc::resident_bytes),
            guest_memory_bytes: instance.config.memory,
            exits: counters.exits.into_iter().filter(|(_, n)| *n > 0).collect(),
            console_bytes: counters.console,
            volume_bytes: counters.volume,
            network_bytes: counters.network,
        });
    }
    if format == Format::Json {
        return print_json(&all);
    }
    for s in all {
        say!("{} ({}): {}", s.name, s.id, s.status);
        let cpu = s
            .cpu_seconds
            .map_or_else(|| "-".into(), |c| format!("{c:.2} s"));
        let memory = s.memory_bytes.map_or_else(|| "-".into(), human_size);
        say!(
            "  cpu {cpu}, memory {memory} (guest memory {})",
            human_size(s.guest_memory_bytes)
        );
        if !s.vcpu_cpu_seconds.is_empty() {
            let vcpus: Vec<String> = s
                .vcpu_cpu_seconds
                .iter()
                .map(|(vcpu, seconds)| format!("vCPU {vcpu} {seconds:.2} s"))
                .collect();
            say!("  cpu by vCPU: {}", vcpus.join(", "));
        }
        let exits: Vec<String> = s.exits.iter().map(|(k, n)| format!("{k} {n}")).collect();
        say!(
            "  exits: {}",
            if exits.is_empty() {
                "-".into()
            } else {
                exits.join(", ")
            }
        );
        say!(
            "  console {} out, {} err; volumes {} read, {} written; network {} in, {} out",
            human_size(s.console_bytes[0]),
            human_size(s.console_bytes[1]),
            human_size(s.volume_bytes[0]),
            human_size(s.volume_bytes[1]),
            human_size(s.network_bytes[0]),
            human_size(s.network_bytes[1])
        );
    }
    Ok(ExitCode::SUCCESS)
}
