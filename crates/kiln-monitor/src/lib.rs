//! Kiln's monitor: boots a Kiln image on KVM and serves its hypercalls.
//!
//! The path of a boot, module by module:
//!
//! 1. [`image`] validates the ELF file and its Kiln notes;
//! 2. [`layout`] plans guest memory (tables, boot info, stack, image, heap);
//! 3. [`vm`] creates the VM, its vCPUs and guest [`memory`], loads the
//!    segments, writes the [`paging`] tables and [`cpu`] descriptor tables,
//!    fills in the [`boot_info`] and enters the guest at CPL3;
//! 4. [`seccomp`] confines each vCPU thread to the run loop's system calls;
//! 5. each vCPU's [`run_loop`] serves the guest's port-write calls
//!    ([`hypercall`]; file operations on host [`volume`]s among them, and
//!    starting the other [`vcpus`]) until it exits,
//!    crashes (then [`crash`] unwinds and symbolizes its stack), breaks the
//!    ABI, or the [`watchdog`] ends it; a crashed guest can leave a
//!    [`core_dump`], a [`profile`] samples the guest's stacks, and [`gdb`]
//!    debugs it live.
//!
//! The guest is untrusted: every address it hands over is checked by
//! [`memory::GuestMemory`], and a malformed call ends the VM with a
//! [`hypercall::Violation`], never a monitor panic.

pub mod boot_info;
pub mod clock;
pub mod console;
pub mod control;
pub mod core_dump;
pub mod cpu;
pub mod crash;
pub mod gdb;
pub mod growth;
pub mod hypercall;
pub mod image;
pub mod layout;
pub mod memory;
pub mod net;
pub mod paging;
pub mod preempt;
pub mod privileges;
pub mod profile;
pub mod run_loop;
pub mod seccomp;
pub mod signals;
pub mod stats;
pub mod stdin;
#[cfg(test)]
mod test_support;
pub mod vcpus;
pub mod vm;
pub mod volume;
pub mod wait;
pub mod watchdog;

use std::collections::BTreeMap;
use std::time::Duration;

pub use crash::report::CrashReport;
pub use hypercall::Violation;
pub use image::{Image, ImageError, ImageFile};
pub use layout::LayoutError;

/// Settings for one boot.
#[derive(Clone, Debug)]
pub struct VmConfig {
    /// Guest memory in bytes.
    pub memory: u64,
    /// The program's arguments, its name first.
    pub argv: Vec<String>,
    /// `KEY=VALUE` environment entries.
    pub env: Vec<String>,
    /// End the guest after this long.
    pub timeout: Option<Duration>,
    /// Host `CLOCK_MONOTONIC` (ns) when the monitor process started, for the timeline.
    pub process_start_ns: u64,
    /// Ask the C library to log every call (`--trace-libc`).
    pub trace_libc: bool,
    /// Host directories to serve to the guest, in boot-info order.
    pub volumes: Vec<volume::VolumeSpec>,
    /// The image's host file ([`ImageFile::id`]), which the guest may then
    /// not open for writing through a volume.
    pub image_file: Option<volume::FileId>,
    /// Where to publish live counters for `kiln stats` ([`stats`]).
    pub stats_file: Option<std::path::PathBuf>,
    /// The network device, if the VM has one ([`net`]).
    pub net: Option<net::NetSpec>,
    /// The guest's host name: 1 to `kiln_abi::boot::HOST_NAME_MAX` bytes
    /// (the CLI checks it; the guest reads no more than that).
    pub hostname: String,
    /// The program's starting working directory (`kiln run --workdir`: an
    /// absolute path of at most `kiln_abi::boot::WORKDIR_MAX` bytes, checked
    /// by the CLI), or `None` for `/`.
    pub workdir: Option<String>,
    /// Give the guest the monitor's stdin (foreground runs); without it the
    /// guest's stdin is empty ([`stdin`]).
    pub stdin: bool,
    /// The vCPUs to give an image with threads (1 to
    /// `kiln_abi::boot::MAX_VCPUS`; the CLI checks); others get one.
    pub cpus: u32,
    /// The unprivileged user a monitor started as root becomes before the
    /// guest runs; without one it stays root with only the capabilities
    /// it still needs ([`privileges`]).
    pub monitor_user: Option<privileges::MonitorUser>,
    /// Where to write a core file if the guest crashes ([`core_dump`]).
    pub core: Option<core_dump::CoreConfig>,
    /// Sample the guest's stacks while it runs ([`profile`]).
    pub profile: Option<profile::ProfileConfig>,
    /// gdb's connection (`kiln run --gdb`): the guest starts stopped and
    /// is debugged over it ([`gdb`]).
    pub gdb: Option<std::sync::Arc<std::net::TcpStream>>,
    /// The control socket of a background instance, where `kiln debug`
    /// attaches gdb to the running guest ([`control`]).
    pub control: Option<std::sync::Arc<std::os::unix::net::UnixListener>>,
}

/// Why a boot could not be carried out (as opposed to how the guest ended).
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    /// The image does not fit the memory plan.
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// A KVM call failed.
    #[error("KVM: cannot {0}: {1}")]
    Kvm(&'static str, kvm_ioctls::Error),
    /// Guest memory could not be reserved.
    #[error("cannot reserve guest memory: {0}")]
    Memory(std::io::Error),
    /// The monitor's own setup wrote outside guest memory (a monitor bug).
    #[error("setting up guest memory: {0}")]
    Setup(#[from] memory::GuestAccessError),
    /// The timeout timer could not be armed.
    #[error("cannot arm the timeout: {0}")]
    Timer(std::io::Error),
    /// The time-slice timer of a threaded guest failed.
    #[error("time-slice timer: {0}")]
    TimeSlice(std::io::Error),
    /// A volume's host directory could not be opened.
    #[error(transparent)]
    Volume(#[from] volume::VolumeError),
    /// The network backend could not be started.
    #[error(transparent)]
    Net(#[from] net::NetError),
    /// The stats file could not be set up.
    #[error("cannot publish stats: {0}")]
    Stats(std::io::Error),
    /// The vCPU threads, or what they share, could not be set up.
    #[error("cannot set up the vCPU threads: {0}")]
    VcpuThreads(std::io::Error),
    /// The profiler's sampling timer could not be set up.
    #[error("cannot start the profiler: {0}")]
    Profile(std::io::Error),
    /// The seccomp filter could not be installed.
    #[error("cannot install the seccomp filter: {0}")]
    Seccomp(std::io::Error),
    /// gdb's session could not be set up.
    #[error("cannot start the gdb session: {0}")]
    Gdb(std::io::Error),
    /// The monitor could not give up its privileges.
    #[error("cannot drop privileges: {0}")]
    Privileges(std::io::Error),
}

/// How the guest ended.
#[derive(Debug)]
pub enum Outcome {
    /// It called exit with this status.
    Exited(i32),
    /// It panicked or faulted.
    Crashed(Box<CrashReport>),
    /// It gave up for want of memory: an allocation of `requested` bytes
    /// failed.
    OutOfMemory {
        /// The size of the allocation that failed.
        requested: u64,
    },
    /// It broke the hypercall ABI.
    Violation(Violation),
    /// It ran past `--timeout`.
    TimedOut,
    /// gdb killed it.
    Killed,
}

/// Monitor-side timestamps, in nanoseconds since the monitor process started.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timeline {
    /// Setup done, about to enter the guest.
    pub setup_ns: u64,
    /// The guest's first instruction (from its TSC stamp).
    pub guest_entry_ns: Option<u64>,
    /// The program's `main` (from its TSC stamp).
    pub guest_main_ns: Option<u64>,
    /// The VM ended.
    pub end_ns: u64,
    /// The VM was destroyed and its memory released.
    pub torn_down_ns: u64,
}

/// Everything a finished boot reports.
#[derive(Debug)]
pub struct RunSummary {
    /// How the guest ended.
    pub outcome: Outcome,
    /// When things happened.
    pub timeline: Timeline,
    /// VM exits by kind.
    pub exits: BTreeMap<&'static str, u64>,
    /// Console bytes written (stdout, stderr).
    pub console_bytes: [u64; 2],
    /// The guest memory limit (`-m`).
    pub memory_limit: u64,
    /// Guest memory mapped when the guest ended (it grows up to the limit).
    pub memory_mapped: u64,
    /// The vCPUs the VM had.
    pub vcpus: u32,
    /// The core file written for a crash, when one was asked for.
    pub core: Option<std::io::Result<core_dump::CoreWritten>>,
    /// The stacks sampled, when a profile was asked for.
    pub profile: Option<profile::Profile>,
}

/// Boots `image` and runs it to the end.
pub fn run(image: &Image<'_>, config: &VmConfig) -> Result<RunSummary, BootError> {
    run_on(image, config, start_network(config)?)
}

/// Starts the network backend `config` asks for. It is the slowest part of
/// a boot on the host (passt takes about 10 ms to come up), so it starts
/// first, and a monitor kept on standby starts it before it is told to
/// boot; [`run_on`] then boots on it.
pub fn start_network(config: &VmConfig) -> Result<Option<net::NetDevice>, BootError> {
    Ok(config.net.as_ref().map(net::NetDevice::new).transpose()?)
}

/// Boots `image` on a network device from [`start_network`] and runs it to
/// the end.
pub fn run_on(
    image: &Image<'_>,
    config: &VmConfig,
    net: Option<net::NetDevice>,
) -> Result<RunSummary, BootError> {
    vm::Vm::new(image, config, net)?.run()
}
