//! Instances: `kiln run -d`, `ps`, `logs`, `stop`, `start`, `rm`,
//! `inspect`, restart policies, and records that outlive the CLI and the
//! processes behind them.
//!
//! Each test has a state directory of its own (`KILN_STATE_DIR`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Run, code, image, kiln, require_kvm};

/// A kiln CLI bound to one state directory.
struct Kiln {
    state: PathBuf,
}

impl Kiln {
    fn new(test: &str) -> Self {
        require_kvm();
        let state =
            std::env::temp_dir().join(format!("kiln-instances-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&state);
        Self { state }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = kiln();
        command.env("KILN_STATE_DIR", &self.state).args(args);
        command
    }

    fn run(&self, args: &[&str]) -> Run {
        self.command(args).output().expect("run kiln").into()
    }

    /// Runs and expects success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args);
        assert_eq!(run.code, 0, "kiln {args:?}: {}", run.stderr);
        run.stdout
    }

    /// `kiln run -d IMAGE` with `flags`; returns the id.
    fn detach(&self, image: &Path, flags: &[&str], guest_args: &[&str]) -> String {
        let image = image.to_str().expect("utf-8 path");
        let mut args = vec!["run", "-d"];
        args.extend(flags);
        args.push(image);
        args.push("--");
        args.extend(guest_args);
        self.ok(&args).trim().to_string()
    }

    /// `kiln ps -a --format json`, as parsed JSON.
    fn ps(&self) -> Vec<serde_json::Value> {
        serde_json::from_str(&self.ok(&["ps", "-a", "--format", "json"])).expect("ps JSON")
    }

    fn instance(&self, name: &str) -> serde_json::Value {
        self.ps()
            .into_iter()
            .find(|i| i["name"] == name)
            .unwrap_or_else(|| panic!("no instance {name} in ps"))
    }

    /// Waits until `name` satisfies `done`.
    fn wait_for(
        &self,
        name: &str,
        what: &str,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let instance = self.instance(name);
            if done(&instance) {
                return instance;
            }
            assert!(Instant::now() < deadline, "{name} never {what}: {instance}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Kiln {
    fn drop(&mut self) {
        // Nothing may keep running after a test, whatever it left behind.
        let _ = self
            .command(&["ps", "--format", "json"])
            .output()
            .map(|out| {
                let list: Vec<serde_json::Value> =
                    serde_json::from_slice(&out.stdout).unwrap_or_default();
                for instance in list {
                    if let Some(id) = instance["id"].as_str() {
                        let _ = self.command(&["rm", "--force", id]).output();
                    }
                }
            });
    }
}

/// Whether process `pid` runs (a zombie does not).
fn is_alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().to_string())
        })
        .is_some_and(|rest| !rest.starts_with('Z'))
}

fn probe() -> PathBuf {
    image("tests/guests/probe", false)
}

#[test]
fn run_detached_then_ps_logs_stop_start_and_rm() {
    let kiln = Kiln::new("lifecycle");
    let id = kiln.detach(&probe(), &["--name", "ticker"], &["ticks"]);
    assert_eq!(id.len(), 12, "an id: {id}");
    let running = kiln.instance("ticker");
    assert_eq!(
        (running["status"].as_str(), running["id"].as_str()),
        (Some("running"), Some(id.as_str()))
    );
    assert!(
        running["memory_bytes"].as_u64().is_some_and(|m| m > 0),
        "{running}"
    );
    let table = kiln.ok(&["ps"]);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with(&id) && l.contains("ticker") && l.contains("up ")),
        "{table}"
    );

    // Output keeps coming, and the log has it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !kiln.ok(&["logs", "ticker"]).contains("tick 3\n") {
        assert!(Instant::now() < deadline, "no ticks in the log");
        std::thread::sleep(Duration::from_millis(20));
    }
    let last = kiln.ok(&["logs", "--tail", "1", &id[..6]]);
    assert!(
        last.starts_with("tick ") && last.lines().count() == 1,
        "{last:?}"
    );

    let stats: serde_json::Value =
        serde_json::from_str(&kiln.ok(&["stats", "--format", "json", "ticker"])).expect("JSON");
    let stats = &stats[0];
    assert!(stats["exits"]["block"].as_u64() >= Some(3), "{stats}");
    assert!(stats["console_bytes"][0].as_u64() >= Some(28), "{stats}");
    assert!(stats["cpu_seconds"].as_f64().is_some(), "{stats}");
    kiln.run(&["rm", "ticker"])
        .assert_clean_error(code::USAGE, "is running");
    let started = Instant::now();
    assert_eq!(kiln.ok(&["stop", "ticker"]), "ticker\n");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stop took {:?}",
        started.elapsed()
    );
    let stopped = kiln.instance("ticker");
    assert_eq!(stopped["status"], "stopped");
    assert_eq!(stopped["message"], "stopped");
    let listed = kiln.ok(&["ps", "-a"]);
    assert!(
        listed.contains(" stopped ") && !listed.contains("exited"),
        "ps -a says the user stopped it:\n{listed}"
    );
    assert_eq!(
        kiln.ok(&["ps"]).lines().count(),
        1,
        "ps without -a lists only the header"
    );

    kiln.ok(&["start", "ticker"]);
    kiln.wait_for("ticker", "ran again", |i| i["status"] == "running");
    kiln.ok(&["rm", "--force", "ticker"]);
    assert!(kiln.ps().is_empty());
    kiln.run(&["logs", "ticker"])
        .assert_clean_error(code::USAGE, "no instance named 'ticker'");
}

#[test]
fn logs_follow_streams_until_the_instance_ends() {
    let kiln = Kiln::new("follow");
    kiln.detach(
        &image("examples/sleep", false),
        &["--name", "napper"],
        &["300"],
    );
    let started = Instant::now();
    let follow = kiln.ok(&["logs", "--follow", "napper"]);
    assert!(follow.starts_with("slept "), "{follow:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_crashing_program_restarts_as_the_policy_says_then_stays_down() {
    let kiln = Kiln::new("on-failure");
    kiln.detach(
        &image("examples/panic", false),
        &["--name", "crashy", "--restart", "on-failure:3"],
        &[],
    );
    let done = kiln.wait_for("crashy", "gave up", |i| i["status"] == "exited");
    assert_eq!(done["restarts"], 3, "{done}");
    assert_eq!(done["exit_code"], 134, "{done}");
    assert_eq!(done["message"], "the guest panicked");
    let log = kiln.ok(&["logs", "crashy"]);
    assert_eq!(
        log.matches("guest panicked at").count(),
        4,
        "four runs in the log:\n{log}"
    );
    let inspect: serde_json::Value =
        serde_json::from_str(&kiln.ok(&["inspect", "crashy", "--format", "json"])).expect("JSON");
    let report = inspect["last_error"].as_str().expect("a crash report");
    assert!(
        report.contains("the answer was 42") && report.contains("backtrace:"),
        "{report}"
    );
    assert_eq!(inspect["config"]["restart"]["policy"], "on-failure");
}

#[test]
fn always_restarts_a_program_that_ends_well_until_stopped() {
    let kiln = Kiln::new("always");
    kiln.detach(
        &image("examples/exit-code", false),
        &["--name", "again", "--restart", "always"],
        &["0"],
    );
    kiln.wait_for("again", "restarted twice", |i| {
        i["restarts"].as_u64() >= Some(2)
    });
    kiln.ok(&["stop", "again"]);
    let stopped = kiln.instance("again");
    assert_eq!(
        (stopped["status"].as_str(), stopped["message"].as_str()),
        (Some("stopped"), Some("stopped"))
    );
}

#[test]
fn names_are_unique_and_unknown_instances_are_clear_errors() {
    let kiln = Kiln::new("names");
    kiln.detach(&probe(), &["--name", "only"], &["block-forever"]);
    let again = kiln.run(&[
        "run",
        "-d",
        "--name",
        "only",
        probe().to_str().expect("utf-8"),
    ]);
    again.assert_clean_error(code::USAGE, "the name 'only' is taken");
    kiln.run(&[
        "run",
        "-d",
        "--name",
        "../x",
        probe().to_str().expect("utf-8"),
    ])
    .assert_clean_error(code::USAGE, "invalid instance name '../x'");
    kiln.run(&["stop", "ghost"])
        .assert_clean_error(code::USAGE, "no instance named 'ghost'");
    kiln.run(&["run", "--name", "x", "image"])
        .assert_clean_error(code::USAGE, "--detach");
    kiln.run(&["run", "-d", "--restart", "sometimes", "image"])
        .assert_clean_error(code::USAGE, "sometimes");
}

#[test]
fn records_stay_true_when_the_processes_behind_them_are_killed() {
    let kiln = Kiln::new("killed");
    kiln.detach(&probe(), &["--name", "victim"], &["block-forever"]);
    kiln.detach(&probe(), &["--name", "orphan"], &["block-forever"]);

    // The monitor dies: its supervisor records how.
    let victim = kiln.instance("victim");
    let inspect: serde_json::Value =
        serde_json::from_str(&kiln.ok(&["inspect", "victim", "--format", "json"])).expect("JSON");
    let monitor = inspect["state"]["monitor_pid"]
        .as_u64()
        .expect("a monitor pid");
    assert!(victim["memory_bytes"].as_u64().is_some());
    Command::new("kill")
        .args(["-KILL", &monitor.to_string()])
        .status()
        .expect("kill");
    let dead = kiln.wait_for("victim", "was recorded dead", |i| i["status"] == "exited");
    assert_eq!(dead["exit_code"], 137, "{dead}");

    // The supervisor dies: ps finds out and says so.
    let inspect: serde_json::Value =
        serde_json::from_str(&kiln.ok(&["inspect", "orphan", "--format", "json"])).expect("JSON");
    let supervisor = inspect["state"]["supervisor"][0]
        .as_u64()
        .expect("a supervisor pid");
    let monitor = inspect["state"]["monitor_pid"]
        .as_u64()
        .expect("a monitor pid");
    Command::new("kill")
        .args(["-KILL", &supervisor.to_string()])
        .status()
        .expect("kill");
    let ghost = kiln.wait_for("orphan", "was found dead", |i| i["status"] == "exited");
    assert_eq!(ghost["message"], "its supervisor ended unexpectedly");
    // And its monitor went with it.
    let deadline = Instant::now() + Duration::from_secs(5);
    while is_alive(monitor) {
        assert!(
            Instant::now() < deadline,
            "the monitor outlived its supervisor"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `kiln stats` counts the frame bytes a networked instance receives and
/// sends: at least what its clients' requests and responses carried.
#[test]
fn stats_count_the_network_bytes_of_a_published_server() {
    use std::io::{Read, Write};
    let kiln = Kiln::new("network");
    let image = image("examples/http-hello", true);
    let port = common::free_port();
    let publish = format!("127.0.0.1:{port}:80");
    kiln.detach(&image, &["--name", "web", "-p", &publish], &[]);
    const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: kiln\r\nConnection: close\r\n\r\n";
    let mut answered = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    for _ in 0..5 {
        let mut response = Vec::new();
        loop {
            assert!(Instant::now() < deadline, "http-hello does not answer");
            let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            };
            let _ = stream.write_all(REQUEST);
            let _ = stream.read_to_end(&mut response);
            if response.starts_with(b"HTTP/1.1 200") {
                break;
            }
            response.clear();
        }
        answered += response.len() as u64;
    }
    let stats: serde_json::Value =
        serde_json::from_str(&kiln.ok(&["stats", "--format", "json", "web"])).expect("JSON");
    let [received, sent] = [0, 1].map(|i| stats[0]["network_bytes"][i].as_u64().unwrap_or(0));
    assert!(received >= 5 * REQUEST.len() as u64, "{stats}");
    assert!(sent >= answered, "{stats}");
    kiln.ok(&["rm", "-f", "web"]);
}

#[test]
fn an_instance_is_its_own_host_unless_told_otherwise() {
    let kiln = Kiln::new("hostname");
    let guest = image("tests/guests/std-devfiles", false);
    let cat = ["cat", "/etc/hostname"];
    kiln.detach(&guest, &["--name", "named-host"], &cat);
    kiln.detach(&guest, &["--name", "told", "--hostname", "other"], &cat);
    let id = kiln.detach(&guest, &[], &cat);
    let generated = kiln
        .ps()
        .into_iter()
        .find(|i| i["id"] == id.as_str())
        .and_then(|i| i["name"].as_str().map(String::from))
        .expect("the unnamed instance in ps");
    for (name, host) in [
        ("named-host", "named-host"),
        ("told", "other"),
        (generated.as_str(), generated.as_str()),
    ] {
        kiln.wait_for(name, "exited", |i| i["status"] == "exited");
        assert_eq!(
            kiln.ok(&["logs", name]),
            format!("{host}\n"),
            "instance {name}"
        );
    }
}

/// `kiln stats` shows the CPU time of each vCPU of a running instance:
/// busy threads on two vCPUs keep both busy.
#[test]
fn stats_show_the_cpu_time_of_each_vcpu() {
    let kiln = Kiln::new("vcpu-stats");
    let smp = image("tests/guests/std-smp", false);
    kiln.detach(
        &smp,
        &["--name", "busy", "--cpus", "2", "--timeout", "60s"],
        &["busy", "30"],
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while !kiln.ok(&["logs", "busy"]).contains("busy\n") {
        assert!(Instant::now() < deadline, "the instance never got busy");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Both vCPUs compute; how fast their CPU time grows depends on the
    // host's load, so wait until each shows 0.2 s (a vCPU whose time is
    // never counted fails at the deadline) rather than for a fixed time.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let stats: serde_json::Value =
            serde_json::from_str(&kiln.ok(&["stats", "--format", "json", "busy"])).expect("JSON");
        let per_vcpu = stats[0]["vcpu_cpu_seconds"]
            .as_array()
            .unwrap_or_else(|| panic!("no per-vCPU CPU time: {stats}"))
            .clone();
        assert_eq!(per_vcpu.len(), 2, "{stats}");
        for (index, entry) in per_vcpu.iter().enumerate() {
            assert_eq!(entry[0].as_u64(), Some(index as u64), "{stats}");
        }
        let busy = per_vcpu
            .iter()
            .all(|entry| entry[1].as_f64().is_some_and(|seconds| seconds >= 0.2));
        if busy {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a vCPU barely ran in 30 s: {stats}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let text = kiln.ok(&["stats", "busy"]);
    assert!(
        text.contains("vCPU 0 ") && text.contains("vCPU 1 "),
        "{text}"
    );
    kiln.ok(&["stop", "busy"]);
}

/// Every directory and file under `dir`, `dir` itself first.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut paths = vec![dir.to_path_buf()];
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() && !path.is_symlink() {
            paths.extend(tree(&path));
        } else {
            paths.push(path);
        }
    }
    paths
}

/// The state directory holds `-e` values (often secrets) and console logs:
/// all of it is its owner's alone, whatever the umask, and a directory an
/// older kiln left open to all is closed at first use.
#[test]
fn the_state_directory_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let kiln = Kiln::new("private");
    // What an older kiln left: open directories and readable files.
    let old = kiln.state.join("instances/0123456789ab");
    std::fs::create_dir_all(&old).expect("old record");
    std::fs::write(old.join("config.json"), "{}").expect("old config");
    for path in tree(&kiln.state) {
        let mode = if path.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
    // The loosest umask: modes must come from kiln, not from it.
    let umask0 = |args: &[&str]| {
        let mut command = Command::new("sh");
        command
            .args([
                "-c",
                "umask 000; exec \"$0\" \"$@\"",
                env!("CARGO_BIN_EXE_kiln"),
            ])
            .args(args)
            .env("KILN_STATE_DIR", &kiln.state);
        let run: Run = command.output().expect("run kiln").into();
        assert_eq!(run.code, 0, "kiln {args:?}: {}", run.stderr);
    };
    let image = probe();
    umask0(&[
        "run",
        "-d",
        "--name",
        "secretive",
        "-e",
        "TOKEN=hunter2",
        image.to_str().expect("utf-8"),
        "--",
        "ticks",
    ]);
    // An image stored: its blobs, index and unpacked program.
    let guest = common::root().join("tests/guests/probe");
    umask0(&["build", guest.to_str().expect("utf-8"), "-t", "private:v1"]);
    umask0(&["run", "private:v1", "--", "env"]);
    kiln.wait_for("secretive", "logged", |_| {
        kiln.ok(&["logs", "secretive"]).contains("tick 1")
    });
    let open: Vec<String> = tree(&kiln.state)
        .iter()
        .filter_map(|path| {
            let mode = std::fs::symlink_metadata(path).ok()?.permissions().mode();
            (mode & 0o077 != 0).then(|| format!("{} {:o}", path.display(), mode & 0o777))
        })
        .collect();
    assert!(open.is_empty(), "open to others: {open:#?}");
    assert!(
        tree(&kiln.state.join("images/blobs/sha256")).len() > 3,
        "no blobs checked"
    );
    let instances = tree(&kiln.state.join("instances"));
    for name in ["config.json", "state.json", "console.log", "stats"] {
        assert!(
            instances.iter().any(|p| p.ends_with(name)),
            "no {name} checked in {instances:?}"
        );
    }
}

/// Killing `kiln run -d` at any moment leaves either nothing (the name is
/// free again) or a complete instance that `ps -a` lists and `rm` removes;
/// never a name taken by an instance nothing can see.
#[test]
fn a_killed_run_leaves_nothing_or_a_removable_instance() {
    let kiln = Kiln::new("killed-run");
    let image = probe();
    let image = image.to_str().expect("utf-8");
    // The kills are spread evenly over one whole `kiln run -d`.
    let started = Instant::now();
    kiln.detach(&probe(), &["--name", "timing"], &["block-forever"]);
    let whole = started.elapsed();
    kiln.ok(&["rm", "--force", "timing"]);
    let tries = 150u32;
    for i in 0..tries {
        let name = format!("k{i}");
        let mut run = kiln
            .command(&["run", "-d", "--name", &name, image, "--", "block-forever"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start kiln run -d");
        std::thread::sleep(whole * i / tries);
        let _ = run.kill();
        let _ = run.wait();
    }
    let listed: Vec<String> = kiln
        .ps()
        .iter()
        .filter_map(|i| i["name"].as_str().map(str::to_string))
        .collect();
    let mut left = 0;
    for i in 0..tries {
        let name = format!("k{i}");
        if listed.contains(&name) {
            left += 1;
        } else {
            // Nothing was left: the name is free.
            kiln.detach(&probe(), &["--name", &name], &["block-forever"]);
        }
        assert_eq!(kiln.ok(&["rm", "--force", &name]), format!("{name}\n"));
    }
    assert!(kiln.ps().is_empty(), "{:?}", kiln.ps());
    eprintln!("{left} of {tries} killed runs left an instance");
}
