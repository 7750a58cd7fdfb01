//! A pod's network namespace, and the guest's link into it.
//!
//! CRI gives each pod a network namespace that its CNI plugins filled: an
//! `eth0` (one end of a veth pair on a bridge, typically) with the pod's
//! address and a default route. A Kiln guest has its own network stack, so
//! the namespace's address moves to the guest: the shim creates a TAP
//! device next to `eth0` and joins the two with `tc` redirects (every frame
//! that arrives on one leaves through the other, as firecracker-containerd's
//! tc-redirect-tap and urunc do), and the guest takes `eth0`'s address,
//! gateway and MAC. The frames on the bridge are then exactly those of a
//! container with that address; the namespace's own stack sees none of
//! them (an ingress redirect takes each frame before it does), so the
//! address it still holds on `eth0` is inert.
//!
//! The links are made with iproute2's `ip` and `tc`, run inside the
//! namespace (one batch each): CNI's plugins and every node already have
//! them, and their JSON output is stable; a netlink crate would bring an
//! async runtime into the shim for a few requests.

use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use containerd_shim::monitor::Topic;
use containerd_shim::synchronous::monitor::{monitor_subscribe, wait_pid};
use serde::Deserialize;

/// The interface CRI asks CNI to create in every pod.
const POD_INTERFACE: &str = "eth0";

/// The TAP device the guest is attached to. One per pod: a pod has one
/// address, and it can belong to one guest.
pub const TAP: &str = "kiln0";

/// An open network namespace (the descriptor keeps it alive).
pub struct NetNs {
    file: File,
    path: String,
}

/// What the guest takes from the pod's interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodAddress {
    /// `eth0`'s MAC, `XX:XX:XX:XX:XX:XX`.
    pub mac: String,
    /// The pod's IPv4 address.
    pub ipv4: Ipv4Addr,
    /// Its prefix length.
    pub prefix_len: u8,
    /// The default route's gateway.
    pub gateway: Ipv4Addr,
}

#[derive(Deserialize)]
struct Link {
    address: Option<String>,
    #[serde(default)]
    addr_info: Vec<AddrInfo>,
}

#[derive(Deserialize)]
struct AddrInfo {
    family: String,
    local: Option<String>,
    prefixlen: Option<u8>,
}

#[derive(Deserialize)]
struct Route {
    gateway: Option<Ipv4Addr>,
}

impl NetNs {
    /// Opens the namespace at `path` (a `/var/run/netns` file or a
    /// process's `/proc/PID/ns/net`).
    pub fn open(path: &str) -> Result<Self, String> {
        let file = File::open(path).map_err(|e| format!("the network namespace {path}: {e}"))?;
        Ok(Self {
            file,
            path: path.to_string(),
        })
    }

    /// `program` with `args`, to be started inside this namespace.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        let fd = self.file.as_raw_fd();
        // SAFETY: the closure runs in the forked child before exec and
        // only makes the setns(2) system call on a descriptor the child
        // inherited open; it allocates nothing and takes no lock.
        unsafe {
            command.pre_exec(move || {
                if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        command
    }

    /// Runs `program ARGS` in the namespace; its stdout, or why it failed.
    fn run(&self, program: &str, args: &[&str]) -> Result<String, String> {
        self.run_with_input(program, args, None)
    }

    /// Runs `program -batch -` in the namespace, one process for all of
    /// `commands` (each a line of `program`'s arguments; it stops at the
    /// first that fails): each process costs milliseconds on the pod's
    /// start path.
    fn run_batch(&self, program: &str, commands: &[Vec<&str>]) -> Result<(), String> {
        let lines: String = commands.iter().map(|c| c.join(" ") + "\n").collect();
        self.run_with_input(program, &["-batch", "-"], Some(&lines))
            .map(drop)
    }

    /// Runs `program ARGS` in the namespace with `input` on its stdin.
    fn run_with_input(
        &self,
        program: &str,
        args: &[&str],
        input: Option<&str>,
    ) -> Result<String, String> {
        use std::io::Write;
        let subscription = monitor_subscribe(Topic::Pid).map_err(|e| e.to_string())?;
        let mut child = self
            .command(program)
            .args(args)
            .stdin(input.map_or_else(Stdio::null, |_| Stdio::piped()))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {program} (iproute2): {e}"))?;
        // A few lines: the pipe holds them all, so the write cannot wait on
        // the program's output.
        if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
            let _ = stdin.write_all(text.as_bytes());
        }
        let pid = child.id();
        // The crate's reaper takes the exit status; the pipes are read to
        // their end first so a chatty command cannot block on them.
        let output = read_pipes(child);
        let code = wait_pid(pid as i32, subscription);
        if code != 0 {
            return Err(format!(
                "{program} {} in {}: {}",
                args.join(" "),
                self.path,
                output.1.trim()
            ));
        }
        Ok(output.0)
    }

    /// The pod interface's MAC, address and gateway.
    pub fn pod_address(&self) -> Result<PodAddress, String> {
        let links = self.run("ip", &["-j", "addr", "show", "dev", POD_INTERFACE])?;
        let routes = self.run("ip", &["-j", "-4", "route", "show", "default"])?;
        pod_address(&links, &routes)
    }

    /// Creates the guest's TAP device and joins it to the pod's interface.
    /// A second guest in the same pod is refused: the address is taken.
    pub fn link_tap(&self) -> Result<(), String> {
        if self.run("ip", &["link", "show", "dev", TAP]).is_ok() {
            return Err(
                "this pod's network already belongs to a Kiln guest: a pod has one address, so one of its containers can have a network".into(),
            );
        }
        // Every frame that arrives on `from` leaves through `to`.
        let redirect = |from: &'static str, to: &'static str| {
            vec![
                "filter", "add", "dev", from, "parent", "ffff:", "protocol", "all", "u32", "match",
                "u8", "0", "0", "action", "mirred", "egress", "redirect", "dev", to,
            ]
        };
        let links = [
            vec!["tuntap", "add", "dev", TAP, "mode", "tap"],
            vec!["link", "set", "dev", TAP, "up"],
        ];
        let redirects = [
            vec!["qdisc", "add", "dev", POD_INTERFACE, "ingress"],
            vec!["qdisc", "add", "dev", TAP, "ingress"],
            redirect(POD_INTERFACE, TAP),
            redirect(TAP, POD_INTERFACE),
        ];
        self.run_batch("ip", &links)
            .and_then(|()| self.run_batch("tc", &redirects))
            .map_err(|e| {
                self.unlink_tap();
                format!("link the guest to the pod's network: {e}")
            })
    }

    /// Removes the TAP device and the redirect from the pod's interface
    /// (both go with the namespace too, when CRI removes it first).
    pub fn unlink_tap(&self) {
        let _ = self.run("ip", &["link", "del", "dev", TAP]);
        let _ = self.run("tc", &["qdisc", "del", "dev", POD_INTERFACE, "ingress"]);
    }
}

/// The pod's address from `ip -j addr show dev eth0` and `ip -j -4 route
/// show default`.
fn pod_address(links: &str, routes: &str) -> Result<PodAddress, String> {
    let links: Vec<Link> = json(links)?;
    let link = links
        .first()
        .ok_or_else(|| format!("the pod has no {POD_INTERFACE}"))?;
    let (ipv4, prefix_len) = link
        .addr_info
        .iter()
        .filter(|a| a.family == "inet")
        .find_map(|a| Some((a.local.as_deref()?.parse().ok()?, a.prefixlen?)))
        .ok_or_else(|| format!("the pod's {POD_INTERFACE} has no IPv4 address"))?;
    let routes: Vec<Route> = json(routes)?;
    let gateway = routes
        .iter()
        .find_map(|r| r.gateway)
        .ok_or("the pod's network has no IPv4 default route")?;
    let mac = link
        .address
        .clone()
        .ok_or_else(|| format!("the pod's {POD_INTERFACE} has no MAC address"))?;
    Ok(PodAddress {
        mac,
        ipv4,
        prefix_len,
        gateway,
    })
}

fn read_pipes(mut child: std::process::Child) -> (String, String) {
    use std::io::Read;
    let mut stdout = String::new();
    let mut stderr = String::new();
    let err_pipe = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = err_pipe {
            let _ = pipe.read_to_string(&mut text);
        }
        text
    });
    if let Some(mut pipe) = child.stdout.take() {
        let _ = pipe.read_to_string(&mut stdout);
    }
    if let Ok(text) = reader.join() {
        stderr = text;
    }
    (stdout, stderr)
}

fn json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_json::from_str(text).map_err(|e| format!("iproute2's JSON output: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINKS: &str = r#"[{"ifindex":3,"ifname":"eth0","mtu":1500,"address":"0a:58:0a:58:00:05",
        "addr_info":[{"family":"inet6","local":"fe80::858:aff:fe58:5","prefixlen":64},
                     {"family":"inet","local":"10.88.0.5","prefixlen":16}]}]"#;
    const ROUTES: &str = r#"[{"dst":"default","gateway":"10.88.0.1","dev":"eth0","flags":[]}]"#;

    #[test]
    fn the_pod_address_comes_from_iproute2s_json() {
        assert_eq!(
            pod_address(LINKS, ROUTES),
            Ok(PodAddress {
                mac: "0a:58:0a:58:00:05".into(),
                ipv4: Ipv4Addr::new(10, 88, 0, 5),
                prefix_len: 16,
                gateway: Ipv4Addr::new(10, 88, 0, 1),
            })
        );
    }

    #[test]
    fn a_pod_without_ipv4_or_a_route_is_refused() {
        let v6_only = LINKS.replace(
            r#"{"family":"inet","local":"10.88.0.5","prefixlen":16}"#,
            r#"{"family":"inet6","local":"fd00::5","prefixlen":64}"#,
        );
        let error = pod_address(&v6_only, ROUTES).expect_err("no IPv4");
        assert!(error.contains("no IPv4 address"), "{error}");
        let error = pod_address(LINKS, "[]").expect_err("no route");
        assert!(error.contains("no IPv4 default route"), "{error}");
        let error = pod_address("[]", ROUTES).expect_err("no eth0");
        assert!(error.contains("has no eth0"), "{error}");
    }
}
