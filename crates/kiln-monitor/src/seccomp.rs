//! The seccomp filter the monitor runs the guest under.
//!
//! Once the VM is set up, the monitor needs only a handful of system calls
//! to serve the guest (see `seccomp/x86_64.json`, compiled to BPF by
//! `build.rs`), reads of its stdin (fd 0) and `ppoll` among them. The filter is installed just before the first `KVM_RUN`, so
//! a monitor bug reachable from a hostile guest cannot open files, map
//! executable code, spawn processes or talk to the network: any call outside
//! the allowlist kills the process.
//!
//! A VM with host volumes gets a second program, the same list plus the
//! file calls its `File` hypercalls make (`openat2`, reads and writes on any
//! descriptor, `mkdirat`...). Seccomp cannot look inside `openat2`'s
//! `open_how`, so there the confinement to the volumes is `RESOLVE_BENEATH`
//! in [`crate::volume`], not the filter. A VM with a network device gets
//! what its backend needs: `ppoll` for the `Block` wait, `recvfrom`/`read`
//! to take frames and `writev` to send them. The descriptor numbers are
//! only known at run time, so those calls are allowed on any descriptor;
//! the process holds few (KVM's, the console's, the backend's, volumes').
//! VMs without volumes or network keep the tightest program.
//!
//! A filter binds the thread that installs it (no `TSYNC`): each vCPU
//! thread installs the run loop's itself, once its timer and signal masks
//! are set up and before the guest can reach it. With `--net
//! ports` the monitor has one more thread, the port forwarder, which
//! installs its own program ([`restrict_forwarder`]) before it reads a
//! guest frame: socket calls on its descriptors, its allocator, its exit,
//! and nothing that opens, maps executable memory or spawns.
//!
//! The filter is installed with `SECCOMP_FILTER_FLAG_SPEC_ALLOW`: without
//! it the kernel also forces speculative-store-bypass mitigation on the
//! process, which is meant for sandboxed code running *in* it; the
//! untrusted code here is the guest, which KVM already runs in its own
//! address space.
//!
//! Cost, measured on our hosts: installing the filter takes ~80 µs (the
//! kernel JIT-compiles it), and each VM exit gets ~1.6 µs slower; about
//! 0.1-0.2 ms of a ~1.5 ms `kiln run`. That buys confinement of the one
//! process a hostile guest can reach.

use std::io;

use libc::sock_filter;

/// The compiled allowlists: 8-byte BPF instructions, little-endian.
const RUN_LOOP: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/run_loop.bpf"));
const RUN_LOOP_VOLUMES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/run_loop_volumes.bpf"));
const RUN_LOOP_NET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/run_loop_net.bpf"));
const RUN_LOOP_VOLUMES_NET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/run_loop_volumes_net.bpf"));
const FORWARDER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/forwarder.bpf"));
const FORWARDER_REFUSED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/forwarder_refused.bpf"));
const FILE_WRITER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/file_writer.bpf"));
const GDB: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/gdb.bpf"));

/// What a VM serves beyond the run loop.
#[derive(Clone, Copy, Debug, Default)]
pub struct Needs {
    /// Host volumes (file calls).
    pub volumes: bool,
    /// A network device (its backend's calls).
    pub net: bool,
}

/// Restricts the calling thread, a vCPU's, to the run loop's system
/// calls, plus those of the volumes and the network device it serves.
pub fn restrict_to_run_loop(needs: Needs) -> io::Result<()> {
    install(match (needs.volumes, needs.net) {
        (false, false) => RUN_LOOP,
        (true, false) => RUN_LOOP_VOLUMES,
        (false, true) => RUN_LOOP_NET,
        (true, true) => RUN_LOOP_VOLUMES_NET,
    })
}

/// Restricts the calling thread, the port forwarder's, to its calls. Two
/// programs, of which the kernel takes the stricter answer: the allowlist
/// (anything else kills), which lets `openat` through, and one that fails
/// `openat` with `EACCES`. glibc's malloc opens a `/proc` file the first
/// time a thread's arena shrinks, and does without it.
pub fn restrict_forwarder() -> io::Result<()> {
    install(FORWARDER_REFUSED)?;
    install(FORWARDER)
}

/// Restricts the calling thread, the core writer's, to creating, writing,
/// syncing and renaming its file, and to memory: it is started before the
/// vCPU threads confine themselves (the run loop's program cannot create
/// files), and must not be the one unconfined thread of the monitor.
pub fn restrict_file_writer() -> io::Result<()> {
    install(FILE_WRITER)
}

/// Restricts the calling thread, the gdb session's ([`crate::gdb`]), to
/// its socket, the debugger's eventfds, kicking vCPU threads, the
/// timeout's clock and memory: gdb's packets are as untrusted as the guest.
pub fn restrict_gdb_session() -> io::Result<()> {
    install(GDB)
}

/// Installs `compiled` on the calling thread.
fn install(compiled: &[u8]) -> io::Result<()> {
    let mut program = program(compiled);
    let fprog = libc::sock_fprog {
        len: u16::try_from(program.len()).map_err(io::Error::other)?,
        filter: program.as_mut_ptr(),
    };
    // SAFETY: PR_SET_NO_NEW_PRIVS takes no pointers; it is required before
    // an unprivileged process may install a filter.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fprog` points at `program`, a valid BPF program that outlives
    // the call (the kernel copies it).
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
            &fprog,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn program(compiled: &[u8]) -> Vec<sock_filter> {
    compiled
        .chunks_exact(8)
        .map(|insn| sock_filter {
            code: u16::from_le_bytes([insn[0], insn[1]]),
            jt: insn[2],
            jf: insn[3],
            k: u32::from_le_bytes([insn[4], insn[5], insn[6], insn[7]]),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::process::ExitStatusExt;
    use std::path::PathBuf;
    use std::process::{Command, Output};

    use super::*;
    use crate::volume::{FileId, VolumeSpec, Volumes};

    /// Set in a child test process: the volume directory to probe. A
    /// filter applies to the thread that installs it (and kills the whole
    /// process on a miss), so each probe runs in a process of its own.
    const PROBE_DIR: &str = "KILN_SECCOMP_PROBE_DIR";

    /// Runs `test` (this binary's test of that name) in a child process
    /// with a fresh volume directory, which is removed afterwards.
    fn probe_in_child(test: &str) -> Output {
        let dir = std::env::temp_dir().join(format!("kiln-seccomp-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the probe directory");
        let output = Command::new(std::env::current_exe().expect("the test binary"))
            .args([&format!("seccomp::tests::{test}"), "--exact", "--nocapture"])
            .env(PROBE_DIR, &dir)
            .output()
            .expect("run the test binary");
        let _ = std::fs::remove_dir_all(&dir);
        output
    }

    /// In a probe child: the volume, opened before any filter, guarding
    /// an image (the probe directory itself) as a VM's volumes do, so that
    /// opens take the checked path.
    fn probe_volumes() -> Option<Volumes> {
        let dir = PathBuf::from(std::env::var_os(PROBE_DIR)?);
        let image = std::fs::metadata(&dir).expect("stat the probe directory");
        let spec = VolumeSpec::new(dir, "/data", false).expect("spec");
        let mut volumes = Volumes::new(&[spec]).expect("open the probe volume");
        volumes.protect(FileId {
            dev: image.dev(),
            ino: image.ino(),
        });
        Some(volumes)
    }

    /// Every file operation, as a guest would make them.
    fn exercise(volumes: &mut Volumes) {
        let create = (libc::O_RDWR | libc::O_CREAT).cast_unsigned();
        let file = volumes.open(0, b"f", create, 0o644).expect("open");
        let mut buf = [0u8; 512];
        volumes.write(file, -1, b"data").expect("write");
        volumes.write(file, 8, b"more").expect("pwrite");
        volumes.read(file, 0, &mut buf).expect("pread");
        volumes.seek(file, 0, 0).expect("seek");
        volumes.read(file, -1, &mut buf).expect("read");
        volumes.stat(file).expect("fstat");
        volumes.truncate(file, 2).expect("truncate");
        volumes.fsync(file, 0).expect("fsync");
        volumes.fsync(file, 1).expect("fdatasync");
        volumes.close(file).expect("close");
        let truncate = (libc::O_WRONLY | libc::O_TRUNC).cast_unsigned();
        let file = volumes
            .open(0, b"f", truncate, 0)
            .expect("open, truncating");
        volumes.close(file).expect("close");
        let truncate = (libc::O_RDONLY | libc::O_TRUNC).cast_unsigned();
        let file = volumes
            .open(0, b"f", truncate, 0)
            .expect("open, truncating");
        volumes.close(file).expect("close");
        volumes.mkdir(0, b"d", 0o755).expect("mkdir");
        volumes.rename(0, b"f", b"d/f").expect("rename");
        volumes.symlink(0, b"l", b"d/f").expect("symlink");
        volumes.read_link(0, b"l", &mut buf).expect("readlink");
        volumes.stat_path(0, b"l", 0).expect("stat");
        let dir = volumes
            .open(0, b"d", libc::O_DIRECTORY.cast_unsigned(), 0)
            .expect("open a directory");
        volumes.read_dir(dir, &mut buf).expect("getdents");
        volumes.close(dir).expect("close");
        volumes.unlink(0, b"l", 0).expect("unlink");
        volumes.unlink(0, b"d/f", 0).expect("unlink");
        volumes.unlink(0, b"d", 1 << 9).expect("rmdir");
    }

    #[test]
    fn the_volumes_program_allows_every_file_operation() {
        let test = "the_volumes_program_allows_every_file_operation";
        let Some(mut volumes) = probe_volumes() else {
            let output = probe_in_child(test);
            assert!(output.status.success(), "{output:?}");
            assert!(String::from_utf8_lossy(&output.stdout).contains("1 passed"));
            return;
        };
        restrict_to_run_loop(Needs {
            volumes: true,
            net: false,
        })
        .expect("install the filter");
        exercise(&mut volumes);
    }

    #[test]
    fn the_base_program_kills_file_operations() {
        let Some(volumes) = probe_volumes() else {
            let output = probe_in_child("the_base_program_kills_file_operations");
            assert_eq!(output.status.signal(), Some(libc::SIGSYS), "{output:?}");
            return;
        };
        restrict_to_run_loop(Needs::default()).expect("install the filter");
        let _ = volumes.stat_path(0, b"", 0);
    }

    /// `_IOR(KVMIO, nr, T)` as the kernel's headers compute it.
    fn ior<T>(nr: u32) -> u32 {
        (2 << 30) | ((size_of::<T>() as u32) << 16) | (0xae << 8) | nr
    }

    /// `_IOW(KVMIO, nr, T)` as the kernel's headers compute it.
    fn iow<T>(nr: u32) -> u32 {
        (1 << 30) | ((size_of::<T>() as u32) << 16) | (0xae << 8) | nr
    }

    #[test]
    fn allowlist_names_the_right_ioctls() {
        let json = include_str!("../seccomp/x86_64.json");
        for request in [
            0xae80, // KVM_RUN: _IO(KVMIO, 0x80)
            ior::<kvm_bindings::kvm_regs>(0x81),
            ior::<kvm_bindings::kvm_sregs>(0x83),
            iow::<kvm_bindings::kvm_regs>(0x82),
            iow::<kvm_bindings::kvm_sregs>(0x84),
            iow::<kvm_bindings::kvm_cpuid2>(0x90),
            iow::<kvm_bindings::kvm_mp_state>(0x99),
            ior::<kvm_bindings::kvm_fpu>(0x8c),
            iow::<kvm_bindings::kvm_fpu>(0x8d),
        ] {
            assert!(
                json.contains(&format!("\"val\": {request} ")),
                "ioctl {request:#x} missing from the allowlist"
            );
        }
    }

    #[test]
    fn the_forwarder_programs_refuse_opens_without_killing() {
        let test = "seccomp::tests::the_forwarder_programs_refuse_opens_without_killing";
        if !crate::test_support::in_child(test) {
            return;
        }
        restrict_forwarder().expect("install the filters");
        let path = c"/proc/sys/vm/overcommit_memory";
        // SAFETY: a valid C string; the result is only compared.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        assert_eq!(fd, -1, "the open was refused");
        let error = std::io::Error::last_os_error();
        assert_eq!(error.raw_os_error(), Some(libc::EACCES));
    }

    /// Set in a mapping probe child: which program to install, and what to
    /// try under it.
    const MAP_PROBE: &str = "KILN_SECCOMP_MAP_PROBE";

    /// The probes: (what is tried, whether the process survives it).
    const MAPPINGS: [(&str, bool); 4] = [
        ("mmap-rw", true),
        ("mmap-rx", false),
        ("mmap-rwx", false),
        ("mprotect-x", false),
    ];

    /// No program lets the monitor make executable memory after setup: the
    /// read-write mappings its allocator and guest memory need pass, an
    /// executable mapping (new, or an existing one made executable) kills.
    #[test]
    fn no_program_lets_the_monitor_map_executable_memory() {
        for program in [
            "run_loop",
            "run_loop_volumes",
            "run_loop_net",
            "run_loop_volumes_net",
            "forwarder",
            "file_writer",
            "gdb",
        ] {
            for (attempt, survives) in MAPPINGS {
                let output = Command::new(std::env::current_exe().expect("the test binary"))
                    .args(["seccomp::tests::mapping_probe", "--exact", "--nocapture"])
                    .env(MAP_PROBE, format!("{program} {attempt}"))
                    .output()
                    .expect("run the probe");
                if survives {
                    assert!(output.status.success(), "{program} {attempt}: {output:?}");
                } else {
                    assert_eq!(
                        output.status.signal(),
                        Some(libc::SIGSYS),
                        "{program} {attempt}: {output:?}"
                    );
                }
            }
        }
    }

    /// In a child of the test above: installs a program and maps.
    #[test]
    fn mapping_probe() {
        let Some(probe) = std::env::var_os(MAP_PROBE) else {
            return;
        };
        let probe = probe.to_string_lossy().into_owned();
        let (program, attempt) = probe.split_once(' ').expect("program and attempt");
        let len = 4096;
        let anonymous = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
        let rw = libc::PROT_READ | libc::PROT_WRITE;
        // SAFETY: a fresh anonymous mapping, touched by nothing else.
        let existing = unsafe { libc::mmap(std::ptr::null_mut(), len, rw, anonymous, -1, 0) };
        assert_ne!(existing, libc::MAP_FAILED);
        let volumes_net = |volumes, net| Needs { volumes, net };
        match program {
            "run_loop" => restrict_to_run_loop(volumes_net(false, false)),
            "run_loop_volumes" => restrict_to_run_loop(volumes_net(true, false)),
            "run_loop_net" => restrict_to_run_loop(volumes_net(false, true)),
            "run_loop_volumes_net" => restrict_to_run_loop(volumes_net(true, true)),
            "file_writer" => restrict_file_writer(),
            "gdb" => restrict_gdb_session(),
            _ => restrict_forwarder(),
        }
        .expect("install the filter");
        let prot = match attempt {
            "mmap-rw" => rw,
            "mmap-rx" => libc::PROT_READ | libc::PROT_EXEC,
            "mmap-rwx" => rw | libc::PROT_EXEC,
            _ => {
                // SAFETY: `existing` is this probe's own mapping of `len` bytes.
                let rc = unsafe { libc::mprotect(existing, len, rw | libc::PROT_EXEC) };
                assert_eq!(rc, 0, "the mprotect ran");
                return;
            }
        };
        // SAFETY: a fresh anonymous mapping; only its address is compared.
        let mapped = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, anonymous, -1, 0) };
        assert_ne!(mapped, libc::MAP_FAILED, "{}", io::Error::last_os_error());
    }

    #[test]
    fn programs_are_whole_instructions() {
        for compiled in [
            RUN_LOOP,
            RUN_LOOP_VOLUMES,
            RUN_LOOP_NET,
            RUN_LOOP_VOLUMES_NET,
            FORWARDER,
            FORWARDER_REFUSED,
            FILE_WRITER,
            GDB,
        ] {
            assert!(!compiled.is_empty());
            assert_eq!(compiled.len() % 8, 0);
            assert_eq!(program(compiled).len(), compiled.len() / 8);
        }
        assert!(RUN_LOOP_VOLUMES.len() > RUN_LOOP.len());
        assert!(RUN_LOOP_NET.len() > RUN_LOOP.len());
        assert!(RUN_LOOP_VOLUMES_NET.len() > RUN_LOOP_VOLUMES.len());
    }
}
