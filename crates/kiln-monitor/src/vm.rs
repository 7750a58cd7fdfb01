//! Building the VM for one boot and running its vCPUs to the end.

use std::mem::offset_of;

use kiln_abi::boot::{BootInfo, GuestStatus, MAX_VCPUS, VcpuArea};
use kvm_bindings::{
    CpuId, KVM_CAP_SPLIT_IRQCHIP, KVM_MP_STATE_RUNNABLE, Msrs, kvm_enable_cap, kvm_mp_state,
    kvm_msr_entry, kvm_regs, kvm_sregs, kvm_userspace_memory_region,
};
use kvm_ioctls::{Kvm, VcpuFd, VmFd};

use crate::boot_info::{self, ProgramArgs};
use crate::clock::{GuestClock, host_now_ns};
use crate::core_dump::{self, CoreConfig, CoreSignal, CoreThread};
use crate::crash::report::CrashedThread;
use crate::crash::{self, unwind::Registers};
use crate::gdb::Debugger;
use crate::growth::Growth;
use crate::image::Image;
use crate::layout::Layout;
use crate::memory::GuestMemory;
use crate::net::NetDevice;
use crate::preempt::Preemptor;
use crate::privileges::{self, MonitorUser};
use crate::profile::{LiveProfile, Profile, ProfileConfig, Sampler, Stacks};
use crate::run_loop::{self, Exits, Shared};
use crate::stats::LiveStats;
use crate::stdin::HostStdin;
use crate::vcpus::{VcpuSet, lock};
use crate::volume::Volumes;
use crate::watchdog::Watchdog;
use crate::{
    BootError, Outcome, RunSummary, Timeline, VmConfig, console, cpu, paging, seccomp, signals,
};

const MSR_IA32_TSC: u32 = 0x10;

/// A VM ready to run.
pub struct Vm<'a> {
    image: &'a Image<'a>,
    layout: Layout,
    memory: GuestMemory,
    /// vCPU 0 first; only it runs at entry.
    vcpus: Vec<VcpuFd>,
    /// vCPU 0's special registers, which the others start from.
    boot_sregs: kvm_sregs,
    /// vCPU 0's CPUID (images with thread-local storage), the others' too.
    cpuid: Option<CpuId>,
    clock: GuestClock,
    timeout: Option<std::time::Duration>,
    /// Who the monitor becomes before the guest runs (see [`privileges`]).
    monitor_user: Option<MonitorUser>,
    volumes: Volumes,
    net: Option<NetDevice>,
    stdin: HostStdin,
    stats: LiveStats,
    core: Option<CoreConfig>,
    profile: Option<ProfileConfig>,
    /// The program's command line, for the core file.
    program: String,
    /// gdb's connection, with `--gdb`.
    gdb: Option<std::sync::Arc<std::net::TcpStream>>,
    /// The control socket of a background instance.
    control: Option<std::sync::Arc<std::os::unix::net::UnixListener>>,
    // Dropped last: the memory slots and vCPUs belong to this VM.
    vm: VmFd,
}

/// What each vCPU thread sets up before it serves the guest.
struct ThreadPlan {
    /// What the seccomp filter must allow.
    needs: seccomp::Needs,
    /// The image's upcall entry, when its threads are preempted.
    upcall: Option<u64>,
    /// Whether the tick or kicks may cut `KVM_RUN` short.
    signals: bool,
    /// vCPU 0's special registers, for the others.
    boot_sregs: kvm_sregs,
    /// The thread-pointer CPUID, when the vCPUs need it (asked of the
    /// host once, at boot).
    cpuid: Option<CpuId>,
    /// Whether each vCPU keeps its last registers for a core file.
    core: bool,
    /// Whether each vCPU samples its stacks, and how often.
    profile: Option<ProfileConfig>,
}

impl<'a> Vm<'a> {
    /// Creates the VM, loads the image and prepares the boot vCPU for
    /// entry; `net` is the network device [`crate::start_network`] started.
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
        let vcpu_count = vcpu_count(image, config.cpus);
        // Thread-local storage needs `wrfsbase`; KVM accepts CR4.FSGSBASE
        // only when the guest's CPUID lists it (other images keep KVM's
        // empty CPUID, without RDRAND).
        let cpuid = image.tls.is_some().then(cpu::thread_pointer_cpuid);
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
            } | if cpuid.as_ref().is_some_and(cpu::lists_rdrand) {
                kiln_abi::boot::FLAG_RDRAND
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
            workdir: config.workdir.as_deref(),
            vcpus: vcpu_count,
        };
        let layout = Layout::plan(
            config.memory,
            image.start()..image.end(),
            args.boot_info_len(),
            // Threads put stacks anywhere in the heap; their guard pages
            // need it mapped with 4 KiB pages.
            image.tls.is_some(),
            net.is_some(),
            vcpu_count,
        )?;
        let kvm = Kvm::new().map_err(|e| BootError::Kvm("open /dev/kvm", e))?;
        let vm = kvm
            .create_vm()
            .map_err(|e| BootError::Kvm("create VM", e))?;
        enable_local_apic(&vm);
        // Created before any guest memory is touched: on kvm_pvm, creating
        // a vCPU after the monitor has faulted in guest pages costs about
        // 0.7 ms more (measured), half of a whole boot.
        let mut vcpus = (0..vcpu_count)
            .map(|index| vm.create_vcpu(u64::from(index)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| BootError::Kvm("create vCPU", e))?;
        let memory =
            GuestMemory::new(layout.memory_size, layout.memory_limit).map_err(BootError::Memory)?;

        load_segments(&memory, image)?;
        let cr3 = paging::build(&memory, &layout, &image.segments)?;
        let boot_tables = layout.vcpu_tables(0);
        cpu::write_gdt_and_tss(&memory, &boot_tables)?;
        cpu::write_idt(&memory, image.trap_table)?;

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

        let vcpu = &mut vcpus[0];
        // No KVM_SET_CPUID2: long mode, NX and SSE need no CPUID entries,
        // and KVM_GET_SUPPORTED_CPUID alone costs ~0.3 ms per boot.
        let sregs = vcpu
            .get_sregs()
            .map_err(|e| BootError::Kvm("read special registers", e))?;
        let mut sregs = cpu::special_registers(
            sregs,
            cr3,
            image.trap_table,
            &boot_tables,
            boot_info::vcpu_area(&layout, 0),
        );
        if let Some(cpuid) = &cpuid {
            // ~0.13 ms, so only for images with thread-local storage.
            vcpu.set_cpuid2(cpuid)
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

        let clock = sample_clock(vcpu, config.process_start_ns)?;
        boot_info::write(&memory, &layout, image, &args, &clock, random_seed())?;
        Ok(Self {
            image,
            layout,
            memory,
            vcpus,
            boot_sregs: sregs,
            cpuid,
            clock,
            timeout: config.timeout,
            monitor_user: config.monitor_user,
            volumes,
            net,
            stdin,
            stats,
            core: config.core.clone(),
            profile: config.profile,
            program: config.argv.join(" "),
            gdb: config.gdb.clone(),
            control: config.control.clone(),
            vm,
        })
    }

    /// Runs the guest until it exits, crashes, breaks the ABI or times out,
    /// each vCPU on its own thread (vCPU 0 on the caller's).
    pub fn run(mut self) -> Result<RunSummary, BootError> {
        let entered_ns = host_now_ns(libc::CLOCK_MONOTONIC);
        // Everything that needed privilege is open: before any guest
        // input, and before the vCPU threads (which inherit it).
        privileges::confine_thread(
            privileges::needed(!self.volumes.is_empty()),
            self.monitor_user,
        )
        .map_err(BootError::Privileges)?;
        let count = self.vcpus.len() as u32;
        let immediate_exit: Vec<*mut u8> = self
            .vcpus
            .iter_mut()
            .map(|vcpu| &raw mut vcpu.get_kvm_run().immediate_exit)
            .collect();
        let watchdog = match self.timeout {
            Some(timeout) => {
                Some(Watchdog::arm(timeout, &immediate_exit).map_err(BootError::Timer)?)
            }
            None => None,
        };
        ignore_file_size_signal();
        // The threads' own descriptors: the configuration's may be shared.
        let link = match (&self.gdb, &self.control) {
            (Some(stream), _) => Some(stream.try_clone().map(GdbLink::Stream)),
            (None, Some(listener)) => Some(listener.try_clone().map(GdbLink::Control)),
            (None, None) => None,
        }
        .transpose()
        .map_err(BootError::Gdb)?;
        let debugger = link
            .as_ref()
            .map(|link| Debugger::new(count, &self.boot_sregs, matches!(link, GdbLink::Stream(_))))
            .transpose()
            .map_err(BootError::Gdb)?;
        // gdb's Ctrl-C kicks the vCPU threads.
        if count > 1 || debugger.is_some() {
            signals::install_kick_handler().map_err(BootError::VcpuThreads)?;
            one_malloc_arena();
        }
        let threads = self.image.services.iter().any(|s| s == "threads");
        let upcall = self.image.upcall.filter(|_| threads);
        let plan = ThreadPlan {
            needs: seccomp::Needs {
                volumes: !self.volumes.is_empty(),
                net: self.net.is_some(),
            },
            upcall,
            signals: upcall.is_some() || count > 1 || self.profile.is_some() || debugger.is_some(),
            boot_sregs: self.boot_sregs,
            cpuid: self.cpuid.take(),
            core: self.core.is_some(),
            profile: self.profile,
        };
        let Self {
            image,
            layout,
            memory,
            mut vcpus,
            clock,
            volumes,
            net,
            stdin,
            stats,
            core,
            program,
            vm,
            ..
        } = self;
        // A background instance can be profiled while it runs.
        let live_profile = matches!(link, Some(GdbLink::Control(_))).then(LiveProfile::default);
        let shared = Shared {
            image,
            layout: &layout,
            memory: &memory,
            clock: &clock,
            vm: &vm,
            stats: &stats,
            stdin,
            console: Default::default(),
            volumes: volumes.into(),
            net: net.map(Into::into),
            growth: Growth::default().into(),
            vcpus: VcpuSet::new(count).map_err(BootError::VcpuThreads)?,
            debugger: debugger.as_ref(),
            live_profile: live_profile.as_ref(),
        };
        let (boot, others) = vcpus.split_first_mut().expect("a VM has a vCPU");
        let (exits, core, profile) = std::thread::scope(|scope| {
            // Started before vCPU 0's thread (this one) confines itself: the
            // writer must create the core file, which the filter forbids.
            let (jobs, job) = std::sync::mpsc::channel();
            let writer = core.as_ref().map(|config| {
                let (memory, program) = (&memory, &program);
                scope.spawn(move || {
                    if let Err(error) = seccomp::restrict_file_writer() {
                        return Some(Err(error));
                    }
                    let (threads, signal): (Vec<CoreThread>, CoreSignal) = job.recv().ok()?;
                    Some(core_dump::write(config, memory, program, &threads, signal))
                })
            });
            if let (Some(link), Some(debugger)) = (link, shared.debugger) {
                let shared = &shared;
                let spawned = std::thread::Builder::new()
                    .name("gdb".into())
                    .spawn_scoped(scope, move || gdb_thread(shared, link, debugger));
                if let Err(error) = spawned {
                    shared.vcpus.finish(Err(BootError::Gdb(error)));
                }
            }
            let mut threads = Vec::new();
            for (vcpu, index) in others.iter_mut().zip(1..) {
                let (shared, plan) = (&shared, &plan);
                let spawned = std::thread::Builder::new()
                    .name(format!("vcpu{index}"))
                    .spawn_scoped(scope, move || vcpu_thread(shared, index, vcpu, plan));
                match spawned {
                    Ok(thread) => threads.push(thread),
                    Err(error) => shared.vcpus.finish(Err(BootError::VcpuThreads(error))),
                }
            }
            let shared_ref = &shared;
            if let Err(error) = std::thread::Builder::new()
                .name("console".into())
                .spawn_scoped(scope, move || console_thread(shared_ref))
            {
                shared.vcpus.finish(Err(BootError::VcpuThreads(error)));
            }
            let boot_end = vcpu_thread(&shared, 0, boot, &plan);
            // The boot vCPU leaves only when the VM stops: the gdb thread,
            // which may be waiting for a client, stops too.
            if let Some(debugger) = shared.debugger {
                debugger.vm_ended();
            }
            let mut exits = Exits::new();
            let mut states = Vec::new();
            let mut profile = plan.profile.map(|_| Profile::default());
            let ends = std::iter::once(boot_end).chain(threads.into_iter().map(|thread| {
                // A release monitor aborts on a panic; elsewhere it goes on
                // up from here.
                thread
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p))
            }));
            for end in ends {
                for (kind, n) in end.exits {
                    *exits.entry(kind).or_insert(0) += n;
                }
                states.push(end.last);
                if let Some(profile) = &mut profile {
                    profile.add(end.stacks);
                }
            }
            let job = plan
                .core
                .then(|| {
                    shared
                        .vcpus
                        .with_outcome(|o| core_job(o?, states, &memory, &layout))
                })
                .flatten();
            if let Some(job) = job {
                // The writer is waiting for this; it cannot have gone.
                let _ = jobs.send(job);
            }
            drop(jobs);
            let core = writer.and_then(|writer| {
                writer
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p))
            });
            (exits, core, profile)
        });
        // Every vCPU has stopped: what the guest's ring still holds goes
        // out now, before the caller reports how the VM ended (a crash
        // report comes after the output that led to it). Past the timeout
        // only what the host takes at once: the deadline is not the
        // reader's to extend.
        let guest = console::Guest {
            memory: &memory,
            layout: &layout,
            stats: &stats,
        };
        // A ring the guest broke has nothing to give: the VM has ended
        // already, and how is what the caller reports.
        drop(lock(&shared.console).drain(&guest, &Watchdog::fired));
        let ended_ns = host_now_ns(libc::CLOCK_MONOTONIC);
        let Shared {
            console,
            vcpus: set,
            ..
        } = shared;
        let outcome = set
            .into_ending()
            .expect("the run loops end only when the VM ends")?;
        let timeline = timeline(&memory, &layout, &clock, entered_ns, ended_ns);
        let memory_mapped = memory.size();
        let memory_limit = memory.limit();
        // Disarmed first: past its deadline SIGALRM repeats every 10 ms, and
        // its handler writes to the vCPUs' run pages, which the teardown
        // unmaps (a late signal there faulted the monitor).
        drop(watchdog);
        // Tear down now, inside the timeline: destroying the VM is the
        // kernel's single largest cost after creating it.
        drop(memory);
        drop(vcpus);
        drop(vm);
        let torn_down_ns =
            host_now_ns(libc::CLOCK_MONOTONIC).saturating_sub(clock.process_start_ns);
        Ok(RunSummary {
            outcome,
            timeline: Timeline {
                torn_down_ns,
                ..timeline
            },
            exits,
            console_bytes: console
                .into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .bytes,
            memory_limit,
            memory_mapped,
            vcpus: count,
            core,
            profile,
        })
    }
}

/// The vCPUs a boot gets: as many as asked (1 to `MAX_VCPUS`) for an
/// image with threads, which can use them, one for any other.
fn vcpu_count(image: &Image<'_>, asked: u32) -> u32 {
    let threads = image.services.iter().any(|s| s == "threads");
    if threads {
        asked.clamp(1, MAX_VCPUS as u32)
    } else {
        1
    }
}

/// One vCPU's thread: confines itself, waits for the guest to start the
/// vCPU (but vCPU 0), and runs it until the VM stops. Returns the exits it
/// counted, for a core file the vCPU's last state if it ran, and for a
/// profile its stacks.
fn vcpu_thread<'a>(
    shared: &Shared<'a>,
    index: u32,
    vcpu: &mut VcpuFd,
    plan: &ThreadPlan,
) -> VcpuEnd {
    let ready = prepare(shared, index, vcpu, plan).and_then(|(preemptor, sampler)| {
        if index == 0 {
            return Ok(Some((preemptor, sampler)));
        }
        match shared.vcpus.wait_for_start(index) {
            Some(entry) => {
                start_other(shared, index, vcpu, plan, &entry).map(|()| Some((preemptor, sampler)))
            }
            None => Ok(None),
        }
    });
    match ready {
        Ok(Some((preemptor, mut sampler))) => {
            let exits = run_loop::run(shared, index, vcpu, preemptor, sampler.as_mut());
            VcpuEnd {
                exits,
                last: plan.core.then(|| last_state(shared, index, vcpu)).flatten(),
                stacks: sampler.map(Sampler::into_stacks).unwrap_or_default(),
            }
        }
        Ok(None) => VcpuEnd::default(),
        Err(error) => {
            shared.vcpus.finish(Err(error));
            VcpuEnd::default()
        }
    }
}

/// The console thread: empties the guest's standard-output ring every few
/// milliseconds until the VM stops ([`console::drain_periodically`]),
/// confined like a vCPU thread (without volumes or network), with
/// `SIGALRM` left to the vCPU threads, whose `KVM_RUN` it must cut short.
fn console_thread(shared: &Shared<'_>) {
    let alarm = signals::set_of(&[libc::SIGALRM]);
    // SAFETY: `alarm` is an initialised set; blocks it in this thread only.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &alarm, std::ptr::null_mut()) };
    if let Err(error) = seccomp::restrict_to_run_loop(seccomp::Needs::default()) {
        shared.vcpus.finish(Err(BootError::Seccomp(error)));
        return;
    }
    let guest = console::Guest {
        memory: shared.memory,
        layout: shared.layout,
        stats: shared.stats,
    };
    console::drain_periodically(
        &shared.console,
        &guest,
        &|interval| shared.vcpus.wait_stopping(interval),
        &|| shared.vcpus.wait_while_idle(),
        &|| shared.vcpus.stopping() || Watchdog::fired(),
        &|violation| {
            shared
                .vcpus
                .finish(Ok(crate::Outcome::Violation(violation)))
        },
    );
}

/// How gdb reaches the VM.
enum GdbLink {
    /// `kiln run --gdb`: gdb's connection, there from the boot.
    Stream(std::net::TcpStream),
    /// A background instance's control socket, where `kiln debug` comes.
    Control(std::os::unix::net::UnixListener),
}

/// The gdb thread: confines itself, then serves gdb until it leaves or the
/// VM ends ([`crate::gdb::session`]), or serves the control socket's
/// clients one after the other ([`crate::control`]).
fn gdb_thread(shared: &Shared<'_>, link: GdbLink, debugger: &Debugger) {
    if let Err(error) = seccomp::restrict_gdb_session() {
        shared.vcpus.finish(Err(BootError::Seccomp(error)));
        debugger.vm_ended();
        return;
    }
    let guest = crate::gdb::threads::Guest {
        memory: shared.memory,
        layout: shared.layout,
        vcpus: &shared.vcpus,
    };
    match link {
        GdbLink::Stream(stream) => {
            let end = crate::gdb::session::serve(stream, debugger, guest);
            crate::control::tell(&end);
        }
        GdbLink::Control(listener) => {
            let live = shared.live_profile;
            crate::control::serve(&listener, debugger, &guest, live, shared.image.bytes);
        }
    }
}

/// What a vCPU's thread hands back when the VM stops.
#[derive(Default)]
struct VcpuEnd {
    /// The exits it counted.
    exits: Exits,
    /// Its last state, for a core file.
    last: Option<CoreThread>,
    /// The stacks it sampled, for a profile.
    stacks: Stacks,
}

/// The thread vCPU `index` ran when the VM stopped, with its registers
/// (`None` if KVM cannot give them).
fn last_state(shared: &Shared<'_>, index: u32, vcpu: &VcpuFd) -> Option<CoreThread> {
    let regs = vcpu.get_regs().ok()?;
    let sregs = vcpu.get_sregs().ok()?;
    let thread = crashed_thread(shared.memory, shared.layout, index, false);
    Some(CoreThread {
        id: thread.id,
        name: thread.name,
        registers: Registers::from(&regs),
        fs_base: sregs.fs.base,
    })
}

/// What a core file of a guest that ended with `outcome` shows: its
/// threads and why it stopped (`None`: it did not crash or time out).
/// `states` are the vCPUs' last states, in vCPU order.
fn core_job(
    outcome: &Outcome,
    states: Vec<Option<CoreThread>>,
    memory: &GuestMemory,
    layout: &Layout,
) -> Option<(Vec<CoreThread>, CoreSignal)> {
    let (mut threads, signal) = match outcome {
        Outcome::Crashed(report) => crash_threads(report, states),
        Outcome::TimedOut => (running_threads(states), CoreSignal::Timeout),
        _ => return None,
    };
    let table = memory
        .read_obj(layout.boot_info.start + offset_of!(BootInfo, threads) as u64)
        .unwrap_or_default();
    threads.extend(crash::threads::switched_out(memory, &table));
    Some((threads, signal))
}

/// The threads a timed-out guest's core shows first: those the vCPUs ran
/// (not their idle contexts, thread 0, unless that is all there is: a
/// guest without threads).
fn running_threads(states: Vec<Option<CoreThread>>) -> Vec<CoreThread> {
    let all: Vec<CoreThread> = states.into_iter().flatten().collect();
    let threads: Vec<CoreThread> = all.iter().filter(|s| s.id != 0).cloned().collect();
    if threads.is_empty() {
        all.into_iter().take(1).collect()
    } else {
        threads
    }
}

/// The threads a crash's core shows: the crashed one first, with the
/// registers of the crash (its vCPU's own are in the trap stub by now),
/// then the threads that ran on the other vCPUs (not their idle contexts,
/// thread 0).
fn crash_threads(
    report: &crate::CrashReport,
    states: Vec<Option<CoreThread>>,
) -> (Vec<CoreThread>, CoreSignal) {
    let crashed = report.thread.vcpu_index as usize;
    let fs_base = states
        .get(crashed)
        .and_then(|s| s.as_ref())
        .map_or(0, |s| s.fs_base);
    // A vCPU's idle context (thread 0) crashes too, reporting a deadlock:
    // it gets an id of its own, since gdb merges threads whose ids match.
    let id = match report.thread.id {
        0 => crate::core_dump::IDLE_CONTEXT_IDS + u64::from(report.thread.vcpu_index),
        id => id,
    };
    let mut threads = vec![CoreThread {
        id,
        name: report.thread.name.clone(),
        registers: report.registers,
        fs_base,
    }];
    threads.extend(
        states
            .into_iter()
            .enumerate()
            .filter(|(index, _)| *index != crashed)
            .filter_map(|(_, state)| state)
            .filter(|state| state.id != 0),
    );
    let signal = if report.kind.is_panic() {
        CoreSignal::Abort
    } else {
        CoreSignal::Fault
    };
    (threads, signal)
}

/// What a vCPU thread does before any guest input reaches it: its signal
/// masks, tick timer and sampling timer, then its seccomp filter (a filter
/// binds the thread that installs it, and the timers cannot be created
/// under it).
fn prepare<'a>(
    shared: &Shared<'a>,
    index: u32,
    vcpu: &mut VcpuFd,
    plan: &ThreadPlan,
) -> Result<(Option<Preemptor>, Option<Sampler<'a>>), BootError> {
    if plan.signals {
        signals::confine_to_kvm_run(vcpu).map_err(BootError::VcpuThreads)?;
    }
    let area = boot_info::vcpu_area(shared.layout, index);
    let preemptor = plan
        .upcall
        .map(|upcall| Preemptor::new(upcall, shared.layout, index, area))
        .transpose()
        .map_err(BootError::TimeSlice)?;
    let image = shared.image.bytes;
    let sampler = match (plan.profile, shared.live_profile) {
        (Some(config), _) => Some(Sampler::new(config, image)),
        (None, Some(live)) => Some(Sampler::live(live, image)),
        (None, None) => None,
    }
    .transpose()
    .map_err(BootError::Profile)?;
    seccomp::restrict_to_run_loop(plan.needs).map_err(BootError::Seccomp)?;
    shared
        .vcpus
        .enter(index, &raw mut vcpu.get_kvm_run().immediate_exit);
    // SAFETY: gettid has no preconditions.
    shared.stats.vcpu_thread(index, unsafe { libc::gettid() });
    Ok((preemptor, sampler))
}

/// Puts vCPU `index` where the guest's `StartVcpu` said, in vCPU 0's mode
/// with its own descriptor tables and area. Done when it starts, not at
/// boot: a program that never starts it pays none of these calls.
fn start_other(
    shared: &Shared<'_>,
    index: u32,
    vcpu: &mut VcpuFd,
    plan: &ThreadPlan,
    entry: &kvm_regs,
) -> Result<(), BootError> {
    if let Some(cpuid) = &plan.cpuid {
        vcpu.set_cpuid2(cpuid)
            .map_err(|e| BootError::Kvm("set CPUID", e))?;
    }
    let tables = shared.layout.vcpu_tables(index);
    let area = boot_info::vcpu_area(shared.layout, index);
    vcpu.set_sregs(&cpu::other_vcpu_registers(&plan.boot_sregs, &tables, area))
        .map_err(|e| BootError::Kvm("set special registers", e))?;
    vcpu.set_regs(entry)
        .map_err(|e| BootError::Kvm("set registers", e))?;
    // With an in-kernel local APIC, KVM holds a vCPU other than the boot
    // one until an INIT and start-up IPI; there are none here.
    vcpu.set_mp_state(kvm_mp_state {
        mp_state: KVM_MP_STATE_RUNNABLE,
    })
    .map_err(|e| BootError::Kvm("make the vCPU runnable", e))
}

/// The boot's timestamps: the guest's from its TSC stamps.
fn timeline(
    memory: &GuestMemory,
    layout: &Layout,
    clock: &GuestClock,
    entered_ns: u64,
    ended_ns: u64,
) -> Timeline {
    let stamps = guest_status(memory, layout);
    let start = clock.process_start_ns;
    let guest_ns = |tsc: u64| (tsc != 0).then(|| clock.host_ns_at_tsc(tsc).saturating_sub(start));
    Timeline {
        setup_ns: entered_ns.saturating_sub(start),
        guest_entry_ns: guest_ns(stamps.entry_tsc),
        guest_main_ns: guest_ns(stamps.main_tsc),
        end_ns: ended_ns.saturating_sub(start),
        torn_down_ns: 0,
    }
}

/// What the guest last recorded in its boot info (zeros if unreadable).
pub fn guest_status(memory: &GuestMemory, layout: &Layout) -> GuestStatus {
    let at = layout.boot_info.start + offset_of!(BootInfo, guest) as u64;
    memory.read_obj(at).unwrap_or_default()
}

/// The thread the guest last recorded as running on vCPU `index`, with
/// its name: at most `THREAD_NAME_MAX` bytes up to a NUL, read from guest
/// memory (none if unreadable or empty; the report escapes what it
/// prints). The vCPU is named when the guest runs on `several`.
pub fn crashed_thread(
    memory: &GuestMemory,
    layout: &Layout,
    index: u32,
    several: bool,
) -> CrashedThread {
    // Field by field: `VcpuArea` ends in padding, so it is not plain bytes.
    let area = boot_info::vcpu_area(layout, index);
    let field =
        |offset: usize| -> u64 { memory.read_obj(area + offset as u64).unwrap_or_default() };
    let thread = field(offset_of!(VcpuArea, thread));
    let name = crash::threads::name_at(memory, field(offset_of!(VcpuArea, thread_name)));
    CrashedThread {
        id: thread,
        name,
        vcpu: several.then_some(index),
        vcpu_index: index,
    }
}

/// Makes every thread allocate from glibc's main arena. A thread's own
/// arena grows with `mprotect` and, the first time it shrinks, reads
/// `/proc/sys/vm/overcommit_memory`: neither is in the run loop's filter,
/// and a vCPU thread allocates (a crash report above all). The main arena
/// grows with `brk`. The monitor allocates little, so sharing it costs
/// nothing measurable. Called before the vCPU threads start.
fn one_malloc_arena() {
    // SAFETY: mallopt only sets a malloc parameter; M_ARENA_MAX with a
    // positive value is valid (a refusal leaves the default, no harm done
    // but to the filter's allowlist, which a test run would show).
    unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
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

/// Puts the image's segments in guest memory. Read-only segments are
/// mapped from the image file when there is one (only the pages the guest
/// touches are read, from the host's page cache, shared by instances of
/// one image; copying ~700 KiB of a std image page by page cost ~1 ms of a
/// boot), else copied. The writable segment is copied into memory the
/// host backs at once, with its first [`BSS_BACKED`] bytes of `.bss`: its
/// pages are the instance's own as soon as they are written, which start-up
/// does to most of them, and a page mapped from the file that the guest
/// reads and then writes costs three KVM faults and an invalidation, ~50
/// µs on kvm_pvm, against one fault that also maps its backed neighbours
/// (see `paging::settled`). The bytes of a mapped segment's first and last
/// pages outside its file data are zeroed, as a copy into fresh memory
/// leaves them.
fn load_segments(memory: &GuestMemory, image: &Image<'_>) -> Result<(), BootError> {
    const PAGE: u64 = kiln_abi::layout::PAGE_SIZE;
    for segment in &image.segments {
        let data = &image.bytes[segment.file.clone()];
        let start = segment.memory.start;
        let data_end = start + data.len() as u64;
        let page_start = start & !(PAGE - 1);
        let file = image.file.filter(|_| !data.is_empty() && !segment.writable);
        let Some(file) = file else {
            if segment.writable {
                let backed_end = segment.memory.end.min(data_end + BSS_BACKED);
                memory.populate(page_start, backed_end.next_multiple_of(PAGE) - page_start)?;
            }
            memory.write_bytes(start, data)?;
            continue;
        };
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

/// The most bytes of `.bss` the host backs at boot: a std program's start-up
/// writes tens of KiB of it; a program with a large `.bss` gets the rest
/// as it touches it.
const BSS_BACKED: u64 = 64 * 1024;
