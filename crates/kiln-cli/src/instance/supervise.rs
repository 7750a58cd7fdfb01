//! The supervisor: `kiln supervise ID`, one process per active instance.
//!
//! It runs the monitor (`kiln run ...`) as its child, copies the child's
//! stdout and stderr into the console log, records each start and end, and
//! starts the program again as the restart policy says, backing off from
//! 100 ms to 10 s between quick failures. SIGTERM (from `kiln stop`) ends
//! the monitor with SIGTERM and, after the stop timeout, SIGKILL.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use super::log::LogWriter;
use super::store::now_ms;
use super::{Instance, RestartPolicy, State, Status, Store, proc};
use crate::Outcome;
use crate::exit_code::{FAULT, Failure, HOST, OUT_OF_MEMORY, PANIC, VIOLATION};

/// The first pause before starting a failed program again; it doubles for
/// each quick failure in a row.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest pause.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// A run this long resets the back-off.
const STEADY_RUN: Duration = Duration::from_secs(10);
/// Bytes of the monitor's stderr kept for `last-error.txt`.
const ERROR_TAIL: usize = 64 * 1024;

/// How long `kiln stop` waits before it kills, unless it writes its own
/// (in the instance's `stop-timeout` file).
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// What the signal thread and the run loop share.
#[derive(Default)]
struct Control {
    stopping: AtomicBool,
    monitor_pid: AtomicU32,
}

/// Runs instance `id` until it ends for good or is stopped.
pub fn supervise(id: &str) -> Outcome {
    let store = Store::open()?;
    let instance = store.find(id)?;
    let control = Arc::new(Control::default());
    watch_signals(&instance, Arc::clone(&control))?;
    let log = LogWriter::open(&instance.log_path())
        .map_err(|e| Failure::new(HOST, format!("opening the log: {e}")))?;
    let log = Arc::new(Mutex::new(log));
    let mut restarts = 0;
    let mut backoff = FIRST_BACKOFF;
    loop {
        let mut state = State::starting(proc::me(), restarts);
        let started = Instant::now();
        let status = match run_once(&instance, &control, &log, &mut state) {
            Ok(status) => status,
            Err(error) => {
                finish(&instance, &mut state, None, Some(error.message))?;
                return Ok(ExitCode::SUCCESS);
            }
        };
        let code = exit_code(status);
        if control.stopping.load(Ordering::SeqCst) {
            stopped(&instance, &mut state, Some(code))?;
            return Ok(ExitCode::SUCCESS);
        }
        if !should_restart(instance.config.restart, code, restarts) {
            finish(&instance, &mut state, Some(code), Some(describe(code)))?;
            return Ok(ExitCode::SUCCESS);
        }
        if started.elapsed() >= STEADY_RUN {
            backoff = FIRST_BACKOFF;
        }
        state.status = Status::Restarting;
        state.exit_code = Some(code);
        state.finished_ms = Some(now_ms());
        state.message = Some(format!("{}; restarting in {backoff:?}", describe(code)));
        instance.write_state(&state)?;
        if !pause(backoff, &control) {
            stopped(&instance, &mut state, Some(code))?;
            return Ok(ExitCode::SUCCESS);
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
        restarts += 1;
    }
}

/// One run of the monitor, recorded as running while it lasts.
fn run_once(
    instance: &Instance,
    control: &Control,
    log: &Arc<Mutex<LogWriter>>,
    state: &mut State,
) -> Result<ExitStatus, Failure> {
    let exe = std::env::current_exe()
        .map_err(|e| Failure::new(HOST, format!("cannot find the kiln binary: {e}")))?;
    let mut child: Child = Command::new(exe)
        .arg("run")
        .arg(format!("--stats-file={}", instance.stats_path().display()))
        // Before the user's flags: a --core of theirs wins.
        .arg(format!("--core={}", instance.core_path().display()))
        .arg(format!("--core-limit={}", super::store::CORE_LIMIT))
        .arg(format!(
            "--control-socket={}",
            instance.control_path().display()
        ))
        .args(&instance.config.run_args)
        .env(proc::SUPERVISOR_ENV, std::process::id().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Failure::new(HOST, format!("cannot start the monitor: {e}")))?;
    control.monitor_pid.store(child.id(), Ordering::SeqCst);
    state.monitor_pid = Some(child.id());
    instance.write_state(state)?;
    let error_tail = Arc::new(Mutex::new(Vec::new()));
    let pumps = [
        child.stdout.take().map(|out| pump(out, log, None)),
        child
            .stderr
            .take()
            .map(|err| pump(err, log, Some(Arc::clone(&error_tail)))),
    ];
    let status = child.wait();
    control.monitor_pid.store(0, Ordering::SeqCst);
    for pump in pumps.into_iter().flatten() {
        let _ = pump.join();
    }
    let status = status.map_err(|e| Failure::new(HOST, format!("waiting for the monitor: {e}")))?;
    let crashed = [PANIC, FAULT, VIOLATION, OUT_OF_MEMORY].map(i32::from);
    if crashed.contains(&exit_code(status)) {
        let tail = error_tail.lock().unwrap_or_else(|e| e.into_inner());
        let _ = crate::state::write_private(&instance.last_error_path(), &tail);
    }
    Ok(status)
}

/// Copies a monitor stream into the log (and the last of stderr into `tail`).
fn pump(
    mut stream: impl Read + Send + 'static,
    log: &Arc<Mutex<LogWriter>>,
    tail: Option<Arc<Mutex<Vec<u8>>>>,
) -> thread::JoinHandle<()> {
    let log = Arc::clone(log);
    thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        while let Ok(n @ 1..) = stream.read(&mut buf) {
            // A log that cannot be written loses output; the guest runs on.
            let _ = log
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .write(&buf[..n]);
            if let Some(tail) = &tail {
                let mut tail = tail.lock().unwrap_or_else(|e| e.into_inner());
                tail.extend_from_slice(&buf[..n]);
                let excess = tail.len().saturating_sub(ERROR_TAIL);
                tail.drain(..excess);
            }
        }
    })
}

/// On SIGTERM or SIGINT: stop the monitor, forcefully after the timeout.
fn watch_signals(instance: &Instance, control: Arc<Control>) -> Result<(), Failure> {
    let mut signals = Signals::new([SIGTERM, SIGINT])
        .map_err(|e| Failure::new(HOST, format!("cannot watch signals: {e}")))?;
    let dir = instance.dir.clone();
    thread::spawn(move || {
        for _ in signals.forever() {
            control.stopping.store(true, Ordering::SeqCst);
            let timeout = stop_timeout(&dir);
            let pid = control.monitor_pid.load(Ordering::SeqCst);
            if pid != 0 {
                proc::signal(pid, false);
                let control = Arc::clone(&control);
                thread::spawn(move || {
                    thread::sleep(timeout);
                    if control.monitor_pid.load(Ordering::SeqCst) == pid {
                        proc::signal(pid, true);
                    }
                });
            }
        }
    });
    Ok(())
}

/// The stop timeout `kiln stop -t` left for this instance.
fn stop_timeout(dir: &Path) -> Duration {
    std::fs::read_to_string(dir.join("stop-timeout"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .map_or(DEFAULT_STOP_TIMEOUT, Duration::from_millis)
}

/// Sleeps `duration` unless a stop comes first; false if it did.
fn pause(duration: Duration, control: &Control) -> bool {
    let until = Instant::now() + duration;
    while Instant::now() < until {
        if control.stopping.load(Ordering::SeqCst) {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
    !control.stopping.load(Ordering::SeqCst)
}

fn finish(
    instance: &Instance,
    state: &mut State,
    code: Option<i32>,
    message: Option<String>,
) -> Result<(), Failure> {
    state.status = Status::Exited;
    write_end(instance, state, code, message)
}

/// Records that `kiln stop` ended the instance (`code` is what the stop
/// left: 143 after SIGTERM, 137 after the forced kill).
fn stopped(instance: &Instance, state: &mut State, code: Option<i32>) -> Result<(), Failure> {
    state.status = Status::Stopped;
    write_end(instance, state, code, Some("stopped".into()))
}

fn write_end(
    instance: &Instance,
    state: &mut State,
    code: Option<i32>,
    message: Option<String>,
) -> Result<(), Failure> {
    state.monitor_pid = None;
    state.exit_code = code.or(state.exit_code);
    state.finished_ms = Some(now_ms());
    state.message = message;
    instance.write_state(state)
}

/// `kiln run`'s exit code, or 128 + the signal that ended it.
fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(-1)
}

/// Whether the policy starts the program again after it ended with `code`,
/// having already restarted it `restarts` times.
fn should_restart(policy: RestartPolicy, code: i32, restarts: u32) -> bool {
    match policy {
        RestartPolicy::No => false,
        RestartPolicy::Always => true,
        RestartPolicy::OnFailure(max) => code != 0 && max.is_none_or(|max| restarts < max),
    }
}

/// A few words on how a run ended.
fn describe(code: i32) -> String {
    match code {
        0 => "exited with 0".into(),
        c if c == i32::from(PANIC) => "the guest panicked".into(),
        c if c == i32::from(FAULT) => "the guest faulted".into(),
        c if c == i32::from(VIOLATION) => "the guest broke the hypercall ABI".into(),
        c if c == i32::from(OUT_OF_MEMORY) => "the guest ran out of memory".into(),
        c if c > 128 => format!("the monitor was killed by signal {}", c - 128),
        c => format!("exited with {c}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policies_decide_as_docker_does() {
        let on_failure_3 = RestartPolicy::OnFailure(Some(3));
        assert!(!should_restart(RestartPolicy::No, 1, 0));
        assert!(should_restart(RestartPolicy::Always, 0, 100));
        assert!(!should_restart(on_failure_3, 0, 0));
        assert!(should_restart(on_failure_3, 134, 2));
        assert!(!should_restart(on_failure_3, 134, 3));
        assert!(should_restart(RestartPolicy::OnFailure(None), 1, 1000));
    }
}
