//! Files whose contents are made when they are opened, from what the guest
//! knows about itself: its arguments and environment, memory, uptime, host
//! name and network addressing.

use alloc::format;
use alloc::vec::Vec;
use core::fmt::Write;

use kiln_abi::errno::{EACCES, EROFS};

use super::cpuinfo;
use crate::fs::Errno;
use crate::{env, platform};

/// The kernel release `uname` reports: Linux 6.1's interface is what the C
/// library implements (programs compare the release against minimum
/// versions), and the suffix says it is Kiln, not a Linux kernel.
pub const RELEASE: &str = "6.1.0-kiln";

/// A generated file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Generated {
    /// `/proc/<pid>/cmdline`: the arguments, each NUL-terminated.
    Cmdline,
    /// `/proc/<pid>/environ`: the environment the program started with.
    Environ,
    /// `/proc/<pid>/stat`: the process's status line.
    Stat,
    /// `/proc/cpuinfo`.
    Cpuinfo,
    /// `/proc/meminfo`.
    Meminfo,
    /// `/proc/uptime`.
    Uptime,
    /// `/proc/loadavg`.
    Loadavg,
    /// `/proc/sys/kernel/hostname`.
    KernelHostname,
    /// `/etc/hostname`.
    EtcHostname,
    /// `/proc/sys/kernel/osrelease`.
    Osrelease,
    /// `/etc/resolv.conf`: the boot info's DNS server.
    ResolvConf,
    /// `/etc/hosts`: localhost and the host name.
    Hosts,
    /// `/etc/passwd`: root.
    Passwd,
    /// `/etc/group`: root's group.
    Group,
    /// The program's own file, at its path (where `/proc/self/exe` points):
    /// the image the VM booted, read from the monitor, so the program's
    /// backtraces find its symbols as on Linux.
    Program,
}

impl Generated {
    /// Under `/proc` (size 0 in `stat`, `EACCES` for writers, as a program
    /// without privileges finds there) or under `/etc` (a read-only file).
    pub fn in_proc(self) -> bool {
        !matches!(
            self,
            Generated::EtcHostname
                | Generated::ResolvConf
                | Generated::Hosts
                | Generated::Passwd
                | Generated::Group
                | Generated::Program
        )
    }

    /// The error for opening it to write.
    pub fn write_error(self) -> Errno {
        Errno(if self.in_proc() { EACCES } else { EROFS })
    }

    /// The contents now.
    pub fn contents(self) -> Vec<u8> {
        match self {
            Generated::Cmdline => nul_terminated(env::args()),
            Generated::Environ => {
                let mut out = Vec::new();
                for (key, value) in env::vars() {
                    out.extend_from_slice(format!("{key}={value}\0").as_bytes());
                }
                out
            }
            Generated::Stat => stat_line(),
            Generated::Cpuinfo => cpuinfo::text(),
            Generated::Meminfo => meminfo(),
            Generated::Uptime => {
                let ns = crate::clock::Instant::now().as_nanos_since_boot();
                let centis = ns / 10_000_000;
                format!("{}.{:02} 0.00\n", centis / 100, centis % 100).into_bytes()
            }
            Generated::Loadavg => b"0.00 0.00 0.00 1/1 1\n".to_vec(),
            Generated::KernelHostname | Generated::EtcHostname => line(platform::hostname()),
            Generated::Osrelease => line(RELEASE.as_bytes()),
            Generated::ResolvConf => {
                let [a, b, c, d] = platform::boot_info().net.dns;
                format!("nameserver {a}.{b}.{c}.{d}\n").into_bytes()
            }
            Generated::Hosts => hosts(),
            Generated::Passwd => b"root:x:0:0:root:/root:/bin/sh\n".to_vec(),
            Generated::Group => b"root:x:0:\n".to_vec(),
            Generated::Program => {
                let mut image = alloc::vec![0; platform::image_file_size() as usize];
                let copied = platform::read_image(0, &mut image);
                image.truncate(copied);
                image
            }
        }
    }

    /// The size `stat` reports, without making the contents when that is
    /// costly (the program's file is its whole image).
    pub fn size(self) -> u64 {
        match self {
            Generated::Program => platform::image_file_size(),
            other => other.contents().len() as u64,
        }
    }
}

fn line(text: &[u8]) -> Vec<u8> {
    let mut out = text.to_vec();
    out.push(b'\n');
    out
}

fn nul_terminated<'a>(items: impl Iterator<Item = &'a str>) -> Vec<u8> {
    let mut out = Vec::new();
    for item in items {
        out.extend_from_slice(item.as_bytes());
        out.push(0);
    }
    out
}

/// Linux's `/proc/meminfo` lines (label padded to 16 columns, the value in
/// kB right-aligned in 8): guest memory, and the heap's free bytes, which
/// are all the guest can still allocate.
fn meminfo() -> Vec<u8> {
    let total = platform::boot_info().memory_size >> 10;
    let free = crate::heap::free() >> 10;
    let mut text = alloc::string::String::new();
    for (label, kb) in [
        ("MemTotal:", total),
        ("MemFree:", free),
        ("MemAvailable:", free),
        ("Buffers:", 0),
        ("Cached:", 0),
        ("SwapTotal:", 0),
        ("SwapFree:", 0),
    ] {
        let _ = writeln!(text, "{label:<16}{kb:>8} kB");
    }
    text.into_bytes()
}

/// `/etc/hosts` as Docker writes it: the loopback names, and the host name
/// on the guest's address (127.0.1.1, Debian's habit, without a network).
fn hosts() -> Vec<u8> {
    let net = platform::boot_info().net;
    let [a, b, c, d] = if net.mmio_base != 0 {
        net.ipv4
    } else {
        [127, 0, 1, 1]
    };
    let name = core::str::from_utf8(platform::hostname()).unwrap_or_default();
    format!(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{a}.{b}.{c}.{d}\t{name}\n"
    )
    .into_bytes()
}

/// `/proc/<pid>/stat`'s 52 fields for the one process: pid 1, running, no
/// parent, its thread count, guest memory as its size; what Kiln does not
/// count is 0.
fn stat_line() -> Vec<u8> {
    let name = env::args()
        .next()
        .and_then(|arg0| arg0.rsplit('/').next())
        .unwrap_or_default();
    let comm: alloc::string::String = name.chars().take(15).collect();
    let memory = platform::boot_info().memory_size;
    let mut text = format!(
        "1 ({comm}) R 0 1 1 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 0 {memory} {} ",
        memory / 4096
    );
    // rsslim onwards: nothing Kiln tracks.
    for _ in 25..=52 {
        text.push_str("0 ");
    }
    text.pop();
    text.push('\n');
    text.into_bytes()
}
