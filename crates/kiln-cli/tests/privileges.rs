//! Least privilege: a monitor started as root keeps no capability once the
//! guest runs (two, for the file calls of host volumes), in every thread,
//! and becomes `KILN_MONITOR_USER` when one is configured.
//!
//! These check what a root-started monitor gives up, so they must run as
//! root (they fail otherwise, they do not skip).

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{free_port, image, kiln, require_kvm};

/// A detached probe instance on a state directory of its own; removed
/// when dropped.
struct Detached {
    state: PathBuf,
    monitor: u32,
}

impl Detached {
    fn start(test: &str, flags: &[&str], env: &[(&str, &str)]) -> Self {
        require_kvm();
        assert!(
            rustix::process::geteuid().is_root(),
            "this test checks what a monitor started as root gives up: run it as root"
        );
        let state =
            std::env::temp_dir().join(format!("kiln-privileges-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&state);
        let probe = image("tests/guests/probe", false);
        let mut command = kiln();
        command
            .env("KILN_STATE_DIR", &state)
            .envs(env.iter().copied())
            .args(["run", "-d"])
            .args(flags)
            .arg(&probe)
            .args(["--", "ticks"]);
        let run: common::Run = command.output().expect("run kiln").into();
        assert_eq!(run.code, 0, "kiln run -d: {}", run.stderr);
        let id = run.stdout.trim().to_string();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut detached = Self { state, monitor: 0 };
        // The drop happens after setup: wait until the guest has printed.
        loop {
            let logs = detached.kiln(&["logs", &id]);
            let inspect = detached.kiln(&["inspect", &id, "--format", "json"]);
            let inspect: serde_json::Value = serde_json::from_str(&inspect).expect("inspect JSON");
            if let Some(pid) = inspect["state"]["monitor_pid"].as_u64()
                && logs.contains("tick 1")
            {
                detached.monitor = u32::try_from(pid).expect("a pid");
                return detached;
            }
            assert!(Instant::now() < deadline, "the probe never ticked: {logs}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kiln(&self, args: &[&str]) -> String {
        let out = kiln()
            .env("KILN_STATE_DIR", &self.state)
            .args(args)
            .output()
            .expect("run kiln");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Each of the monitor's threads: its name and its status fields.
    fn threads(&self) -> Vec<(String, BTreeMap<String, String>)> {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", self.monitor)).expect("tasks");
        tasks
            .map_while(Result::ok)
            .map(|task| {
                let status = std::fs::read_to_string(task.path().join("status")).expect("status");
                let fields: BTreeMap<String, String> = status
                    .lines()
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.to_string(), v.trim().to_string()))
                    .collect();
                (fields["Name"].clone(), fields)
            })
            .collect()
    }
}

impl Drop for Detached {
    fn drop(&mut self) {
        let listed: Vec<serde_json::Value> =
            serde_json::from_str(&self.kiln(&["ps", "-a", "--format", "json"])).unwrap_or_default();
        let ids = listed.iter().filter_map(|i| i["id"].as_str());
        let _ = Command::new(env!("CARGO_BIN_EXE_kiln"))
            .env("KILN_STATE_DIR", &self.state)
            .args(["rm", "--force"])
            .args(ids)
            .output();
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

const NONE: &str = "0000000000000000";
/// CAP_DAC_OVERRIDE (1) and CAP_FOWNER (3).
const VOLUME_CAPS: &str = "000000000000000a";

fn assert_caps(detached: &Detached, effective: &str) {
    let threads = detached.threads();
    assert!(!threads.is_empty());
    for (name, status) in &threads {
        let caps = |field: &str| status[field].as_str();
        assert_eq!(
            (
                caps("CapEff"),
                caps("CapPrm"),
                caps("CapInh"),
                caps("CapBnd"),
                caps("CapAmb")
            ),
            (effective, effective, NONE, NONE, NONE),
            "thread {name} of the monitor"
        );
        assert_eq!(status["NoNewPrivs"], "1", "thread {name}");
        assert_eq!(status["Seccomp"], "2", "thread {name}");
    }
}

#[test]
fn a_root_monitor_keeps_no_capability_in_any_thread() {
    let port = free_port().to_string();
    let publish = format!("127.0.0.1:{port}:8080");
    let detached = Detached::start(
        "none",
        &["--net", "ports", "-p", &publish, "--cpus", "2"],
        &[],
    );
    assert!(
        detached
            .threads()
            .iter()
            .any(|(name, _)| name == "kiln-ports"),
        "the forwarder's thread is checked too"
    );
    assert_caps(&detached, NONE);
}

#[test]
fn with_volumes_it_keeps_only_what_file_calls_need() {
    let dir = std::env::temp_dir().join(format!("kiln-privileges-vol-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("volume");
    let volume = format!("{}:/data", dir.display());
    let detached = Detached::start("volume", &["-v", &volume], &[]);
    assert_caps(&detached, VOLUME_CAPS);
    drop(detached);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_configured_monitor_user_is_taken_with_no_capability() {
    let detached = Detached::start("user", &[], &[("KILN_MONITOR_USER", "65534:65533")]);
    assert_caps(&detached, NONE);
    for (name, status) in detached.threads() {
        assert_eq!(status["Uid"], "65534\t65534\t65534\t65534", "thread {name}");
        assert_eq!(status["Gid"], "65533\t65533\t65533\t65533", "thread {name}");
        assert_eq!(status["Groups"], "", "thread {name}");
    }
}
