//! Host processes: liveness, signals, and what `/proc` says of their use.

use rustix::process::{Pid, Signal};

/// The fields of `/proc/PID/stat` after the command name (which may itself
/// hold spaces and parentheses).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    fields_after_name(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// The fields of a `stat` line after the command name.
fn fields_after_name(stat: &str) -> Option<Vec<String>> {
    let after_name = stat.rsplit_once(')')?.1;
    Some(after_name.split_whitespace().map(String::from).collect())
}

/// CPU seconds (user + system) from a `stat` line's fields.
fn fields_cpu_seconds(fields: &[String]) -> Option<f64> {
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // Linux reports in USER_HZ, 100 on every architecture Kiln runs on.
    Some(ticks as f64 / 100.0)
}

/// When process `pid` started (clock ticks since boot), to tell it from a
/// later process that reuses its id.
pub fn start_time(pid: u32) -> Option<u64> {
    // Field 22 of the line; 20 after the name (state is the first).
    stat_fields(pid)?.get(19)?.parse().ok()
}

/// The parent of process `pid`.
pub fn parent(pid: u32) -> Option<u32> {
    // Field 4 of the line; 2 after the name.
    stat_fields(pid)?.get(1)?.parse().ok()
}

/// Whether process `pid`, started at `started`, still runs (a zombie
/// counts as ended).
pub fn is_alive(pid: u32, started: u64) -> bool {
    stat_fields(pid).is_some_and(|f| {
        f.first().is_some_and(|state| state != "Z") && f.get(19) == Some(&started.to_string())
    })
}

/// CPU time (user + system) process `pid` has used, in seconds.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    fields_cpu_seconds(&stat_fields(pid)?)
}

/// CPU time (user + system) thread `tid` of process `pid` has used, in
/// seconds.
pub fn thread_cpu_seconds(pid: u32, tid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")).ok()?;
    fields_cpu_seconds(&fields_after_name(&stat)?)
}

/// Resident memory of process `pid`, in bytes: for a monitor, its own
/// pages plus the guest memory the guest has touched.
pub fn resident_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Sends SIGTERM (or SIGKILL with `force`) to `pid`; a process that is
/// already gone is not an error.
pub fn signal(pid: u32, force: bool) {
    let signal = if force { Signal::KILL } else { Signal::TERM };
    if let Some(pid) = Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process(pid, signal);
    }
}

/// This process's id and start time.
pub fn me() -> (u32, u64) {
    let pid = std::process::id();
    (pid, start_time(pid).unwrap_or(0))
}

/// The variable a supervisor sets for its monitor: its own process id.
pub const SUPERVISOR_ENV: &str = "KILN_SUPERVISOR_PID";

/// In a monitor started by a supervisor: die with the supervisor, so an
/// instance never outlives its records. The check after the request closes
/// the race with a supervisor that died before it.
pub fn die_with_supervisor() {
    let Some(supervisor) = std::env::var(SUPERVISOR_ENV)
        .ok()
        .and_then(|v| v.parse::<i32>().ok())
    else {
        return;
    };
    let _ = rustix::process::set_parent_process_death_signal(Some(Signal::KILL));
    if rustix::process::getppid()
        .map(Pid::as_raw_nonzero)
        .map(|p| p.get())
        != Some(supervisor)
    {
        std::process::exit(128 + 9);
    }
}
