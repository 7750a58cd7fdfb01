//! The instance records on disk.

use std::fmt;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

/// The most bytes an instance's core file takes: enough for the memory a
/// service typically touches, small enough that a crash loop cannot fill
/// the state directory's disk (each crash replaces the last core).
pub const CORE_LIMIT: u64 = 256 << 20;

use serde::{Deserialize, Serialize};

use super::names::Names;
use super::proc;
use crate::exit_code::{Failure, HOST, USAGE};
use crate::state;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// When to start an instance's program again after it ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "policy", content = "max", rename_all = "kebab-case")]
pub enum RestartPolicy {
    /// Never.
    No,
    /// When it ends with a non-zero status, at most this many times (no limit if `None`).
    OnFailure(Option<u32>),
    /// Whenever it ends, until stopped.
    Always,
}

impl FromStr for RestartPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once(':') {
            None if s == "no" => Ok(Self::No),
            None if s == "always" => Ok(Self::Always),
            None if s == "on-failure" => Ok(Self::OnFailure(None)),
            Some(("on-failure", max)) => max
                .parse()
                .map(|max| Self::OnFailure(Some(max)))
                .map_err(|_| format!("'{max}' is not a number of restarts")),
            _ => Err("expected no, on-failure[:N] or always".into()),
        }
    }
}

impl fmt::Display for RestartPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::No => f.write_str("no"),
            Self::OnFailure(None) => f.write_str("on-failure"),
            Self::OnFailure(Some(max)) => write!(f, "on-failure:{max}"),
            Self::Always => f.write_str("always"),
        }
    }
}

/// What to run: written once, when the instance is created.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Config {
    /// The instance's name (unique among instances).
    pub name: String,
    /// The image file (absolute).
    pub image: PathBuf,
    /// The image reference it was started from, if any (`kiln run -d REF`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The `kiln run` arguments that run it (image and program arguments
    /// included), with every host path made absolute.
    pub run_args: Vec<String>,
    /// The restart policy.
    pub restart: RestartPolicy,
    /// Guest memory in bytes.
    pub memory: u64,
    /// Creation time (ms since the Unix epoch).
    pub created_ms: u64,
    /// The `kiln serve` that booted it on demand (it then records the
    /// instance's start and end itself, and no `kiln supervise` runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub served_by: Option<ServedBy>,
}

/// Which `kiln serve` runs an on-demand instance.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ServedBy {
    /// Its process id.
    pub pid: u32,
    /// The address it serves.
    pub address: String,
}

/// Where an instance is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Its program is running.
    Running,
    /// Its program ended and is about to start again (restart policy).
    Restarting,
    /// It ended and will not start again by itself.
    Exited,
    /// `kiln stop` ended it (its exit code is what the stop left, 143
    /// after SIGTERM); it will not start again by itself.
    Stopped,
}

impl Status {
    /// Whether it ended for good (exited or stopped): nothing runs.
    pub fn ended(self) -> bool {
        matches!(self, Self::Exited | Self::Stopped)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Running => "running",
            Self::Restarting => "restarting",
            Self::Exited => "exited",
            Self::Stopped => "stopped",
        })
    }
}

/// What the supervisor records.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct State {
    /// Where it is.
    pub status: Status,
    /// The supervisor's process id and start time (to tell a reused pid).
    pub supervisor: Option<(u32, u64)>,
    /// The monitor's process id, while it runs.
    pub monitor_pid: Option<u32>,
    /// When the current (or last) run started (ms since the Unix epoch).
    pub started_ms: Option<u64>,
    /// When it ended.
    pub finished_ms: Option<u64>,
    /// The last run's exit code (as `kiln run` gives it: the guest's
    /// status, or Kiln's own code, e.g. 134 for a guest panic).
    pub exit_code: Option<i32>,
    /// How often the restart policy started it again.
    pub restarts: u32,
    /// Why it is in this state, when that is worth saying.
    pub message: Option<String>,
}

impl State {
    /// The state of an instance whose supervisor is starting.
    pub fn starting(supervisor: (u32, u64), restarts: u32) -> Self {
        Self {
            status: Status::Running,
            supervisor: Some(supervisor),
            monitor_pid: None,
            started_ms: Some(now_ms()),
            finished_ms: None,
            exit_code: None,
            restarts,
            message: None,
        }
    }
}

/// One instance.
#[derive(Clone, Debug)]
pub struct Instance {
    /// Its id: 12 hex digits.
    pub id: String,
    /// Its directory.
    pub dir: PathBuf,
    /// What it runs.
    pub config: Config,
}

fn io_failure(what: &str, path: &Path, error: std::io::Error) -> Failure {
    Failure::new(HOST, format!("{what} {}: {error}", path.display()))
}

/// Writes `value` as JSON to `path` atomically and durably: a reader sees
/// the old or the new file, never half of one, and after a crash the new
/// one if this returned. The temporary file has a name of its own, so two
/// writers never share one.
fn write_json(path: &Path, value: &impl Serialize) -> Result<(), Failure> {
    let json = serde_json::to_vec_pretty(value)
        .map_err(|e| Failure::new(HOST, format!("encoding {}: {e}", path.display())))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::Builder::new()
        .prefix(".write-")
        .permissions(state::private_permissions())
        .tempfile_in(dir)
        .map_err(|e| io_failure("writing", path, e))?;
    temp.write_all(&json)
        .and_then(|()| temp.as_file().sync_all())
        .map_err(|e| io_failure("writing", path, e))?;
    temp.persist(path)
        .map_err(|e| io_failure("writing", path, e.error))?;
    sync_dir(dir)
}

/// Makes a directory's entries (a file renamed into it) durable.
fn sync_dir(dir: &Path) -> Result<(), Failure> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_failure("syncing", dir, e))
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, Failure> {
    let bytes = fs::read(path).map_err(|e| io_failure("reading", path, e))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Failure::new(HOST, format!("{} is corrupt: {e}", path.display())))
}

impl Instance {
    /// The supervisor's record, corrected if the supervisor died without
    /// writing its end (then the instance is recorded as exited).
    pub fn state(&self) -> Result<State, Failure> {
        let state: State = read_json(&self.dir.join("state.json"))?;
        let alive = state
            .supervisor
            .is_some_and(|(pid, started)| proc::is_alive(pid, started));
        if state.status.ended() || alive {
            return Ok(state);
        }
        // The supervisor may have recorded its end and exited between the
        // read and the check: what it wrote before dying is read now.
        let mut state: State = read_json(&self.dir.join("state.json"))?;
        if !state.status.ended() {
            state.status = Status::Exited;
            state.monitor_pid = None;
            state.finished_ms.get_or_insert_with(now_ms);
            state.message = Some("its supervisor ended unexpectedly".into());
            self.write_state(&state)?;
        }
        Ok(state)
    }

    /// Records `state`.
    pub fn write_state(&self, state: &State) -> Result<(), Failure> {
        write_json(&self.dir.join("state.json"), state)
    }

    /// The console log (the current file; `console.log.1` holds the one before).
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("console.log")
    }

    /// The counters the monitor publishes while it runs.
    pub fn stats_path(&self) -> PathBuf {
        self.dir.join("stats")
    }

    /// The core file of the last run that crashed (at most
    /// [`CORE_LIMIT`] bytes).
    pub fn core_path(&self) -> PathBuf {
        self.dir.join("core")
    }

    /// The running monitor's control socket (`kiln debug`).
    pub fn control_path(&self) -> PathBuf {
        self.dir.join("control")
    }

    /// The control socket of the running monitor, once it is there: a
    /// monitor just started (or restarted) binds it within milliseconds.
    pub fn control_socket(&self) -> Result<PathBuf, Failure> {
        let path = self.control_path();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while !path.exists() {
            if std::time::Instant::now() > deadline {
                let name = &self.config.name;
                return Err(Failure::new(
                    USAGE,
                    format!(
                        "instance '{name}' has no control socket (started by an older kiln: restart it)"
                    ),
                ));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Ok(path)
    }

    /// The monitor's stderr of the last run that crashed.
    pub fn last_error_path(&self) -> PathBuf {
        self.dir.join("last-error.txt")
    }

    /// Whether its supervisor is alive (it may be between runs).
    pub fn is_active(&self) -> Result<bool, Failure> {
        Ok(!self.state()?.status.ended())
    }
}

/// The state directory: every instance's records.
pub struct Store {
    root: PathBuf,
    names: Names,
}

impl Store {
    /// The instances' part of the state directory ([`crate::state::dir`]).
    pub fn open() -> Result<Self, Failure> {
        let root = state::dir()?;
        for dir in [root.join("instances"), root.join("names")] {
            state::create_private_dir(&dir).map_err(|e| io_failure("creating", &dir, e))?;
        }
        let names = Names::new(root.join("names"), root.join("instances"));
        Ok(Self { root, names })
    }

    fn instances_dir(&self) -> PathBuf {
        self.root.join("instances")
    }

    fn load(&self, id: &str) -> Option<Instance> {
        let dir = self.instances_dir().join(id);
        let config = read_json::<Config>(&dir.join("config.json")).ok()?;
        Some(Instance {
            id: id.to_string(),
            dir,
            config,
        })
    }

    /// Every instance, oldest first. What a creation or removal cut short
    /// left behind is cleared on the way.
    pub fn list(&self) -> Result<Vec<Instance>, Failure> {
        let names = self.root.join("names");
        self.names
            .sweep()
            .map_err(|e| io_failure("clearing unfinished records in", &names, e))?;
        let dir = self.instances_dir();
        let entries = fs::read_dir(&dir).map_err(|e| io_failure("reading", &dir, e))?;
        let mut instances = Vec::new();
        for entry in entries.flatten() {
            // A directory without its config is one being removed (or the
            // record of one being created, under a temporary name).
            if let Some(instance) = self.load(&entry.file_name().to_string_lossy()) {
                instances.push(instance);
            }
        }
        instances.sort_by_key(|i| (i.config.created_ms, i.id.clone()));
        Ok(instances)
    }

    /// The instance with this name, id, or unique id prefix.
    pub fn find(&self, key: &str) -> Result<Instance, Failure> {
        self.lookup(key)?
            .ok_or_else(|| Failure::new(USAGE, format!("no instance named '{key}'")))
    }

    /// [`Self::find`], for an instance whose program runs now (`kiln
    /// debug`, `kiln profile`).
    pub fn find_running(&self, key: &str) -> Result<Instance, Failure> {
        let instance = self.find(key)?;
        if instance.state()?.status != Status::Running {
            let name = &instance.config.name;
            return Err(Failure::new(
                USAGE,
                format!("instance '{name}' is not running"),
            ));
        }
        Ok(instance)
    }

    /// [`Self::find`], with `None` when nothing matches.
    pub fn lookup(&self, key: &str) -> Result<Option<Instance>, Failure> {
        if check_name(key).is_ok()
            && let Some(id) = self.names.holder(key)
            && let Some(instance) = self.load(&id)
        {
            return Ok(Some(instance));
        }
        let instances = self.list()?;
        if let Some(found) = instances
            .iter()
            .find(|i| i.config.name == key || i.id == key)
        {
            return Ok(Some(found.clone()));
        }
        let mut prefixed = instances.into_iter().filter(|i| i.id.starts_with(key));
        match (prefixed.next(), prefixed.next()) {
            (Some(found), None) if !key.is_empty() => Ok(Some(found)),
            (Some(_), Some(_)) => Err(Failure::new(
                USAGE,
                format!("'{key}' is the start of several instance ids; give more of it"),
            )),
            _ => Ok(None),
        }
    }

    /// Creates an instance (refused if the name is taken), with the state
    /// of one whose supervisor is about to start.
    pub fn create(&self, mut config: Config) -> Result<Instance, Failure> {
        let id = random_id()?;
        if config.name.is_empty() {
            let stem = config
                .image
                .file_stem()
                .map_or("kiln".into(), |s| s.to_string_lossy());
            config.name = generated_name(&stem, &id);
        }
        check_name(&config.name)?;
        // As Docker's containers, the guest is named after the instance
        // unless `--hostname` says otherwise. (`kiln serve` booted its
        // monitor before the instance had a name: its run arguments are
        // recorded as they were.)
        let mut options = config.run_args.iter().take_while(|arg| *arg != "--");
        if config.served_by.is_none() && !options.any(|arg| arg.starts_with("--hostname=")) {
            config
                .run_args
                .insert(0, format!("--hostname={}", config.name));
        }
        // The name is taken first, and held (locked) until the record is
        // complete; the record is built under a temporary name and renamed
        // into place. A crash at any point leaves a complete instance, or a
        // claim the next reader clears (see `names`).
        let name_path = self.root.join("names").join(&config.name);
        let Some(claim) = self
            .names
            .claim(&config.name, &id)
            .map_err(|e| io_failure("creating", &name_path, e))?
        else {
            let taken = self.names.holder(&config.name).unwrap_or_default();
            return Err(Failure::new(
                USAGE,
                format!(
                    "the name '{}' is taken by instance {taken} (kiln rm it first)",
                    config.name
                ),
            ));
        };
        let partial = self.names.partial_dir(&id);
        state::create_private_dir(&partial).map_err(|e| io_failure("creating", &partial, e))?;
        let mut instance = Instance {
            id,
            dir: partial,
            config,
        };
        instance.write_state(&State {
            status: Status::Exited,
            supervisor: None,
            monitor_pid: None,
            started_ms: None,
            finished_ms: None,
            exit_code: None,
            restarts: 0,
            message: Some("created".into()),
        })?;
        write_json(&instance.dir.join("config.json"), &instance.config)?;
        let dir = self.instances_dir().join(&instance.id);
        fs::rename(&instance.dir, &dir).map_err(|e| io_failure("creating", &dir, e))?;
        sync_dir(&self.instances_dir())?;
        instance.dir = dir;
        drop(claim);
        Ok(instance)
    }

    /// Deletes an instance's records. What is already gone is not an
    /// error: `kiln rm -f` and the `kiln serve` that ran the instance may
    /// both remove it.
    pub fn remove(&self, instance: &Instance) -> Result<(), Failure> {
        let gone = |path: &Path, result: std::io::Result<()>| match result {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(io_failure("removing", path, e))
            }
            _ => Ok(()),
        };
        // The config goes first, so a half-removed instance is no longer listed.
        let config = instance.dir.join("config.json");
        gone(&config, fs::remove_file(&config))?;
        gone(&instance.dir, fs::remove_dir_all(&instance.dir))?;
        let name = self.root.join("names").join(&instance.config.name);
        self.names
            .release(&instance.config.name, &instance.id)
            .map_err(|e| io_failure("removing", &name, e))
    }
}

/// Instance names are file names in the index: letters, digits, `_`, `.`
/// and `-`, starting with a letter or digit (as Docker's), at most 64.
fn check_name(name: &str) -> Result<(), Failure> {
    let valid = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if valid {
        Ok(())
    } else {
        Err(Failure::new(
            USAGE,
            format!(
                "invalid instance name '{name}': use letters, digits, '_', '.' and '-' (starting with a letter or digit), at most 64"
            ),
        ))
    }
}

/// A name made of a program's name (what is not a letter or digit made
/// `-`, leading ones dropped) and the start of a random id:
/// `std-hello-3f9a1c`, or `kiln-3f9a1c` when nothing of the name is left.
pub fn generated_name(program: &str, id: &str) -> String {
    let stem: String = program
        .chars()
        .skip_while(|c| !c.is_ascii_alphanumeric())
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(48)
        .collect();
    let stem = if stem.is_empty() { "kiln" } else { &stem };
    format!("{stem}-{}", &id[..6])
}

/// 12 random hex digits.
pub fn random_id() -> Result<String, Failure> {
    let mut bytes = [0u8; 6];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| Failure::new(HOST, format!("reading /dev/urandom: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policies_parse_as_docker_writes_them() {
        for (text, policy) in [
            ("no", RestartPolicy::No),
            ("always", RestartPolicy::Always),
            ("on-failure", RestartPolicy::OnFailure(None)),
            ("on-failure:3", RestartPolicy::OnFailure(Some(3))),
        ] {
            assert_eq!(text.parse::<RestartPolicy>(), Ok(policy));
            assert_eq!(policy.to_string(), text);
        }
        for bad in ["", "sometimes", "on-failure:x", "always:2", "no:1"] {
            assert!(bad.parse::<RestartPolicy>().is_err(), "{bad}");
        }
    }
}
