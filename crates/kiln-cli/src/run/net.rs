//! `-p`/`--publish` and `--net`: the VM's network, in Docker's syntax.
//!
//! Everything is checked before anything is built or booted: a malformed
//! value, a TAP device that does not exist or a missing passt is one clear
//! line and exit code 2; a published host port that is taken is found by
//! binding it first (passt would only say so on its own stderr, after the
//! guest had booted), and is exit code 123.
//!
//! `--net ports` publishes the `-p` ports without passt: the monitor
//! forwards them itself, and the guest reaches nothing else.

use std::net::{IpAddr, Ipv4Addr, TcpListener, UdpSocket};

use kiln_monitor::net::passt::PASST;
use kiln_monitor::net::tap;
use kiln_monitor::net::{Addressing, BackendSpec, NetSpec, PortForward, Protocol};

use crate::exit_code::{Failure, UNAVAILABLE, USAGE};

/// The network flags of `kiln run`, as given.
pub(super) struct NetArgs<'a> {
    pub publish: &'a [String],
    pub net: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub gateway: Option<&'a str>,
    pub mac: Option<&'a str>,
    pub dns: Option<&'a str>,
}

/// The network the flags ask for, checked; `None` for no network device.
pub(super) fn parse(args: &NetArgs<'_>) -> Result<Option<NetSpec>, Failure> {
    let usage = |message: String| Failure::new(USAGE, message);
    let dns = args.dns.map(parse_dns).transpose().map_err(usage)?;
    let forwards = parse_forwards(args.publish)?;
    let kind = match args.net {
        Some(kind) => kind,
        None if forwards.is_empty() => {
            if args.ip.is_some() || args.gateway.is_some() || args.mac.is_some() {
                return Err(usage(
                    "--ip, --gateway and --mac need --net tap:NAME".into(),
                ));
            }
            if dns.is_some() {
                return Err(usage(
                    "--dns needs a network: -p or --net user|tap:NAME".into(),
                ));
            }
            return Ok(None);
        }
        None => "user",
    };
    let addressing_flags = args.ip.is_some() || args.gateway.is_some() || args.mac.is_some();
    let mut spec = match kind.split_once(':') {
        None if kind == "none" => {
            if !forwards.is_empty() || addressing_flags || dns.is_some() {
                return Err(usage(
                    "--net none gives the guest no network: no --publish, --ip, --gateway or --dns"
                        .into(),
                ));
            }
            return Ok(None);
        }
        None if kind == "user" => {
            if addressing_flags {
                return Err(usage(
                    "--ip, --gateway and --mac are for --net tap; user mode's addresses are fixed (10.0.2.15/24, gateway 10.0.2.2)".into(),
                ));
            }
            if !passt_installed() {
                return Err(usage("passt is not installed: apt install passt".into()));
            }
            NetSpec {
                backend: BackendSpec::Passt { forwards },
                addressing: Addressing::user_mode(),
            }
        }
        None if kind == "ports" => {
            if addressing_flags || dns.is_some() {
                return Err(usage(
                    "--net ports only publishes ports: its addresses are fixed (10.0.2.15/24, gateway 10.0.2.2) and it has no DNS".into(),
                ));
            }
            NetSpec {
                backend: BackendSpec::Ports { forwards },
                // No DNS server: there is nothing to ask, and a name then
                // fails at once instead of after the resolver's timeouts.
                addressing: Addressing {
                    dns: None,
                    ..Addressing::user_mode()
                },
            }
        }
        Some(("tap", name)) => {
            if !forwards.is_empty() {
                return Err(usage(format!(
                    "--publish needs user-mode networking; with --net {kind}, reach the guest at its address"
                )));
            }
            if name.is_empty() {
                return Err(usage("--net tap needs a device name: tap:NAME".into()));
            }
            if !tap::exists(name) {
                return Err(Failure::new(UNAVAILABLE, format!("no TAP device {name}")));
            }
            NetSpec {
                backend: BackendSpec::Tap {
                    name: name.to_string(),
                },
                addressing: tap_addressing(args.ip, args.gateway, args.mac).map_err(usage)?,
            }
        }
        _ => {
            return Err(usage(format!(
                "unknown --net '{kind}': expected user, ports, tap:NAME or none"
            )));
        }
    };
    if dns.is_some() {
        spec.addressing.dns = dns;
    }
    if let BackendSpec::Passt { forwards } | BackendSpec::Ports { forwards } = &spec.backend {
        for forward in forwards {
            probe(forward)?;
        }
    }
    Ok(Some(spec))
}

/// The `-p` values, each host port at most once.
pub(super) fn parse_forwards(publish: &[String]) -> Result<Vec<PortForward>, Failure> {
    let usage = |message: String| Failure::new(USAGE, message);
    let forwards = publish
        .iter()
        .map(|value| {
            parse_publish(value).map_err(|why| usage(format!("invalid --publish '{value}': {why}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    for (i, forward) in forwards.iter().enumerate() {
        if forwards[..i].iter().any(|f| same_host_port(f, forward)) {
            return Err(usage(format!(
                "host port {} is published twice",
                describe(forward)
            )));
        }
    }
    Ok(forwards)
}

/// `[HOST_IP:]HOST_PORT:GUEST_PORT[/tcp|/udp]`.
pub fn parse_publish(value: &str) -> Result<PortForward, String> {
    const FORM: &str = "expected [HOST_IP:]HOST_PORT:GUEST_PORT[/tcp|/udp]";
    let (ports, protocol) = match value.rsplit_once('/') {
        None => (value, Protocol::Tcp),
        Some((ports, "tcp")) => (ports, Protocol::Tcp),
        Some((ports, "udp")) => (ports, Protocol::Udp),
        Some((_, other)) => return Err(format!("unknown protocol '{other}' (tcp or udp)")),
    };
    let parts: Vec<&str> = ports.rsplitn(3, ':').collect();
    let (host_ip, host_port, guest_port) = match parts.as_slice() {
        [guest, host] => (None, *host, *guest),
        [guest, host, ip] => {
            let ip = ip.trim_start_matches('[').trim_end_matches(']');
            let ip: IpAddr = ip
                .parse()
                .map_err(|_| format!("'{ip}' is not an IP address"))?;
            if ip.is_ipv6() {
                return Err("IPv6 host addresses are not supported yet".into());
            }
            (Some(ip), *host, *guest)
        }
        _ => return Err(FORM.into()),
    };
    if host_port.is_empty() {
        return Err("a host port is required (kiln does not pick one)".into());
    }
    Ok(PortForward {
        host_ip,
        host_port: port(host_port)?,
        guest_port: port(guest_port)?,
        protocol,
    })
}

fn port(text: &str) -> Result<u16, String> {
    if text.contains('-') {
        return Err("port ranges are not supported".into());
    }
    match text.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("'{text}' is not a port (1-65535)")),
        Ok(port) => Ok(port),
    }
}

fn same_host_port(a: &PortForward, b: &PortForward) -> bool {
    a.host_port == b.host_port
        && a.protocol == b.protocol
        && (a.host_ip.is_none() || b.host_ip.is_none() || a.host_ip == b.host_ip)
}

fn describe(forward: &PortForward) -> String {
    let protocol = match forward.protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
    };
    match forward.host_ip {
        Some(ip) => format!("{ip}:{}/{protocol}", forward.host_port),
        None => format!("{}/{protocol}", forward.host_port),
    }
}

/// Binds the host port as the backend will, and lets it go: a port another
/// process holds is a clear error now instead of a line from passt later
/// (or the monitor's, for `--net ports`, after the build).
pub(super) fn probe(forward: &PortForward) -> Result<(), Failure> {
    let ip = forward.host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let address = (ip, forward.host_port);
    let bound = match forward.protocol {
        Protocol::Tcp => TcpListener::bind(address).map(drop),
        Protocol::Udp => UdpSocket::bind(address).map(drop),
    };
    bound.map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::AddrInUse => "is already in use".to_string(),
            _ => format!("cannot be published: {e}"),
        };
        Failure::new(
            UNAVAILABLE,
            format!("host port {} {why}", describe(forward)),
        )
    })
}

pub fn passt_installed() -> bool {
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join(PASST)).is_ok_and(|m| {
                m.is_file()
                    && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0
            })
        })
    })
}

/// `--dns IP`: an IPv4 address the guest can send queries to.
fn parse_dns(value: &str) -> Result<Ipv4Addr, String> {
    value
        .parse()
        .ok()
        .filter(|ip: &Ipv4Addr| !ip.is_unspecified() && !ip.is_broadcast() && !ip.is_multicast())
        .ok_or_else(|| format!("invalid --dns '{value}': expected an IPv4 address, e.g. 10.0.3.1"))
}

/// `--ip CIDR`, `--gateway IP` and `--mac MAC` for a TAP device; by default
/// user mode's addresses (10.0.2.15/24 via 10.0.2.2, QEMU's MAC), no DNS
/// server.
fn tap_addressing(
    ip: Option<&str>,
    gateway: Option<&str>,
    mac: Option<&str>,
) -> Result<Addressing, String> {
    let mut addressing = Addressing {
        dns: None,
        ..Addressing::user_mode()
    };
    if let Some(cidr) = ip {
        let invalid =
            || format!("invalid --ip '{cidr}': expected an IPv4 address/prefix, e.g. 10.0.3.2/24");
        let (address, prefix) = cidr.split_once('/').ok_or_else(invalid)?;
        addressing.ipv4 = address.parse().map_err(|_| invalid())?;
        addressing.prefix_len = prefix
            .parse()
            .ok()
            .filter(|p| (1..=32).contains(p))
            .ok_or_else(invalid)?;
    }
    if let Some(gateway) = gateway {
        addressing.gateway = gateway
            .parse()
            .map_err(|_| format!("invalid --gateway '{gateway}': expected an IPv4 address"))?;
    }
    if let Some(mac) = mac {
        addressing.mac = parse_mac(mac)?;
    }
    Ok(addressing)
}

/// `XX:XX:XX:XX:XX:XX`, a unicast address (a frame from a multicast source
/// is invalid, and the guest would never see replies).
fn parse_mac(value: &str) -> Result<[u8; 6], String> {
    let invalid =
        || format!("invalid --mac '{value}': expected a unicast MAC, e.g. 02:00:0a:00:03:02");
    let mut mac = [0u8; 6];
    let mut parts = value.split(':');
    for byte in &mut mac {
        let part = parts.next().filter(|p| p.len() == 2).ok_or_else(invalid)?;
        *byte = u8::from_str_radix(part, 16).map_err(|_| invalid())?;
    }
    if parts.next().is_some() || mac[0] & 1 != 0 {
        return Err(invalid());
    }
    Ok(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forward(ip: Option<&str>, host: u16, guest: u16, protocol: Protocol) -> PortForward {
        PortForward {
            host_ip: ip.map(|ip| ip.parse().expect("ip")),
            host_port: host,
            guest_port: guest,
            protocol,
        }
    }

    #[test]
    fn docker_publish_forms_parse() {
        use Protocol::{Tcp, Udp};
        for (value, expected) in [
            ("8080:80", forward(None, 8080, 80, Tcp)),
            ("8080:80/tcp", forward(None, 8080, 80, Tcp)),
            ("5353:53/udp", forward(None, 5353, 53, Udp)),
            (
                "127.0.0.1:8080:80",
                forward(Some("127.0.0.1"), 8080, 80, Tcp),
            ),
            (
                "127.0.0.1:53:53/udp",
                forward(Some("127.0.0.1"), 53, 53, Udp),
            ),
        ] {
            assert_eq!(parse_publish(value), Ok(expected), "{value}");
        }
    }

    #[test]
    fn bad_publish_values_say_why() {
        for (value, why) in [
            ("80", "expected [HOST_IP:]HOST_PORT:GUEST_PORT"),
            ("a:b:c:d", "is not an IP address"),
            ("8080:0", "'0' is not a port"),
            ("70000:80", "'70000' is not a port"),
            ("x:80", "'x' is not a port"),
            ("8080:", "'' is not a port"),
            ("127.0.0.1::80", "a host port is required"),
            ("8080:80/sctp", "unknown protocol 'sctp'"),
            ("8000-8010:80", "port ranges are not supported"),
            ("[::1]:8080:80", "IPv6"),
            ("localhost:8080:80", "'localhost' is not an IP address"),
        ] {
            let error = parse_publish(value).expect_err(value);
            assert!(error.contains(why), "{value}: {error}");
        }
    }

    #[test]
    fn tap_addressing_comes_from_the_flags() {
        let addressing = tap_addressing(
            Some("10.0.3.2/24"),
            Some("10.0.3.1"),
            Some("0a:58:0A:58:00:05"),
        )
        .expect("valid");
        assert_eq!(addressing.mac, [0x0a, 0x58, 0x0a, 0x58, 0x00, 0x05]);
        assert_eq!(addressing.ipv4, Ipv4Addr::new(10, 0, 3, 2));
        assert_eq!(addressing.prefix_len, 24);
        assert_eq!(addressing.gateway, Ipv4Addr::new(10, 0, 3, 1));
        for ip in ["10.0.3.2", "10.0.3.2/33", "10.0.3/24", "x/24"] {
            assert!(tap_addressing(Some(ip), None, None).is_err(), "{ip}");
        }
        assert!(tap_addressing(None, Some("gw"), None).is_err());
        for mac in [
            "",
            "0a:58:0a:58:00",
            "0a:58:0a:58:00:05:06",
            "0a-58-0a-58-00-05",
            "01:00:5e:00:00:01",
            "0a:58:0a:58:00:5",
        ] {
            let error = tap_addressing(None, None, Some(mac)).expect_err(mac);
            assert!(
                error.starts_with(&format!("invalid --mac '{mac}'")),
                "{error}"
            );
        }
    }

    #[test]
    fn dns_values_are_ipv4_unicast_addresses() {
        assert_eq!(parse_dns("10.0.3.1"), Ok(Ipv4Addr::new(10, 0, 3, 1)));
        for value in ["", "dns.example", "::1", "10.0.3", "0.0.0.0", "224.0.0.1"] {
            let error = parse_dns(value).expect_err(value);
            assert!(
                error.starts_with(&format!("invalid --dns '{value}'")),
                "{error}"
            );
        }
    }

    #[test]
    fn net_ports_publishes_without_passt_or_dns() {
        let free = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = free.local_addr().expect("addr").port();
        drop(free);
        let publish = [format!("127.0.0.1:{port}:80")];
        let args = |dns| NetArgs {
            publish: &publish,
            net: Some("ports"),
            ip: None,
            gateway: None,
            mac: None,
            dns,
        };
        let spec = parse(&args(None)).expect("valid").expect("a device");
        assert_eq!(
            spec.backend,
            BackendSpec::Ports {
                forwards: vec![forward(Some("127.0.0.1"), port, 80, Protocol::Tcp)]
            }
        );
        assert_eq!(spec.addressing.dns, None, "nothing answers DNS");
        assert_eq!(spec.addressing.ipv4, Ipv4Addr::new(10, 0, 2, 15));
        let error = parse(&args(Some("10.0.2.3"))).expect_err("no DNS");
        assert_eq!(error.code, USAGE);
        assert!(error.message.contains("--net ports"), "{}", error.message);
    }

    #[test]
    fn a_taken_port_is_found_before_boot() {
        let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = taken.local_addr().expect("addr").port();
        let error = probe(&forward(Some("127.0.0.1"), port, 80, Protocol::Tcp)).expect_err("taken");
        assert_eq!(error.code, UNAVAILABLE);
        assert_eq!(
            error.message,
            format!("host port 127.0.0.1:{port}/tcp is already in use")
        );
    }
}
