//! The files programs expect of a Linux system, added to the tree at start:
//! device nodes under `/dev`, generated files under `/proc` and `/etc`
//! (made when opened), and the process's own `/proc/1` (`/proc/self`).
//! Files baked into the image win: a name already there is left alone.
//! All are read-only, like baked ones; `/dev` and `/etc` stay writable
//! directories of memory, `/proc`'s are read-only.

mod cpuinfo;
mod device;
mod generated;

use alloc::vec::Vec;

pub use device::Device;
pub use generated::{Generated, RELEASE};

use super::tree::{Data, Kind, Tree};
use crate::{env, platform};

/// One node the system adds: its directory (as components), its name, the node.
type Entry = (&'static [&'static [u8]], &'static [u8], Kind);

/// What the system adds where.
fn entries() -> Vec<Entry> {
    let link = |target: &[u8]| Kind::Symlink(Data::Owned(target.to_vec()));
    let mut list: Vec<Entry> = Vec::new();
    for (name, device) in Device::ALL {
        list.push((&[b"dev"], name, Kind::Device(device)));
    }
    list.push((&[b"dev"], b"fd", link(b"/proc/self/fd")));
    for (name, target) in [
        (&b"stdin"[..], &b"/proc/self/fd/0"[..]),
        (b"stdout", b"/proc/self/fd/1"),
        (b"stderr", b"/proc/self/fd/2"),
    ] {
        list.push((&[b"dev"], name, link(target)));
    }
    // The one process is pid 1 (as `getpid` says).
    list.push((&[b"proc"], b"self", link(b"1")));
    list.push((&[b"proc", b"1"], b"exe", link(&exe_path())));
    list.push((&[b"proc", b"1"], b"fd", Kind::FdDir));
    const PROC: &[&[u8]] = &[b"proc"];
    const PROC_1: &[&[u8]] = &[b"proc", b"1"];
    const KERNEL: &[&[u8]] = &[b"proc", b"sys", b"kernel"];
    const ETC: &[&[u8]] = &[b"etc"];
    for (dir, name, generated) in [
        (PROC_1, &b"cmdline"[..], Generated::Cmdline),
        (PROC_1, b"environ", Generated::Environ),
        (PROC_1, b"stat", Generated::Stat),
        (PROC, b"cpuinfo", Generated::Cpuinfo),
        (PROC, b"meminfo", Generated::Meminfo),
        (PROC, b"uptime", Generated::Uptime),
        (PROC, b"loadavg", Generated::Loadavg),
        (KERNEL, b"hostname", Generated::KernelHostname),
        (KERNEL, b"osrelease", Generated::Osrelease),
        (ETC, b"hostname", Generated::EtcHostname),
        (ETC, b"hosts", Generated::Hosts),
        (ETC, b"passwd", Generated::Passwd),
        (ETC, b"group", Generated::Group),
    ] {
        list.push((dir, name, Kind::Generated(generated)));
    }
    if platform::boot_info().net.dns != [0; 4] {
        list.push((
            &[b"etc"],
            b"resolv.conf",
            Kind::Generated(Generated::ResolvConf),
        ));
    }
    list
}

/// The program's path as the guest knows it: `argv[0]` if absolute,
/// otherwise `/` and its name.
fn exe_path() -> Vec<u8> {
    let name = env::args().next().unwrap_or_default();
    if name.starts_with('/') {
        name.as_bytes().to_vec()
    } else {
        [b"/", name.as_bytes()].concat()
    }
}

/// Adds the system's files to `tree`, and the program's own file at its
/// path (unless a baked file is there), where `/proc/self/exe` points.
pub fn add(tree: &mut Tree) {
    for (dir, name, kind) in entries() {
        let read_only_dirs = dir.first() == Some(&&b"proc"[..]);
        tree.add_system(dir, name, kind, read_only_dirs);
    }
    if platform::image_file_size() > 0 {
        let path = exe_path();
        let mut components: Vec<&[u8]> = path
            .split(|&b| b == b'/')
            .filter(|c| !c.is_empty())
            .collect();
        if let Some(name) = components.pop() {
            tree.add_system(
                &components,
                name,
                Kind::Generated(Generated::Program),
                false,
            );
        }
    }
}
