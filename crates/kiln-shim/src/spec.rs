//! From the bundle's OCI runtime spec (`config.json`) to a `kiln run`
//! command line.
//!
//! Only what a Kiln guest can use is read: `process.args` (the ELF inside
//! the root filesystem, then the guest's arguments), `process.env`,
//! `process.cwd` (the guest's starting directory, and where a relative
//! program is found), `linux.resources.memory.limit`
//! (the guest's memory), `hostname` and the bind mounts (Kiln volumes). Namespaces,
//! capabilities, seccomp and cgroups describe a Linux process and have no
//! meaning for a VM.

use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

use kiln_abi::layout::{MAX_MEMORY, MEMORY_GRANULE, MIN_MEMORY};
use serde::Deserialize;

use crate::netns::PodAddress;

/// The parts of an OCI runtime spec the shim reads.
#[derive(Debug, Default, Deserialize)]
pub struct Spec {
    #[serde(default)]
    process: Option<Process>,
    #[serde(default)]
    mounts: Vec<Mount>,
    #[serde(default)]
    linux: Option<Linux>,
    #[serde(default)]
    hostname: Option<String>,
    #[serde(default)]
    annotations: std::collections::HashMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
struct Process {
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: Vec<String>,
    #[serde(default)]
    cwd: String,
}

#[derive(Debug, Default, Deserialize)]
struct Linux {
    #[serde(default)]
    resources: Option<Resources>,
    #[serde(default)]
    namespaces: Vec<Namespace>,
}

#[derive(Debug, Default, Deserialize)]
struct Namespace {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    path: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Resources {
    #[serde(default)]
    memory: Option<MemoryResources>,
}

#[derive(Debug, Default, Deserialize)]
struct MemoryResources {
    #[serde(default)]
    limit: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
struct Mount {
    destination: String,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    options: Vec<String>,
}

/// A host directory the guest gets as a Kiln volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    /// The directory on the host.
    pub host: String,
    /// Where the guest sees it.
    pub guest: String,
    /// Mounted read-only in the spec.
    pub read_only: bool,
    /// A recursive bind (`rbind`): the guest may cross into filesystems
    /// mounted inside the directory, as a container would see them.
    pub submounts: bool,
}

/// What `kiln run` is given for one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    /// The Kiln ELF, a file inside the mounted root filesystem.
    pub elf: PathBuf,
    /// The guest's arguments after its name.
    pub args: Vec<String>,
    /// `KEY=VALUE` entries.
    pub env: Vec<String>,
    /// Guest memory in bytes (`-m`), from the memory limit.
    pub memory: Option<u64>,
    /// Bind mounts as volumes.
    pub volumes: Vec<Volume>,
    /// The spec's host name (`--hostname`; kiln checks it).
    pub hostname: Option<String>,
    /// The program's starting directory (`-w`), from `process.cwd`.
    pub workdir: Option<String>,
    /// The pod's network, when the container has one.
    pub network: Option<GuestNetwork>,
}

/// A TAP device in the container's network namespace, and the addresses
/// the guest takes there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestNetwork {
    /// The TAP device's name.
    pub tap: String,
    /// The pod's interface's MAC, address and gateway.
    pub address: PodAddress,
    /// The DNS server, if the pod has one.
    pub dns: Option<std::net::Ipv4Addr>,
}

/// The annotation CRI sets on every container it makes: `sandbox` for a
/// pod's pause container, `container` for the pod's programs.
const CONTAINER_TYPE: &str = "io.kubernetes.cri.container-type";

/// The annotation CRI sets on every container of a pod: the pod's id.
const SANDBOX_ID: &str = "io.kubernetes.cri.sandbox-id";

/// Mount destinations that belong to a Linux process's system view (the
/// guest's own `/proc`, `/dev`, `/sys` come from its library OS).
const SYSTEM_DESTINATIONS: [&str; 3] = ["/proc", "/dev", "/sys"];

impl Spec {
    /// Reads `config.json` from the bundle.
    pub fn load(bundle: &Path) -> Result<Self, String> {
        let path = bundle.join("config.json");
        let text =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The `kiln run` inputs for this spec, the program looked up in `rootfs`
    /// (the mounted root filesystem).
    pub fn launch(&self, rootfs: &Path) -> Result<Launch, String> {
        let process = self
            .process
            .as_ref()
            .ok_or("the OCI spec has no process to run")?;
        let (program, args) = process
            .args
            .split_first()
            .ok_or("the OCI spec's process.args is empty: no program to run")?;
        let elf = find_program(rootfs, program, &process.cwd, &process.env)?;
        Ok(Launch {
            elf,
            args: args.to_vec(),
            // `kiln run -e KEY` would take the host's value: only KEY=VALUE
            // entries pass, so nothing of the shim's environment leaks in.
            env: process
                .env
                .iter()
                .filter(|e| e.split_once('=').is_some_and(|(k, _)| !k.is_empty()))
                .cloned()
                .collect(),
            memory: self.memory_limit().map(guest_memory),
            volumes: self.volumes()?,
            hostname: self.hostname.clone().filter(|h| !h.is_empty()),
            workdir: Some(process.cwd.clone()).filter(|cwd| cwd.starts_with('/') && cwd != "/"),
            network: None,
        })
    }

    /// Whether CRI made this container as a pod's sandbox (its "pause"
    /// container), which holds the pod's namespaces and runs no program.
    pub fn is_sandbox(&self) -> bool {
        self.annotations
            .get(CONTAINER_TYPE)
            .is_some_and(|kind| kind == "sandbox")
    }

    /// The id of the CRI pod this container belongs to (the sandbox's own
    /// id for the sandbox).
    pub fn pod(&self) -> Option<&str> {
        self.annotations
            .get(SANDBOX_ID)
            .map(String::as_str)
            .filter(|id| !id.is_empty())
    }

    /// The network namespace the container joins: a path (CRI's pinned
    /// `/var/run/netns/cni-…` for a sandbox, `/proc/PID/ns/net` of the
    /// sandbox's holder for its containers). `None` when the spec asks for
    /// no namespace of its own (host network) or a new, empty one.
    pub fn network_namespace(&self) -> Option<&str> {
        self.linux
            .as_ref()?
            .namespaces
            .iter()
            .find(|ns| ns.kind == "network")?
            .path
            .as_deref()
            .filter(|path| !path.is_empty())
    }

    /// The nameserver of the `/etc/resolv.conf` the spec binds in (CRI
    /// writes one per pod from its DNS config); the first IPv4 one.
    pub fn nameserver(&self) -> Option<std::net::Ipv4Addr> {
        let mount = self
            .mounts
            .iter()
            .find(|m| m.destination == "/etc/resolv.conf")?;
        let text = std::fs::read_to_string(mount.source.as_deref()?).ok()?;
        text.lines().find_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("nameserver"))
                .then(|| words.next()?.parse().ok())
                .flatten()
        })
    }

    fn memory_limit(&self) -> Option<i64> {
        self.linux
            .as_ref()?
            .resources
            .as_ref()?
            .memory
            .as_ref()?
            .limit
            .filter(|&limit| limit > 0)
    }

    /// Bind mounts of host directories, except over the system directories.
    /// A bind of a single file (`/etc/hosts`, `/etc/resolv.conf` under
    /// Kubernetes) is skipped: a Kiln volume is a directory.
    fn volumes(&self) -> Result<Vec<Volume>, String> {
        let mut volumes = Vec::new();
        for mount in &self.mounts {
            let is_bind = mount.kind.as_deref() == Some("bind")
                || mount.options.iter().any(|o| o == "bind" || o == "rbind");
            let Some(source) = mount.source.as_deref().filter(|_| is_bind) else {
                continue;
            };
            let destination = mount.destination.as_str();
            if SYSTEM_DESTINATIONS
                .iter()
                .any(|d| Path::new(destination).starts_with(d))
                || !Path::new(source).is_dir()
            {
                continue;
            }
            if source.contains(':') || destination.contains(':') {
                return Err(format!(
                    "the mount {source} on {destination}: a path with ':' cannot be a Kiln volume"
                ));
            }
            volumes.push(Volume {
                host: source.to_string(),
                guest: destination.to_string(),
                read_only: mount.options.iter().any(|o| o == "ro"),
                submounts: mount.options.iter().any(|o| o == "rbind"),
            });
        }
        Ok(volumes)
    }
}

/// The guest memory for a container memory limit: whole 2 MiB granules
/// below the limit, within what the monitor accepts.
fn guest_memory(limit: i64) -> u64 {
    let limit = u64::try_from(limit).unwrap_or(0);
    (limit / MEMORY_GRANULE * MEMORY_GRANULE).clamp(MIN_MEMORY, MAX_MEMORY)
}

/// The program's file inside `rootfs`: an absolute path from the root, a
/// relative one from the working directory, a bare name along the spec's
/// `PATH`. It must be a regular file that stays inside the root filesystem
/// once symbolic links are followed.
fn find_program(
    rootfs: &Path,
    program: &str,
    cwd: &str,
    env: &[String],
) -> Result<PathBuf, String> {
    let candidates: Vec<PathBuf> = if program.starts_with('/') {
        vec![inside(rootfs, program)]
    } else if program.contains('/') {
        vec![inside(rootfs, cwd).join(program)]
    } else {
        let path = env
            .iter()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        path.split(':')
            .filter(|dir| dir.starts_with('/'))
            .map(|dir| inside(rootfs, dir).join(program))
            .collect()
    };
    let root = rootfs
        .canonicalize()
        .map_err(|e| format!("the root filesystem {}: {e}", rootfs.display()))?;
    for candidate in &candidates {
        let Ok(real) = candidate.canonicalize() else {
            continue;
        };
        if !real.starts_with(&root) {
            return Err(format!(
                "{program} leads outside the container's root filesystem"
            ));
        }
        if real.is_file() {
            return Ok(real);
        }
    }
    Err(format!(
        "{program}: no such file in the container's root filesystem"
    ))
}

/// `path` (absolute inside the container) under `rootfs`, with no `..`.
fn inside(rootfs: &Path, path: &str) -> PathBuf {
    let mut joined = rootfs.to_path_buf();
    for part in Path::new(path).components() {
        if let Component::Normal(part) = part {
            joined.push(part);
        }
    }
    joined
}

impl Launch {
    /// The `kiln` arguments that run this guest.
    pub fn kiln_args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec!["run".into()];
        if let Some(memory) = self.memory {
            args.push("-m".into());
            args.push(memory.to_string().into());
        }
        for entry in &self.env {
            args.push("-e".into());
            args.push(entry.into());
        }
        if let Some(hostname) = &self.hostname {
            args.push("--hostname".into());
            args.push(hostname.into());
        }
        if let Some(workdir) = &self.workdir {
            args.push("-w".into());
            args.push(workdir.into());
        }
        if let Some(network) = &self.network {
            let address = &network.address;
            args.push("--net".into());
            args.push(format!("tap:{}", network.tap).into());
            args.push("--ip".into());
            args.push(format!("{}/{}", address.ipv4, address.prefix_len).into());
            args.push("--gateway".into());
            args.push(address.gateway.to_string().into());
            args.push("--mac".into());
            args.push(address.mac.clone().into());
            if let Some(dns) = network.dns {
                args.push("--dns".into());
                args.push(dns.to_string().into());
            }
        }
        for volume in &self.volumes {
            args.push("-v".into());
            let options = match (volume.read_only, volume.submounts) {
                (false, false) => "",
                (true, false) => ":ro",
                (false, true) => ":rbind",
                (true, true) => ":ro,rbind",
            };
            args.push(format!("{}:{}{options}", volume.host, volume.guest).into());
        }
        args.push(self.elf.clone().into());
        args.push("--".into());
        args.extend(self.args.iter().map(OsString::from));
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> Spec {
        serde_json::from_str(json).expect("a spec")
    }

    /// A root filesystem holding `/app` and a symbolic link out of it.
    fn rootfs(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("kiln-shim-spec-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("bin")).expect("mkdir");
        std::fs::write(dir.join("app"), b"\x7fELF").expect("write");
        std::fs::write(dir.join("bin/tool"), b"\x7fELF").expect("write");
        std::os::unix::fs::symlink("/etc/passwd", dir.join("escape")).expect("symlink");
        dir
    }

    #[test]
    fn args_env_memory_and_binds_become_a_kiln_command_line() {
        let root = rootfs("full");
        let host = std::env::temp_dir().display().to_string();
        let launch = spec(&format!(
            r#"{{"process": {{"args": ["/app", "a b", "--flag"], "cwd": "/",
                 "env": ["PATH=/bin", "GREETING=hi=there", "NOVALUE", "=x"]}},
               "linux": {{"resources": {{"memory": {{"limit": 100000000}}}}}},
               "hostname": "web-1",
               "mounts": [
                 {{"destination": "/proc", "type": "proc", "source": "proc"}},
                 {{"destination": "/dev", "type": "tmpfs", "source": "tmpfs"}},
                 {{"destination": "/dev/shm", "type": "bind", "source": "{host}", "options": ["rbind"]}},
                 {{"destination": "/data", "type": "bind", "source": "{host}", "options": ["rbind", "ro"]}},
                 {{"destination": "/scratch", "source": "{host}", "options": ["bind", "rw"]}},
                 {{"destination": "/etc/hosts", "type": "bind", "source": "/etc/hosts", "options": ["rbind"]}}
               ]}}"#
        ))
        .launch(&root)
        .expect("a launch");
        assert_eq!(launch.elf, root.canonicalize().expect("root").join("app"));
        assert_eq!(launch.memory, Some(94 << 20), "rounded down to 2 MiB");
        let args: Vec<String> = launch
            .kiln_args()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let elf = launch.elf.display().to_string();
        assert_eq!(
            args,
            [
                "run",
                "-m",
                &(94u64 << 20).to_string(),
                "-e",
                "PATH=/bin",
                "-e",
                "GREETING=hi=there",
                "--hostname",
                "web-1",
                "-v",
                &format!("{host}:/data:ro,rbind"),
                "-v",
                &format!("{host}:/scratch"),
                &elf,
                "--",
                "a b",
                "--flag",
            ]
        );
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn memory_limits_are_kept_within_what_the_monitor_accepts() {
        assert_eq!(guest_memory(1), MIN_MEMORY);
        assert_eq!(guest_memory((64 << 20) + 1), 64 << 20);
        assert_eq!(guest_memory(i64::MAX), MAX_MEMORY);
        let none = spec(r#"{"process": {"args": ["/app"]}}"#);
        assert_eq!(none.memory_limit(), None);
    }

    #[test]
    fn the_program_is_found_inside_the_root_filesystem_only() {
        let root = rootfs("find");
        let real = root.canonicalize().expect("root");
        let launch = |json: &str| spec(json).launch(&root);
        assert_eq!(
            launch(r#"{"process": {"args": ["tool"], "env": ["PATH=/usr/bin:/bin"]}}"#)
                .expect("on PATH")
                .elf,
            real.join("bin/tool")
        );
        let in_bin =
            launch(r#"{"process": {"args": ["./tool"], "cwd": "/bin"}}"#).expect("relative to cwd");
        assert_eq!(in_bin.elf, real.join("bin/tool"));
        // The spec's cwd is also where the guest starts.
        let args = in_bin.kiln_args();
        assert!(
            args.windows(2).any(|w| w[0] == "-w" && w[1] == "/bin"),
            "{args:?}"
        );
        assert_eq!(
            launch(r#"{"process": {"args": ["/../../app"]}}"#)
                .expect("no climbing out")
                .elf,
            real.join("app")
        );
        let escape = launch(r#"{"process": {"args": ["/escape"]}}"#).expect_err("escape");
        assert!(escape.contains("outside"), "{escape}");
        let missing = launch(r#"{"process": {"args": ["/nothing"]}}"#).expect_err("missing");
        assert!(missing.contains("no such file"), "{missing}");
        let empty = launch(r#"{"process": {"args": []}}"#).expect_err("empty");
        assert!(empty.contains("process.args is empty"), "{empty}");
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn cri_sandboxes_and_pod_networks_are_recognised() {
        let sandbox = spec(
            r#"{"annotations": {"io.kubernetes.cri.container-type": "sandbox"},
                "linux": {"namespaces": [{"type": "pid"},
                          {"type": "network", "path": "/var/run/netns/cni-1"}]}}"#,
        );
        assert!(sandbox.is_sandbox());
        assert_eq!(sandbox.pod(), None);
        assert_eq!(sandbox.network_namespace(), Some("/var/run/netns/cni-1"));
        let app = spec(
            r#"{"annotations": {"io.kubernetes.cri.container-type": "container",
                                "io.kubernetes.cri.sandbox-id": "pod1"},
                "linux": {"namespaces": [{"type": "network", "path": "/proc/42/ns/net"}]}}"#,
        );
        assert!(!app.is_sandbox());
        assert_eq!(app.pod(), Some("pod1"));
        assert_eq!(app.network_namespace(), Some("/proc/42/ns/net"));
        // `ctr run`: a new, empty namespace; a host-network pod: none.
        let fresh = spec(r#"{"linux": {"namespaces": [{"type": "network"}]}}"#);
        assert_eq!(fresh.network_namespace(), None);
        assert_eq!(spec("{}").network_namespace(), None);
    }

    #[test]
    fn a_pod_network_becomes_tap_flags() {
        let root = rootfs("net");
        let mut launch = spec(r#"{"process": {"args": ["/app"]}}"#)
            .launch(&root)
            .expect("a launch");
        launch.network = Some(GuestNetwork {
            tap: "kiln0".into(),
            address: PodAddress {
                mac: "0a:58:0a:58:00:05".into(),
                ipv4: "10.88.0.5".parse().expect("ip"),
                prefix_len: 16,
                gateway: "10.88.0.1".parse().expect("ip"),
            },
            dns: Some("10.96.0.10".parse().expect("ip")),
        });
        let args: Vec<String> = launch
            .kiln_args()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let flags = "--net tap:kiln0 --ip 10.88.0.5/16 --gateway 10.88.0.1 --mac 0a:58:0a:58:00:05 --dns 10.96.0.10";
        assert!(args.join(" ").contains(flags), "{args:?}");
        let _ = std::fs::remove_dir_all(root);
    }
}
