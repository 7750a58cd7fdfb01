//! Serving hypercalls: decode the port write, validate, dispatch.
//!
//! The path is short on purpose. A 4-byte `out` to a known port carries the
//! guest-physical address of the call's argument block; each handler reads
//! its block through [`GuestMemory`], which bounds-checks every address and
//! length. Anything malformed becomes a [`Violation`] that ends the VM.

mod console;
mod crash;
mod exit;
mod file;
mod image;
mod memory;
mod stdin;
mod time;
mod vcpu;

use std::sync::Mutex;

use kiln_abi::hypercall::Hypercall;
use kvm_ioctls::{VcpuFd, VmFd};

use crate::Outcome;
use crate::clock::GuestClock;
use crate::image::Image;
use crate::layout::Layout;
use crate::memory::{GuestAccessError, GuestMemory};
use crate::vcpus::VcpuSet;
use crate::volume::Volumes;

/// A guest action that breaks the hypercall ABI.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Violation {
    /// An `out` to a port that is no hypercall.
    #[error("guest wrote to I/O port {0:#x}, which is not a hypercall port")]
    UnknownPort(u16),
    /// A hypercall made with a 1-, 2- or 8-byte access.
    #[error("hypercall on port {port:#x} used a {size}-byte access; hypercalls are 4-byte writes")]
    AccessSize {
        /// The port.
        port: u16,
        /// The access size.
        size: usize,
    },
    /// An argument block or buffer outside guest memory.
    #[error("{call:?} hypercall: {error}")]
    BadAddress {
        /// The call.
        call: Hypercall,
        /// What was out of range.
        error: GuestAccessError,
    },
    /// A length beyond the call's limit.
    #[error("{call:?} hypercall: length {len} exceeds the limit of {max} bytes")]
    TooLong {
        /// The call.
        call: Hypercall,
        /// The length given.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// A console write to a stream that does not exist.
    #[error("ConsoleWrite hypercall: unknown stream {0}")]
    BadStream(u32),
    /// A standard-output ring that claims more waiting bytes than it holds.
    #[error(
        "console ring: head {head} is not within {size} bytes after tail {tail}",
        size = kiln_abi::hypercall::CONSOLE_RING_SIZE
    )]
    ConsoleRing {
        /// The guest's count of bytes appended.
        head: u64,
        /// The count of bytes written out, as the ring says.
        tail: u64,
    },
    /// A `File` call with an operation number that is not one.
    #[error("File hypercall: unknown operation {0}")]
    UnknownFileOp(u32),
    /// A `File` `Stat` whose buffer is not one `FileStat`.
    #[error(
        "File hypercall: Stat buffer of {0} bytes; a FileStat is {size} bytes",
        size = size_of::<kiln_abi::file::FileStat>()
    )]
    StatSize(u64),
    /// A `File` call whose buffer is not the one structure its operation takes.
    #[error("File hypercall: {what} buffer of {len} bytes; it takes {size} bytes")]
    BlockSize {
        /// The operation.
        what: &'static str,
        /// The length given.
        len: u64,
        /// The structure's size.
        size: usize,
    },
    /// A `File` call listing more deferred blocks than allowed.
    #[error("File hypercall: {0} pending blocks; at most {max} may be deferred", max = kiln_abi::file::PENDING_MAX)]
    TooManyPending(u64),
    /// A deferred `File` block that is not a `Write` or `Close`, or lists
    /// deferred blocks of its own.
    #[error(
        "File hypercall: pending block {index} is op {op} with {nested} pending; only Write and Close, without pending, may be deferred"
    )]
    BadPending {
        /// Its place in the list.
        index: u64,
        /// Its operation number.
        op: u32,
        /// Its own pending count.
        nested: u64,
    },
    /// A misuse of the network device.
    #[error("network device: {0}")]
    Net(#[from] crate::net::NetViolation),
    /// A time slice ended while the guest's stack pointer left no room for
    /// the upcall frame below it in the guest's stack memory.
    #[error(
        "preemption: the interrupted stack pointer {0:#x} leaves no room for the upcall frame in the guest's stack or heap memory"
    )]
    UpcallStack(u64),
    /// Guest memory could not grow for a reason of the host's (KVM refused
    /// a slot): the guest asked properly, but nothing can be promised.
    #[error("GrowMemory hypercall: {0}")]
    Grow(String),
    /// `StartVcpu` or `WakeVcpu` naming a vCPU the VM does not have (or,
    /// for `StartVcpu`, the boot vCPU).
    #[error("{}", no_such_vcpu(*call, *index, *count))]
    NoSuchVcpu {
        /// The call.
        call: Hypercall,
        /// The index given.
        index: u32,
        /// The VM's vCPUs.
        count: u32,
    },
    /// `StartVcpu` for a vCPU that was started already.
    #[error("StartVcpu hypercall: vCPU {0} was started already; each vCPU starts once")]
    VcpuStarted(u32),
    /// A VM exit no Kiln guest causes.
    #[error("unexpected VM exit: {0}")]
    UnexpectedExit(String),
}

/// The line for a call naming a vCPU it cannot: `StartVcpu` takes the
/// vCPUs after the boot one, `WakeVcpu` any.
fn no_such_vcpu(call: Hypercall, index: u32, count: u32) -> String {
    let first = u32::from(call == Hypercall::StartVcpu);
    let valid = match count.checked_sub(1) {
        Some(last) if last >= first => format!("{first} to {last}"),
        _ => "none: the VM has one vCPU".into(),
    };
    format!("{call:?} hypercall: no vCPU {index} to name here (valid: {valid})")
}

/// What the run loop does after a hypercall.
#[derive(Debug)]
pub enum Flow {
    /// Resume the guest.
    Continue,
    /// End the VM.
    Stop(Outcome),
}

/// What hypercall handlers may use. The state the vCPUs share is behind
/// one lock per device, so no call holds another's lock, and `Block` holds
/// none while it waits.
pub struct Context<'a> {
    /// Guest memory.
    pub memory: &'a GuestMemory,
    /// The vCPU that made the call (for register reads in crash reports).
    pub vcpu: &'a VcpuFd,
    /// Its index.
    pub vcpu_index: u32,
    /// All the VM's vCPUs (starting and waking them).
    pub vcpus: &'a VcpuSet,
    /// The image (for symbolizing crash reports).
    pub image: &'a Image<'a>,
    /// This boot's layout.
    pub layout: &'a Layout,
    /// Guest/host time mapping.
    pub clock: &'a GuestClock,
    /// The host side of the console.
    pub console: &'a Mutex<crate::console::Console>,
    /// Live counters for `kiln stats`.
    pub stats: &'a crate::stats::LiveStats,
    /// Host volumes and the guest's open files.
    pub volumes: &'a Mutex<Volumes>,
    /// The network device, if the VM has one.
    pub net: Option<&'a Mutex<crate::net::NetDevice>>,
    /// The guest's stdin.
    pub stdin: crate::stdin::HostStdin,
    /// The VM (for new memory slots).
    pub vm: &'a VmFd,
    /// The memory mapped beyond the boot's.
    pub growth: &'a Mutex<crate::growth::Growth>,
    /// gdb's side of the VM, with `--gdb` (breakpoints and steps trap).
    pub debugger: Option<&'a crate::gdb::Debugger>,
}

impl Context<'_> {
    /// What the console reads the guest's bytes from and counts them in.
    fn guest(&self) -> crate::console::Guest<'_> {
        crate::console::Guest {
            memory: self.memory,
            layout: self.layout,
            stats: self.stats,
        }
    }

    /// When a console write stops waiting for a slow reader: once the VM
    /// is stopping (`--timeout`, or another vCPU ended it).
    fn give_up(&self) -> impl Fn() -> bool + '_ {
        || self.vcpus.stopping() || crate::watchdog::Watchdog::fired()
    }

    /// Reads `call`'s argument block, turning a bad address into a violation.
    fn args<T: vm_memory::ByteValued>(&self, call: Hypercall, gpa: u64) -> Result<T, Violation> {
        self.memory
            .read_obj(gpa)
            .map_err(|error| Violation::BadAddress { call, error })
    }
}

/// A guest buffer named in a call's arguments: where, how long, and the
/// call's limit on its length.
struct GuestBuffer {
    data: kiln_abi::GuestPtr<u8>,
    len: u64,
    max: u64,
}

/// Copies `buffer` into `out`, after checking its length against the call's
/// limit and its range against guest memory.
fn read_buffer(
    memory: &GuestMemory,
    call: Hypercall,
    buffer: GuestBuffer,
    out: &mut Vec<u8>,
) -> Result<(), Violation> {
    let GuestBuffer { data, len, max } = buffer;
    if len > max {
        return Err(Violation::TooLong { call, len, max });
    }
    memory
        .read_bytes(data.addr(), len, out)
        .map_err(|error| Violation::BadAddress { call, error })
}

/// Handles one port write.
pub fn dispatch(ctx: &mut Context<'_>, port: u16, data: &[u8]) -> Result<Flow, Violation> {
    let call = Hypercall::from_port(port).ok_or(Violation::UnknownPort(port))?;
    let gpa: [u8; 4] = data.try_into().map_err(|_| Violation::AccessSize {
        port,
        size: data.len(),
    })?;
    let gpa = u64::from(u32::from_le_bytes(gpa));
    match call {
        Hypercall::ConsoleWrite => console::write(ctx, gpa),
        Hypercall::Exit => exit::exit(ctx, gpa),
        Hypercall::Block => time::block(ctx, gpa),
        Hypercall::Panic => crash::panic(ctx, gpa),
        Hypercall::Trap => crash::trap(ctx, gpa),
        Hypercall::File => file::file(ctx, gpa),
        Hypercall::OutOfMemory => exit::out_of_memory(ctx, gpa),
        Hypercall::StdinRead => stdin::read(ctx, gpa),
        Hypercall::GrowMemory => memory::grow(ctx, gpa),
        Hypercall::ReadImage => image::read(ctx, gpa),
        Hypercall::StartVcpu => vcpu::start(ctx, gpa),
        Hypercall::WakeVcpu => vcpu::wake(ctx, gpa),
        _ => Err(Violation::UnknownPort(port)),
    }
}
