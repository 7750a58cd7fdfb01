//! One vCPU's run loop: enter the guest, serve the exit, until the VM
//! stops. Each vCPU runs it on its own host thread; what they share is in
//! [`Shared`].

use std::collections::BTreeMap;
use std::sync::Mutex;

use kiln_abi::hypercall::Hypercall;
use kvm_ioctls::{VcpuExit, VcpuFd, VmFd};

use crate::clock::GuestClock;
use crate::console::Console;
use crate::crash::report::{CrashKind, CrashReport};
use crate::crash::unwind::Registers;
use crate::gdb::Debugger;
use crate::growth::Growth;
use crate::hypercall::{self, Context, Flow, Violation};
use crate::image::Image;
use crate::layout::Layout;
use crate::memory::GuestMemory;
use crate::net::NetDevice;
use crate::preempt::{Preemptor, Tick};
use crate::profile::{LiveProfile, Sampler};
use crate::stats::LiveStats;
use crate::stdin::HostStdin;
use crate::vcpus::{VcpuSet, lock};
use crate::volume::Volumes;
use crate::watchdog::Watchdog;
use crate::{BootError, Outcome};

/// VM exits by kind, as one vCPU counted them.
pub type Exits = BTreeMap<&'static str, u64>;

/// What every vCPU's loop uses: the read-only parts of the boot as they
/// are, each device behind its own lock.
pub struct Shared<'a> {
    /// The image (crash reports).
    pub image: &'a Image<'a>,
    /// This boot's layout.
    pub layout: &'a Layout,
    /// Guest memory.
    pub memory: &'a GuestMemory,
    /// Guest/host time mapping.
    pub clock: &'a GuestClock,
    /// The VM (new memory slots).
    pub vm: &'a VmFd,
    /// Live counters for `kiln stats`.
    pub stats: &'a LiveStats,
    /// The guest's stdin.
    pub stdin: HostStdin,
    /// The host side of the console.
    pub console: Mutex<Console>,
    /// Host volumes and the guest's open files.
    pub volumes: Mutex<Volumes>,
    /// The network device, if the VM has one.
    pub net: Option<Mutex<NetDevice>>,
    /// The memory mapped beyond the boot's.
    pub growth: Mutex<Growth>,
    /// The vCPUs.
    pub vcpus: VcpuSet,
    /// gdb's side of the VM, with `--gdb` or a control socket.
    pub debugger: Option<&'a Debugger>,
    /// The profile a control socket turns on and off (`kiln profile`).
    pub live_profile: Option<&'a LiveProfile>,
}

/// Runs vCPU `index` until the VM stops; ends the VM when the guest does
/// on this vCPU. Returns the exits it counted.
pub fn run(
    shared: &Shared<'_>,
    index: u32,
    vcpu: &mut VcpuFd,
    mut preemptor: Option<Preemptor>,
    mut sampler: Option<&mut Sampler<'_>>,
) -> Exits {
    let mut exits = Exits::new();
    while !shared.vcpus.stopping() {
        let step = step(
            shared,
            index,
            vcpu,
            preemptor.as_mut(),
            sampler.as_deref_mut(),
            &mut exits,
        );
        let ending = match step {
            Ok(Flow::Continue) => continue,
            Ok(Flow::Stop(outcome)) => Ok(outcome),
            Err(error) => Err(error),
        };
        shared.vcpus.finish(ending);
    }
    exits
}

/// One `KVM_RUN` and the exit it ends with.
fn step(
    shared: &Shared<'_>,
    index: u32,
    vcpu: &mut VcpuFd,
    mut preemptor: Option<&mut Preemptor>,
    mut sampler: Option<&mut Sampler<'_>>,
    exits: &mut Exits,
) -> Result<Flow, BootError> {
    let memory = shared.memory;
    if let Some(debugger) = shared.debugger {
        debugger.pause_point(index, vcpu, &shared.vcpus)?;
    }
    if let Some(preemptor) = preemptor.as_deref_mut() {
        preemptor.sync(vcpu, memory)?;
    }
    if let Some(sampler) = sampler.as_deref_mut() {
        sampler.resume().map_err(BootError::Profile)?;
    }
    let exit = match vcpu.run() {
        // Answered here: the value goes back in the run page.
        Ok(VcpuExit::MmioRead(gpa, data)) => Exit::MmioRead(match &shared.net {
            Some(net) if NetDevice::contains(gpa) => {
                lock(net).mmio_read(gpa, data).map_err(Violation::from)
            }
            _ => Err(unbacked(gpa)),
        }),
        Ok(exit) => Exit::from(exit),
        Err(e) if e.errno() == libc::EINTR => Exit::Interrupted,
        Err(e) => return Err(BootError::Kvm("run vCPU", e)),
    };
    *exits.entry(exit.kind()).or_insert(0) += 1;
    shared.stats.exit(exit.kind());
    if Watchdog::fired() {
        return Ok(Flow::Stop(Outcome::TimedOut));
    }
    if shared.vcpus.stopping() {
        // Another vCPU ended the VM (this exit may be its kick).
        return Ok(Flow::Continue);
    }
    // Frames the guest queued go out at every exit it makes: it notifies
    // the transmit queue only for frames that waited a while, counting on
    // its next exit (`Block` above all, and `Exit`) to carry them.
    if let Some(net) = &shared.net
        && let Err(violation) = lock(net).transmit(memory)
    {
        return Ok(Flow::Stop(Outcome::Violation(violation.into())));
    }
    let flow = match exit {
        Exit::Io { port, data, len } => {
            if port == Hypercall::Block.port() {
                if let Some(preemptor) = preemptor.as_deref_mut() {
                    preemptor.pause(vcpu, memory)?;
                }
                if let Some(sampler) = sampler.as_deref_mut() {
                    sampler.pause().map_err(BootError::Profile)?;
                }
            }
            let mut ctx = Context {
                memory,
                vcpu,
                vcpu_index: index,
                vcpus: &shared.vcpus,
                image: shared.image,
                layout: shared.layout,
                clock: shared.clock,
                console: &shared.console,
                volumes: &shared.volumes,
                net: shared.net.as_ref(),
                stdin: shared.stdin,
                stats: shared.stats,
                vm: shared.vm,
                growth: &shared.growth,
                debugger: shared.debugger,
            };
            // A string `out` (`rep outs`) carries more than the 8 bytes kept.
            match data.get(..len) {
                Some(data) => hypercall::dispatch(&mut ctx, port, data),
                None => Err(Violation::AccessSize { port, size: len }),
            }
        }
        Exit::MmioRead(result) => result.map(|()| Flow::Continue),
        Exit::MmioWrite { gpa, data, len } => match &shared.net {
            Some(net) if NetDevice::contains(gpa) => lock(net)
                .mmio_write(memory, gpa, &data[..len])
                .map(|()| Flow::Continue)
                .map_err(Violation::from),
            _ => Err(unbacked(gpa)),
        },
        Exit::Interrupted => {
            // A kick from gdb or a live profile (not one that stops the
            // VM) stays pending outside `KVM_RUN`, and would end every
            // `KVM_RUN` from now on.
            if shared.debugger.is_some() {
                crate::signals::take_pending(crate::signals::KICK_SIGNAL);
            }
            // Sampled first: a tick may move the vCPU on to the upcall.
            if let Some(sampler) = sampler {
                sampler.sample(vcpu, memory);
            }
            match preemptor {
                Some(preemptor) => match preemptor.tick(vcpu, memory)? {
                    Tick::BadStack(violation) => Err(violation),
                    Tick::None | Tick::Delivered | Tick::Deferred => Ok(Flow::Continue),
                },
                None => Ok(Flow::Continue),
            }
        }
        Exit::Shutdown => Ok(crash(shared, index, vcpu, CrashKind::TripleFault)),
        Exit::InternalError => Ok(crash(shared, index, vcpu, CrashKind::EmulationFailure)),
        Exit::Other(what) => Err(Violation::UnexpectedExit(what)),
    };
    // Frames that arrived while the guest ran go into its receive buffers
    // now, whatever the exit was for.
    let flow = match (flow, &shared.net) {
        (Ok(Flow::Continue), Some(net)) => {
            let mut net = lock(net);
            let received = net.receive(memory);
            shared.stats.network(net.totals());
            drop(net);
            if matches!(received, Ok(delivered) if delivered > 0) {
                shared.vcpus.wake_frame_waiters(index);
            }
            received.map(|_| Flow::Continue).map_err(Violation::from)
        }
        (flow, _) => flow,
    };
    Ok(flow.unwrap_or_else(|violation| Flow::Stop(Outcome::Violation(violation))))
}

/// The VM stopped on vCPU `index` without the guest reporting why.
fn crash(shared: &Shared<'_>, index: u32, vcpu: &VcpuFd, kind: CrashKind) -> Flow {
    let registers = vcpu
        .get_regs()
        .map(|r| Registers::from(&r))
        .unwrap_or_default();
    let thread = crate::vm::crashed_thread(
        shared.memory,
        shared.layout,
        index,
        shared.vcpus.several_started(),
    );
    let report = CrashReport::build(kind, registers, true, shared.image, shared.memory, thread);
    Flow::Stop(Outcome::Crashed(Box::new(report)))
}

/// A VM exit, copied out of the vCPU's run page.
enum Exit {
    Io {
        port: u16,
        data: [u8; 8],
        len: usize,
    },
    /// A read of the network device's registers, already answered.
    MmioRead(Result<(), Violation>),
    MmioWrite {
        gpa: u64,
        data: [u8; 8],
        len: usize,
    },
    Interrupted,
    Shutdown,
    InternalError,
    Other(String),
}

impl Exit {
    fn kind(&self) -> &'static str {
        match self {
            Self::Io { port, .. } => {
                Hypercall::from_port(*port).map_or("io (unknown port)", hypercall_name)
            }
            Self::MmioRead(_) => "net register read",
            Self::MmioWrite { .. } => "net register write",
            Self::Interrupted => "signal",
            Self::Shutdown => "shutdown",
            Self::InternalError => "internal error",
            Self::Other(_) => "other",
        }
    }
}

fn hypercall_name(call: Hypercall) -> &'static str {
    use kiln_abi::hypercall::Hypercall::*;
    match call {
        ConsoleWrite => "console write",
        Exit => "exit",
        Block => "block",
        Panic => "panic",
        Trap => "trap",
        File => "file",
        StdinRead => "stdin read",
        GrowMemory => "grow memory",
        StartVcpu => "start vcpu",
        WakeVcpu => "wake vcpu",
        ReadImage => "read image",
        _ => "unknown hypercall",
    }
}

impl From<VcpuExit<'_>> for Exit {
    fn from(exit: VcpuExit<'_>) -> Self {
        match exit {
            VcpuExit::IoOut(port, bytes) => {
                let mut data = [0u8; 8];
                let len = bytes.len().min(data.len());
                data[..len].copy_from_slice(&bytes[..len]);
                Self::Io {
                    port,
                    data,
                    len: bytes.len(),
                }
            }
            VcpuExit::Shutdown => Self::Shutdown,
            VcpuExit::InternalError => Self::InternalError,
            VcpuExit::IoIn(port, _) => Self::Other(format!("read from I/O port {port:#x}")),
            VcpuExit::MmioWrite(gpa, bytes) => {
                let mut data = [0u8; 8];
                let len = bytes.len().min(data.len());
                data[..len].copy_from_slice(&bytes[..len]);
                Self::MmioWrite { gpa, data, len }
            }
            VcpuExit::Hlt => Self::Other("the guest halted".into()),
            other => Self::Other(format!("{other:?}")),
        }
    }
}

/// An access to guest-physical memory that is neither RAM nor a device.
fn unbacked(gpa: u64) -> Violation {
    Violation::UnexpectedExit(format!(
        "access to unbacked guest-physical address {gpa:#x}"
    ))
}
