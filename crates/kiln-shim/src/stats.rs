//! `Stats`: the monitor's CPU time and host memory, as the cgroup v1
//! metrics containerd's clients (`ctr task metrics`, CRI) decode.
//!
//! A Kiln guest is one host process, so the process's own counters are the
//! container's: CPU time of all its threads (the vCPUs included) and its
//! resident memory (the guest pages it touched, and the monitor's own).

use containerd_shim::protos::cgroups::metrics::{
    CPUStat, CPUUsage, MemoryEntry, MemoryStat, Metrics,
};
use containerd_shim::protos::protobuf::MessageField;
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::util::convert_to_any;

/// The metrics of process `pid`, packed for a `StatsResponse`.
pub fn of(pid: u32) -> Result<Any, String> {
    let read = |file: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/{file}"))
            .map_err(|e| format!("/proc/{pid}/{file}: {e}"))
    };
    let (user, kernel) = cpu_ticks(&read("stat")?).ok_or("cannot parse /proc/PID/stat")?;
    let resident_pages: u64 = read("statm")?
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .ok_or("cannot parse /proc/PID/statm")?;
    // SAFETY: sysconf takes no pointers.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    // SAFETY: as above.
    let page_size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64;
    let ns = |ticks: u64| ticks * (1_000_000_000 / ticks_per_second);
    let rss = resident_pages * page_size;
    let metrics = Metrics {
        cpu: MessageField::some(CPUStat {
            usage: MessageField::some(CPUUsage {
                total: ns(user + kernel),
                user: ns(user),
                kernel: ns(kernel),
                ..Default::default()
            }),
            ..Default::default()
        }),
        memory: MessageField::some(MemoryStat {
            rss,
            total_rss: rss,
            usage: MessageField::some(MemoryEntry {
                usage: rss,
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    convert_to_any(Box::new(metrics)).map_err(|e| e.to_string())
}

/// utime and stime (clock ticks) from a `/proc/PID/stat` line. The command
/// name, in parentheses, may hold spaces, so fields count from its end.
fn cpu_ticks(stat: &str) -> Option<(u64, u64)> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let user = fields.next()?.parse().ok()?;
    let kernel = fields.next()?.parse().ok()?;
    Some((user, kernel))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_read_after_the_command_name() {
        let stat = "42 (kiln (x) y) S 1 42 42 0 -1 4194560 100 0 0 0 250 31 0 0 20 0 3 0";
        assert_eq!(cpu_ticks(stat), Some((250, 31)));
    }

    #[test]
    fn a_live_process_has_metrics() {
        let any = of(std::process::id()).expect("metrics of this process");
        assert_eq!(any.type_url, "io.containerd.cgroups.v1.Metrics");
    }
}
