//! Name resolution in the guest: `std-dns` resolves names through a DNS
//! server this test runs itself, inside a network namespace the test
//! creates, so no query leaves it: on a TAP network with `kiln run --dns`,
//! and in user mode through passt's forwarder. Names pinned in the image's
//! `/etc/hosts`, numeric hosts and `localhost` must be answered without a
//! query.

mod common;

use std::io::Write;
use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Run, code, image, in_namespace, ip, kiln, require_kvm, run_image};

/// Set in the child that runs inside the test's network namespace.
const TAP: &str = "kilntap0";
/// The host's end of the TAP network, where the DNS server answers.
const HOST: Ipv4Addr = Ipv4Addr::new(10, 0, 3, 1);
/// A second host address, where a DNS server takes queries and never answers.
const SILENT: Ipv4Addr = Ipv4Addr::new(10, 0, 3, 4);

/// What the test's DNS server knows; any other name is NXDOMAIN.
const RECORDS: &[(&str, &[Ipv4Addr])] = &[
    ("web.test", &[HOST]),
    (
        "multi.test",
        &[Ipv4Addr::new(10, 0, 3, 5), Ipv4Addr::new(10, 0, 3, 6)],
    ),
];

/// The guest's TAP device, with the host's two addresses on its network.
fn tap_network() {
    let host = format!("{HOST}/24");
    let silent = format!("{SILENT}/24");
    ip(&[
        &["link", "set", "lo", "up"],
        &["tuntap", "add", "dev", TAP, "mode", "tap"],
        &["addr", "add", &host, "dev", TAP],
        &["addr", "add", &silent, "dev", TAP],
        &["link", "set", TAP, "up"],
    ]);
}

/// The queries a test DNS server received: transaction id and name.
type Asked = Arc<Mutex<Vec<(u16, String)>>>;

/// Serves DNS on `at` port 53 in a thread: A records from [`RECORDS`],
/// NXDOMAIN for other names, or, unless `answer`, nothing at all.
fn dns_server(at: Ipv4Addr, answer: bool) -> Asked {
    let socket = UdpSocket::bind((at, 53)).expect("bind port 53");
    let asked = Asked::default();
    let log = Arc::clone(&asked);
    std::thread::spawn(move || {
        let mut buf = [0; 512];
        loop {
            let Ok((n, from)) = socket.recv_from(&mut buf) else {
                return;
            };
            let Some((id, name, question)) = parse_query(&buf[..n]) else {
                continue;
            };
            log.lock().expect("log").push((id, name.clone()));
            if answer {
                let found = RECORDS.iter().find(|(known, _)| *known == name);
                let reply = reply(id, question, found.map(|(_, addresses)| *addresses));
                socket.send_to(&reply, from).expect("answer");
            }
        }
    });
    asked
}

/// A query's transaction id, its name (lower case, dotted) and its
/// question section, if it is a query for one A record.
fn parse_query(packet: &[u8]) -> Option<(u16, String, &[u8])> {
    let header = packet.get(..12)?;
    let id = u16::from_be_bytes([header[0], header[1]]);
    let is_query = header[2] & 0x80 == 0;
    if !is_query || header[4..6] != [0, 1] {
        return None;
    }
    let mut labels = Vec::new();
    let mut at = 12;
    loop {
        let len = usize::from(*packet.get(at)?);
        at += 1;
        if len == 0 {
            break;
        }
        let label = packet.get(at..at + len)?;
        labels.push(String::from_utf8_lossy(label).to_lowercase());
        at += len;
    }
    let kind_and_class = packet.get(at..at + 4)?;
    (kind_and_class == [0, 1, 0, 1]).then(|| (id, labels.join("."), &packet[12..at + 4]))
}

/// The answer to query `id`: one A record per address, or NXDOMAIN.
fn reply(id: u16, question: &[u8], addresses: Option<&[Ipv4Addr]>) -> Vec<u8> {
    const RESPONSE_RD_RA: u16 = 0x8180;
    const NXDOMAIN: u16 = 3;
    let flags = RESPONSE_RD_RA | if addresses.is_some() { 0 } else { NXDOMAIN };
    let count = addresses.map_or(0, <[Ipv4Addr]>::len) as u16;
    let mut reply = Vec::new();
    for field in [id, flags, 1, count, 0, 0] {
        reply.extend_from_slice(&field.to_be_bytes());
    }
    reply.extend_from_slice(question);
    for address in addresses.unwrap_or_default() {
        // The name as a pointer to the question's, type A, class IN,
        // TTL 60 s, 4 bytes of address.
        reply.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
        reply.extend_from_slice(&address.octets());
    }
    reply
}

/// The names asked, in order, a retransmitted query counted once.
fn names(asked: &Asked) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut last_id = None;
    for (id, name) in asked.lock().expect("log").iter() {
        if last_id != Some(*id) {
            names.push(name.clone());
        }
        last_id = Some(*id);
    }
    names
}

/// Runs `std-dns` on the TAP network with `flags` and the steps.
fn std_dns(image: &Path, flags: &[&str], steps: &[&str]) -> Run {
    let net = format!("tap:{TAP}");
    let mut all = vec![
        "--timeout",
        "60s",
        "--net",
        &net,
        "--ip",
        "10.0.3.2/24",
        "--gateway",
        "10.0.3.1",
    ];
    all.extend_from_slice(flags);
    run_image(image, &all, steps)
}

#[test]
fn names_resolve_through_the_dns_server_given_with_dns() {
    let test = "names_resolve_through_the_dns_server_given_with_dns";
    let image = image("tests/guests/std-dns", false);
    if !in_namespace(test, &["--net"]) {
        return;
    }
    tap_network();
    let asked = dns_server(HOST, true);
    let listener = TcpListener::bind((HOST, 0)).expect("bind");
    let port = listener.local_addr().expect("address").port();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("the guest connects");
        stream.write_all(b"hello from the host\n").expect("write");
    });
    let fetch = format!("fetch:web.test:{port}");
    let dns = HOST.to_string();
    let run = std_dns(
        &image,
        &["--dns", &dns],
        &[
            "lookup:web.test",
            "lookup:multi.test",
            "lookup:nowhere.test",
            "lookup:pinned.test",
            "lookup:PINNED",
            "lookup:two.test",
            "lookup:ipv6-only.test",
            "lookup:10.0.3.9",
            "lookup:localhost",
            "numeric:web.test",
            "numeric:10.0.3.9",
            &fetch,
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    server.join().expect("host side");
    let unknown = "failed to lookup address information: Name or service not known";
    assert_eq!(
        run.stdout,
        format!(
            "lookup web.test: 10.0.3.1\n\
             lookup multi.test: 10.0.3.5, 10.0.3.6\n\
             lookup nowhere.test: {unknown}\n\
             lookup pinned.test: 10.0.3.9\n\
             lookup PINNED: 10.0.3.9\n\
             lookup two.test: 10.0.3.7, 10.0.3.8\n\
             lookup ipv6-only.test: {unknown}\n\
             lookup 10.0.3.9: 10.0.3.9\n\
             lookup localhost: 127.0.0.1\n\
             numeric web.test: -2 Name or service not known\n\
             numeric 10.0.3.9: 0 10.0.3.9\n\
             fetch web.test:{port}: hello from the host\n"
        )
    );
    // /etc/hosts, numbers, localhost and AI_NUMERICHOST asked nobody.
    assert_eq!(
        names(&asked),
        [
            "web.test",
            "multi.test",
            "nowhere.test",
            "ipv6-only.test",
            "web.test"
        ]
    );
}

#[test]
fn a_server_that_never_answers_is_a_temporary_failure_after_the_timeouts() {
    let test = "a_server_that_never_answers_is_a_temporary_failure_after_the_timeouts";
    let image = image("tests/guests/std-dns", false);
    if !in_namespace(test, &["--net"]) {
        return;
    }
    tap_network();
    let asked = dns_server(SILENT, false);
    let failure = "lookup web.test: failed to lookup address information: \
                   Temporary failure in name resolution\n";
    // glibc's RES_OPTIONS shortens the attempts: two of one second.
    let dns = SILENT.to_string();
    let start = Instant::now();
    let run = std_dns(
        &image,
        &["--dns", &dns, "-e", "RES_OPTIONS=timeout:1 attempts:2"],
        &["lookup:web.test"],
    );
    let waited = start.elapsed();
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, failure),
        "{}",
        run.stderr
    );
    assert!(
        (Duration::from_secs(2)..Duration::from_secs(10)).contains(&waited),
        "gave up after {waited:?}"
    );
    let ids: std::collections::HashSet<u16> = asked
        .lock()
        .expect("log")
        .iter()
        .map(|(id, name)| {
            assert_eq!(name, "web.test");
            *id
        })
        .collect();
    assert_eq!(ids.len(), 2, "one query per attempt: {asked:?}");
    // A TAP network has no server unless --dns names one: a name fails at
    // once, the same way.
    let start = Instant::now();
    let run = std_dns(&image, &[], &["lookup:web.test"]);
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, failure),
        "{}",
        run.stderr
    );
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "waited for nobody"
    );
}

#[test]
fn user_mode_asks_the_hosts_resolver_through_passt() {
    let test = "user_mode_asks_the_hosts_resolver_through_passt";
    let image = image("tests/guests/std-dns", false);
    // A mount namespace too, for the namespace's own /etc/resolv.conf.
    if !in_namespace(test, &["--net", "--mount"]) {
        return;
    }
    // passt needs an interface with a default route to call the host's
    // uplink; the namespace's resolver is that interface's own address.
    let uplink = Ipv4Addr::new(192, 0, 2, 1);
    let address = format!("{uplink}/24");
    ip(&[
        &["link", "set", "lo", "up"],
        &["tuntap", "add", "dev", "kilnup0", "mode", "tap"],
        &["addr", "add", &address, "dev", "kilnup0"],
        &["link", "set", "kilnup0", "up"],
        &[
            "route",
            "add",
            "default",
            "via",
            "192.0.2.254",
            "dev",
            "kilnup0",
        ],
    ]);
    let resolv = std::env::temp_dir().join(format!("kiln-dns-{}.conf", std::process::id()));
    std::fs::write(&resolv, format!("nameserver {uplink}\n")).expect("write resolv.conf");
    let status = Command::new("mount")
        .arg("--bind")
        .arg(&resolv)
        .arg("/etc/resolv.conf")
        .status()
        .expect("run mount");
    assert!(status.success(), "mount --bind over /etc/resolv.conf");
    let resolver = dns_server(uplink, true);
    // By default the guest asks passt (10.0.2.3), which forwards to the
    // host's resolver.
    let run = run_image(
        &image,
        &["--net", "user", "--timeout", "60s"],
        &["lookup:web.test", "lookup:nowhere.test"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "lookup web.test: 10.0.3.1\n\
         lookup nowhere.test: failed to lookup address information: Name or service not known\n"
    );
    assert_eq!(names(&resolver), ["web.test", "nowhere.test"]);
    // --dns names another server: the gateway, which passt maps to the
    // host's loopback.
    let loopback = dns_server(Ipv4Addr::LOCALHOST, true);
    let run = run_image(
        &image,
        &["--net", "user", "--dns", "10.0.2.2", "--timeout", "60s"],
        &["lookup:multi.test"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "lookup multi.test: 10.0.3.5, 10.0.3.6\n");
    assert_eq!(names(&loopback), ["multi.test"]);
    assert_eq!(names(&resolver).len(), 2, "passt's forwarder was not asked");
    let _ = std::fs::remove_file(&resolv);
}

#[test]
fn bad_dns_values_are_usage_errors() {
    require_kvm();
    for (flags, needle) in [
        (
            &["--dns", "dns.example", "-p", "8080:80"][..],
            "invalid --dns 'dns.example'",
        ),
        (
            &["--dns", "0.0.0.0", "-p", "8080:80"],
            "invalid --dns '0.0.0.0'",
        ),
        (&["--dns", "10.0.3.1"], "--dns needs a network"),
        (
            &["--net", "none", "--dns", "10.0.3.1"],
            "no --publish, --ip, --gateway or --dns",
        ),
    ] {
        let run: Run = kiln()
            .arg("run")
            .args(flags)
            .arg("no-such-image")
            .output()
            .expect("run kiln")
            .into();
        run.assert_clean_error(code::USAGE, needle);
    }
}
