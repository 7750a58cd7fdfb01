//! Building the VM for one boot and running its vCPU to the end.

use std::collections::BTreeMap;

use kiln_abi::boot::{BootInfo, GuestStatus};
use kiln_abi::hypercall::Hypercall;
use kvm_bindings::{
    KVM_CAP_SPLIT_IRQCHIP, Msrs, kvm_enable_cap, kvm_msr_entry, kvm_userspace_memory_region,
};
use kvm_ioctls::{Kvm, VcpuExit, VcpuFd, VmFd};

use crate::boot_info::{self, ProgramArgs};
use crate::clock::{GuestClock, host_now_ns};
use crate::crash::report::{CrashKind, CrashReport, CrashedThread};
use crate::crash::unwind::Registers;
use crate::growth::Growth;
use crate::hypercall::{self, Console, Context, Flow, Violation};
use crate::image::Image;
use crate::layout::Layout;
use crate::memory::GuestMemory;
use crate::net::NetDevice;
use crate::preempt::{Preemptor, Tick};
use crate::stats::LiveStats;
use crate::stdin::HostStdin;
use crate::volume::Volumes;
use crate::watchdog::Watchdog;
use crate::{BootError, Outcome, RunSummary, Timeline, VmConfig, cpu, paging, seccomp};

const MSR_IA32_TSC: u32 = 0x10;

/// A VM ready to run.
pub struct Vm<'a> {
    image: &'a Image<'a>,
    layout: Layout,
    memory: GuestMemory,
    vcpu: VcpuFd,
    clock: GuestClock,
    timeout: Option<std::time::Duration>,
    volumes: Volumes,
    net: Option<NetDevice>,
    stdin: HostStdin,
    stats: LiveStats,
    growth: Growth,
    // Dropped last: the memory slots and vCPU belong to this VM.
    vm: VmFd,
}

impl<'a> Vm<'a> {
    /// Creates the VM, loads the image and prepares the vCPU for entry;
    /// `net` is the network device [`crate::start_network`] started.
    pub fn new(
        image: &'a Image<'a>,
        config: &VmConfig,
        net: Option<NetDevice>,
    ) -> Result<Self, BootError> {
        // First: a missing host directory fails the boot before KVM costs
        // anything, and the directories must be open before seccomp.
        let mut volumes = Volumes::new(&config.volumes)?;
        if let Some(image) = config.image_file {
            volumes.protect(image);
        }
        let stdin = HostStdin::new(config.stdin);
        let stats = LiveStats::publish(config.stats_file.as_deref()).map_err(BootError::Stats)?;
        let args = ProgramArgs {
            argv: &config.argv,
            env: &config.env,
            flags: if config.trace_libc {
                kiln_abi::boot::FLAG_TRACE_LIBC
            } else {
                0
            } | if stdin.is_terminal() {
                kiln_abi::boot::FLAG_STDIN_TTY
            } else {
                0
            },
            volumes: &config.volumes,
            net: config
                .net
                .as_ref()
                .map(|spec| spec.addressing.boot_config())
                .unwrap_or_default(),
            hostname: &config.hostname,
        };
        let layout = Layout::plan(
            config.memory,
            image.start()..image.end(),
            args.boot_info_len(),
            // Threads put stacks anywhere in the heap; their guard pages
            // need it mapped with 4 KiB pages.
            image.tls.is_some(),
            net.is_some(),
        )?;
        let kvm = Kvm::new().map_err(|e| BootError::Kvm("open /dev/kvm", e))?;
        let vm = kvm
            .create_vm()
            .map_err(|e| BootError::Kvm("create VM", e))?;
        enable_local_apic(&vm);
        // Created before any guest memory is touched: on kvm_pvm, creating
        // the vCPU after the monitor has faulted in guest pages costs about
        // 0.7 ms more (measured), half of a whole boot.
        let vcpu = vm
            .create_vcpu(0)
            .map_err(|e| BootError::Kvm("create vCPU", e))?;
        let memory =
            GuestMemory::new(layout.memory_size, layout.memory_limit).map_err(BootError::Memory)?;

        load_segments(&memory, image)?;
        let cr3 = paging::build(&memory, &layout, &image.segments)?;
        cpu::write_descriptor_tables(&memory, image.trap_table)?;

        let region = kvm_userspace_memory_region {
            slot: 0,
            flags: 0,
            guest_phys_addr: 0,
            memory_size: memory.size(),
            userspace_addr: memory.host_base() as u64,
        };
        // SAFETY: the region describes `memory`'s own mapping, which lives in
        // this `Vm` next to the VM fd and is dropped after it.
        unsafe { vm.set_user_memory_region(region) }
            .map_err(|e| BootError::Kvm("map guest memory", e))?;

        // No KVM_SET_CPUID2: long mode, NX and SSE need no CPUID entries,
        // and KVM_GET_SUPPORTED_CPUID alone costs ~0.3 ms per boot.
        let sregs = vcpu
            .get_sregs()
            .map_err(|e| BootError::Kvm("read special registers", e))?;
        let mut sregs = cpu::special_registers(sregs, cr3, image.trap_table);
        if image.tls.is_some() {
            // Thread-local storage needs `wrfsbase`; KVM accepts CR4.FSGSBASE
            // only when the guest's CPUID lists it. ~0.13 ms, so only here.
            vcpu.set_cpuid2(&cpu::thread_pointer_cpuid())
                .map_err(|e| BootError::Kvm("set CPUID", e))?;
            sregs.cr4 |= cpu::CR4_FSGSBASE;
        }
        vcpu.set_sregs(&sregs)
            .map_err(|e| BootError::Kvm("set special registers", e))?;
        vcpu.set_regs(&cpu::entry_registers(
            image.entry,
            layout.stack.end,
            layout.boot_info.start,
        ))
        .map_err(|e| BootError::Kvm("set registers", e))?;

        let clock = sample_clock(&vcpu, config.process_start_ns)?;
        boot_info::write(&memory, &layout, image, &args, &clock, random_seed())?;
        Ok(Self {
            image,
            layout,
            memory,
            vcpu,
            clock,
            timeout: config.timeout,
            volumes,
            net,
            stdin,
            stats,
            growth: Growth::default(),
            vm,
        })
    }

    /// Runs the guest until it exits, crashes, breaks the ABI or times out.
    pub fn run(mut self) -> Result<RunSummary, BootError> {
        let entered_ns = host_now_ns(libc::CLOCK_MONOTONIC);
        let watchdog = match self.timeout {
            Some(timeout) => {
                let flag = &mut self.vcpu.get_kvm_run().immediate_exit as *mut u8;
                Some(Watchdog::arm(timeout, flag).map_err(BootError::Timer)?)
            }
            None => None,
        };
        let mut preemptor = self.preemptor()?;
        ignore_file_size_signal();
        seccomp::restrict_to_run_loop(seccomp::Needs {
            volumes: !self.volumes.is_empty(),
            net: self.net.is_some(),
        })
        .map_err(BootError::Seccomp)?;
        let mut console = Console::default();
        let mut exits = BTreeMap::new();
        let outcome = loop {
            if let Some(preemptor) = preemptor.as_mut() {
                preemptor.sync(&mut self.vcpu, &self.memory)?;
            }
            let exit = match self.vcpu.run() {
                // Answered here: the value goes back in the run page.
                Ok(VcpuExit::MmioRead(gpa, data)) => Exit::MmioRead(match self.net.as_ref() {
                    Some(net) if NetDevice::contains(gpa) => {
                        net.mmio_read(gpa, data).map_err(Violation::from)
                    }
                    _ => Err(unbacked(gpa)),
                }),
                Ok(exit) => Exit::from(exit),
                Err(e) if e.errno() == libc::EINTR => Exit::Interrupted,
                Err(e) => return Err(BootError::Kvm("run vCPU", e)),
            };
            *exits.entry(exit.kind()).or_insert(0u64) += 1;
            self.stats.exit(exit.kind());
            if Watchdog::fired() {
                break Outcome::TimedOut;
            }
            // Frames the guest queued go out at every exit it makes: it
            // notifies the transmit queue only for frames that waited a
            // while, counting on its next exit (`Block` above all, and
            // `Exit`) to carry them.
            if let Some(net) = self.net.as_mut()
                && let Err(violation) = net.transmit(&self.memory)
            {
                break Outcome::Violation(violation.into());
            }
            let flow = match exit {
                Exit::Io { port, data, len } => {
                    if let Some(preemptor) = preemptor.as_mut()
                        && port == Hypercall::Block.port()
                    {
                        preemptor.pause(&mut self.vcpu, &self.memory)?;
                    }
                    let mut ctx = Context {
                        memory: &self.memory,
                        vcpu: &self.vcpu,
                        image: self.image,
                        layout: &self.layout,
                        clock: &self.clock,
                        console: &mut console,
                        volumes: &mut self.volumes,
                        net: self.net.as_mut(),
                        stdin: self.stdin,
                        stats: &self.stats,
                        vm: &self.vm,
                        growth: &mut self.growth,
                    };
                    hypercall::dispatch(&mut ctx, port, &data[..len])
                }
                Exit::MmioRead(result) => result.map(|()| Flow::Continue),
                Exit::MmioWrite { gpa, data, len } => match self.net.as_mut() {
                    Some(net) if NetDevice::contains(gpa) => net
                        .mmio_write(&self.memory, gpa, &data[..len])
                        .map(|()| Flow::Continue)
                        .map_err(Violation::from),
                    _ => Err(unbacked(gpa)),
                },
                Exit::Interrupted => match preemptor.as_mut() {
                    Some(preemptor) => match preemptor.tick(&mut self.vcpu, &self.memory)? {
                        Tick::BadStack(violation) => Err(violation),
                        Tick::None | Tick::Delivered | Tick::Deferred => Ok(Flow::Continue),
                    },
                    None => Ok(Flow::Continue),
                },
                Exit::Shutdown => Ok(self.crash(CrashKind::TripleFault)),
                Exit::InternalError => Ok(self.crash(CrashKind::EmulationFailure)),
                Exit::Other(what) => Err(Violation::UnexpectedExit(what)),
            };
            // Frames that arrived while the guest ran go into its receive
            // buffers now, whatever the exit was for.
            let flow = match (flow, self.net.as_mut()) {
                (Ok(Flow::Continue), Some(net)) => {
                    let received = net.receive(&self.memory);
                    self.stats.network(net.totals());
                    received.map(|_| Flow::Continue).map_err(Violation::from)
                }
                (flow, _) => flow,
            };
            match flow {
                Ok(Flow::Continue) => {}
                Ok(Flow::Stop(outcome)) => break outcome,
                Err(violation) => break Outcome::Violation(violation),
            }
        };
        let ended_ns = host_now_ns(libc::CLOCK_MONOTONIC);
        let mut timeline = self.timeline(entered_ns, ended_ns);
        let memory_mapped = self.memory.size();
        let memory_limit = self.memory.limit();
        let process_start_ns = self.clock.process_start_ns;
        drop(preemptor);
        // Disarmed first: past its deadline SIGALRM repeats every 10 ms, and
        // its handler writes to the vCPU's run page, which the teardown
        // unmaps (a late signal there faulted the monitor).
        drop(watchdog);
        // Tear down now, inside the timeline: destroying the VM is the
        // kernel's single largest cost after creating it.
        drop(self);
        timeline.torn_down_ns = host_now_ns(libc::CLOCK_MONOTONIC).saturating_sub(process_start_ns);
        Ok(RunSummary {
            outcome,
            timeline,
            exits,
            console_bytes: console.bytes,
            memory_limit,
            memory_mapped,
        })
    }

    /// The time-slice timer, for images whose threads can be preempted.
    fn preemptor(&self) -> Result<Option<Preemptor>, BootError> {
        let threads = self.image.services.iter().any(|s| s == "threads");
        match self.image.upcall {
            Some(upcall) if threads => Preemptor::new(&self.vcpu, upcall, &self.layout)
                .map(Some)
                .map_err(BootError::TimeSlice),
            _ => Ok(None),
        }
    }

    fn crash(&self, kind: CrashKind) -> Flow {
        let registers = self
            .vcpu
            .get_regs()
            .map(|r| Registers::from(&r))
            .unwrap_or_default();
        let thread = crashed_thread(&self.memory, &self.layout);
        let report = CrashReport::build(kind, registers, true, self.image, &self.memory, thread);
        Flow::Stop(Outcome::Crashed(Box::new(report)))
    }

    fn timeline(&self, entered_ns: u64, ended_ns: u64) -> Timeline {
        let stamps = guest_status(&self.memory, &self.layout);
        let start = self.clock.process_start_ns;
        let guest_ns =
            |tsc: u64| (tsc != 0).then(|| self.clock.host_ns_at_tsc(tsc).saturating_sub(start));
        Timeline {
            setup_ns: entered_ns.saturating_sub(start),
            guest_entry_ns: guest_ns(stamps.entry_tsc),
            guest_main_ns: guest_ns(stamps.main_tsc),
            end_ns: ended_ns.saturating_sub(start),
            torn_down_ns: 0,
        }
    }
}

/// What the guest last recorded in its boot info (zeros if unreadable).
pub fn guest_status(memory: &GuestMemory, layout: &Layout) -> GuestStatus {
    let at = layout.boot_info.start + std::mem::offset_of!(BootInfo, guest) as u64;
    memory.read_obj(at).unwrap_or_default()
}

/// The thread the guest last recorded as running, with its name: at most
/// `THREAD_NAME_MAX` bytes up to a NUL, read from guest memory (none if
/// unreadable or empty; the report escapes what it prints).
pub fn crashed_thread(memory: &GuestMemory, layout: &Layout) -> CrashedThread {
    let status = guest_status(memory, layout);
    let mut bytes = [0u8; kiln_abi::boot::THREAD_NAME_MAX as usize];
    let name = (status.thread_name.addr() != 0)
        .then(|| {
            memory
                .read_exact(status.thread_name.addr(), &mut bytes)
                .ok()
        })
        .flatten()
        .map(|()| {
            let len = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
            String::from_utf8_lossy(&bytes[..len]).into_owned()
        })
        .filter(|name| !name.is_empty());
    CrashedThread {
        id: status.thread,
        name,
    }
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
            Self::Io { port, .. } => kiln_abi::hypercall::Hypercall::from_port(*port)
                .map_or("io (unknown port)", hypercall_name),
            Self::MmioRead(_) => "net register read",
            Self::MmioWrite { .. } => "net register write",
            Self::Interrupted => "signal",
            Self::Shutdown => "shutdown",
            Self::InternalError => "internal error",
            Self::Other(_) => "other",
        }
    }
}

fn hypercall_name(call: kiln_abi::hypercall::Hypercall) -> &'static str {
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

/// Makes a write past the host's file-size limit (`ulimit -f`,
/// `RLIMIT_FSIZE`) fail with `EFBIG` instead of killing the monitor with
/// `SIGXFSZ`, whose default action ends the process. The guest decides how
/// much it writes to a volume, or to a console redirected to a file, so it
/// must get the errno, not end the monitor without a word. Called before
/// seccomp, which does not allow `rt_sigaction`.
fn ignore_file_size_signal() {
    // SAFETY: `SIG_IGN` installs no handler; nothing else in the monitor
    // uses SIGXFSZ. `signal` fails only for an invalid signal number, which
    // SIGXFSZ is not, so its result needs no check.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
}

/// Gives the vCPU an in-kernel local APIC (split-irqchip mode: no PIC or
/// IOAPIC, which `KVM_CREATE_IRQCHIP` would add at 3-6 ms per boot).
///
/// The guest never uses it: interrupts stay disabled. It exists because x86
/// KVM counts vCPUs without an in-kernel APIC in a global static key, and
/// the system's first such vCPU (and the last one's teardown) patches kernel
/// text on every CPU: measured on our hosts, a lone boot spends ~0.25 ms
/// more creating the vCPU and ~0.25 ms more destroying the VM without this.
/// Enabling the capability costs a few microseconds. On a kernel without it
/// the boot goes on, only slower.
fn enable_local_apic(vm: &VmFd) {
    let mut cap = kvm_enable_cap {
        cap: KVM_CAP_SPLIT_IRQCHIP,
        ..Default::default()
    };
    cap.args[0] = 0; // no IOAPIC routes: nothing raises interrupts
    let _ = vm.enable_cap(&cap);
}

/// Samples the guest TSC together with the host clocks (see [`GuestClock`]).
fn sample_clock(vcpu: &VcpuFd, process_start_ns: u64) -> Result<GuestClock, BootError> {
    let khz = vcpu
        .get_tsc_khz()
        .map_err(|e| BootError::Kvm("read TSC frequency", e))?;
    let mut msrs = Msrs::from_entries(&[kvm_msr_entry {
        index: MSR_IA32_TSC,
        ..Default::default()
    }])
    .map_err(|_| BootError::Kvm("read guest TSC", kvm_ioctls::Error::new(libc::EINVAL)))?;
    let host_base_ns = host_now_ns(libc::CLOCK_MONOTONIC);
    let wall_base_ns = host_now_ns(libc::CLOCK_REALTIME);
    vcpu.get_msrs(&mut msrs)
        .map_err(|e| BootError::Kvm("read guest TSC", e))?;
    Ok(GuestClock {
        tsc_hz: u64::from(khz) * 1000,
        tsc_base: msrs.as_slice()[0].data,
        host_base_ns,
        wall_base_ns,
        process_start_ns,
    })
}

/// Host randomness for the guest's seed; a failure leaves a time-based seed,
/// which is still unique per boot.
fn random_seed() -> [u64; 4] {
    let mut seed = [0u8; 32];
    // SAFETY: `seed` is a valid writable buffer of the given length.
    let filled = unsafe { libc::getrandom(seed.as_mut_ptr().cast(), seed.len(), 0) };
    if filled != seed.len() as isize {
        seed[..8].copy_from_slice(&host_now_ns(libc::CLOCK_MONOTONIC).to_le_bytes());
    }
    std::array::from_fn(|i| {
        u64::from_le_bytes(seed[i * 8..i * 8 + 8].try_into().expect("8-byte chunk"))
    })
}

/// Puts the image's segments in guest memory: mapped from the image file
/// when there is one (only the pages the guest touches are read, from the
/// host's page cache, shared by instances of one image until written;
/// copying ~700 KiB of a std image page by page cost ~1 ms of a boot), else
/// copied. The bytes of a segment's first and last pages outside the
/// segment's file data are zeroed, as a copy into fresh memory leaves them.
fn load_segments(memory: &GuestMemory, image: &Image<'_>) -> Result<(), BootError> {
    const PAGE: u64 = kiln_abi::layout::PAGE_SIZE;
    for segment in &image.segments {
        let data = &image.bytes[segment.file.clone()];
        let Some(file) = image.file.filter(|_| !data.is_empty()) else {
            memory.write_bytes(segment.memory.start, data)?;
            continue;
        };
        let start = segment.memory.start;
        let data_end = start + data.len() as u64;
        let page_start = start & !(PAGE - 1);
        let page_end = data_end.next_multiple_of(PAGE);
        // The file offset is congruent to the address (checked by the image
        // validation), so the page's offset is the segment's rounded down.
        let offset = segment.file.start as u64 - (start - page_start);
        memory
            .map_file(page_start, page_end - page_start, file, offset)
            .map_err(BootError::Memory)?;
        memory.write_bytes(page_start, &vec![0; (start - page_start) as usize])?;
        memory.write_bytes(data_end, &vec![0; (page_end - data_end) as usize])?;
    }
    Ok(())
}
