//! The boot-info page.
//!
//! At entry the guest's first argument register (`rdi`) holds the address of a
//! [`BootInfo`]. The strings that `argv` and `envp` point to follow it in the
//! same read-write region. The guest writes its own boot timestamps into
//! [`BootInfo::guest`]; everything else is written by the monitor.

use crate::GuestPtr;
use crate::file::Volume;
use crate::net::NetConfig;

/// `BootInfo::magic`: "KILNBOOT" in little-endian.
pub const BOOT_MAGIC: u64 = u64::from_le_bytes(*b"KILNBOOT");

/// [`BootInfo::flags`]: log every call into the C library (`kiln run --trace-libc`).
pub const FLAG_TRACE_LIBC: u64 = 1 << 0;
/// [`BootInfo::flags`]: the guest's stdin is the host's, and a terminal
/// (so `isatty(0)` says so).
pub const FLAG_STDIN_TTY: u64 = 1 << 1;
/// [`BootInfo::flags`]: the guest's CPUID lists RDRAND, so the guest need
/// not ask (CPUID exits to the hypervisor: ~30 µs on kvm_pvm).
pub const FLAG_RDRAND: u64 = 1 << 2;

/// The longest working directory, in bytes (Linux's `PATH_MAX`, with its NUL).
pub const WORKDIR_MAX: usize = 4095;

/// The longest host name, in bytes (Linux's `HOST_NAME_MAX`).
pub const HOST_NAME_MAX: usize = 64;

/// How many entries [`BootInfo::regions`] holds.
pub const MAX_REGIONS: usize = 8;

/// What a memory region holds.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegionKind {
    /// Unused memory the guest may use as its heap.
    Free = 1,
    /// The loaded image (all of its segments).
    Image = 2,
    /// The main thread's stack; an unmapped guard page lies just below it.
    Stack = 3,
    /// This boot info and its strings.
    BootInfo = 4,
    /// Page tables and descriptor tables: mapped supervisor-only.
    System = 5,
}

/// One entry of the guest memory map.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryRegion {
    /// First guest-physical address.
    pub start: u64,
    /// Length in bytes.
    pub len: u64,
    /// A [`RegionKind`] value.
    pub kind: u32,
    /// Zero.
    pub reserved: u32,
}

/// What the guest records for the monitor: boot timestamps as raw TSC
/// values (zero means "not reached").
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GuestStatus {
    /// out (guest): TSC at the guest's first instruction.
    pub entry_tsc: u64,
    /// out (guest): TSC when the program's `main` is called.
    pub main_tsc: u64,
}

/// The longest thread name, with its NUL (Linux's `TASK_COMM_LEN`).
pub const THREAD_NAME_MAX: u64 = 16;

/// The most vCPUs a VM has (`kiln run --cpus`).
pub const MAX_VCPUS: usize = 16;

/// What guest and monitor share about one vCPU: an array of
/// [`BootInfo::vcpu_count`] of them lies at [`BootInfo::vcpus`]. The
/// monitor points each vCPU's GS base at its own record, whose first word
/// is the record's address, so guest code finds its vCPU with one
/// `mov reg, gs:[0]` (no privilege, no `rdgsbase`). Each record fills a
/// 64-byte cache line, so vCPUs never share one.
#[repr(C, align(64))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VcpuArea {
    /// The record's own guest address.
    pub this: u64,
    /// The vCPU's number: 0 for the boot vCPU.
    pub index: u32,
    /// Zero.
    pub reserved: u32,
    /// Its preemption words.
    pub preemption: Preemption,
    /// out (guest): id of the thread running on this vCPU (0 until threads
    /// start; the main thread is 1; 0 again while the vCPU idles).
    pub thread: u64,
    /// out (guest): where that thread's name is (at most
    /// [`THREAD_NAME_MAX`] bytes, NUL-terminated unless that long), or 0.
    pub thread_name: GuestPtr<u8>,
}

/// Preemption of guest threads, one per vCPU: the words guest and monitor
/// share so that the monitor's time-slice tick interrupts only code that
/// may be interrupted (see `docs/architecture.md`, "Threads and preemption").
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Preemption {
    /// in/out (guest): non-zero while the running thread is inside a
    /// library-OS critical section, which a tick must not interrupt. The
    /// monitor adds one when it delivers an upcall; the upcall takes it off.
    pub disabled: u32,
    /// out (monitor): set when a tick found `disabled` non-zero (or the vCPU
    /// at CPL0); the guest clears it and yields when `disabled` drops to zero.
    pub pending: u32,
    /// out (guest): non-zero while another thread could run (ready, or
    /// sleeping until a deadline); the monitor ticks only then. The guest
    /// makes an exit after setting it while `armed` is zero.
    pub wanted: u32,
    /// out (monitor): non-zero while the monitor's tick timer is armed.
    pub armed: u32,
}

/// Bytes below the interrupted stack pointer that an upcall leaves alone:
/// the x86_64 ABI's red zone, which the interrupted code may be using.
pub const UPCALL_RED_ZONE: u64 = 128;

/// The frame the monitor writes just below the red zone when it delivers an
/// upcall: the interrupted RFLAGS, then the interrupted RIP (lowest address
/// first). The upcall entry starts with RSP pointing at the RFLAGS word.
pub const UPCALL_FRAME: u64 = 16;

/// The image's thread-local-storage template (its `PT_TLS` segment), for the
/// guest to lay out each thread's TLS block from. All zero when the image has
/// none; when it has one, the monitor also enables `wrfsbase` (CR4.FSGSBASE)
/// so the guest can point `%fs` at each thread's block.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TlsTemplate {
    /// Address of the initialised part (`.tdata`).
    pub start: u64,
    /// Bytes of initialised data.
    pub file_size: u64,
    /// Bytes in all (`.tdata` and the zeroed `.tbss`).
    pub mem_size: u64,
    /// Required alignment of the block (a power of two, at least 1).
    pub align: u64,
}

/// The boot-info block. All fields are written by the monitor before entry
/// unless marked otherwise.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct BootInfo {
    /// [`BOOT_MAGIC`].
    pub magic: u64,
    /// [`crate::ABI_VERSION`] of the monitor.
    pub abi_version: u32,
    /// Valid entries in `regions`.
    pub region_count: u32,
    /// The guest memory map, sorted by address. Holes are unmapped.
    pub regions: [MemoryRegion; MAX_REGIONS],
    /// The guest memory limit in bytes (`kiln run -m`). Only the regions
    /// are mapped at entry; [`crate::hypercall::Hypercall::GrowMemory`]
    /// maps more, up to this.
    pub memory_size: u64,
    /// First byte of the loaded image.
    pub image_start: u64,
    /// One past the last byte of the loaded image (including `.bss`).
    pub image_end: u64,
    /// TSC ticks per second.
    pub tsc_hz: u64,
    /// The TSC value at which guest monotonic time is zero.
    pub tsc_base: u64,
    /// Wall-clock time at `tsc_base`, in nanoseconds since the Unix epoch.
    pub wall_clock_base_ns: u64,
    /// Number of program arguments (including the program name).
    pub argc: u64,
    /// `argc` pointers to NUL-terminated strings, then a null pointer.
    pub argv: GuestPtr<GuestPtr<u8>>,
    /// Number of environment entries (`KEY=VALUE`).
    pub envc: u64,
    /// `envc` pointers to NUL-terminated strings, then a null pointer.
    pub envp: GuestPtr<GuestPtr<u8>>,
    /// Fresh host randomness, to seed the guest's generators.
    pub random_seed: [u64; 4],
    /// Monitor time from its process start to guest entry, in nanoseconds.
    pub monitor_setup_ns: u64,
    /// The thread-local-storage template.
    pub tls: TlsTemplate,
    /// `FLAG_*` bits: options for the guest.
    pub flags: u64,
    /// Number of host volumes (at most [`crate::file::MAX_VOLUMES`]).
    pub volume_count: u64,
    /// `volume_count` volume descriptions; the `File` hypercall names a
    /// volume by its index here.
    pub volumes: GuestPtr<Volume>,
    /// The network device and addressing (`mmio_base` 0: none).
    pub net: NetConfig,
    /// Written by the guest.
    pub guest: GuestStatus,
    /// The host name (`kiln run --hostname`; 1 to [`HOST_NAME_MAX`] bytes,
    /// NUL-terminated), which `uname` and `gethostname` report.
    pub hostname: GuestPtr<u8>,
    /// Its length, without the NUL.
    pub hostname_len: u64,
    /// The vCPUs the VM has (1 to [`MAX_VCPUS`]); only the boot vCPU runs
    /// at entry, the guest starts the others (`StartVcpu`).
    pub vcpu_count: u32,
    /// Zero.
    pub reserved: u32,
    /// `vcpu_count` [`VcpuArea`]s, in the boot-info region.
    pub vcpus: GuestPtr<VcpuArea>,
    /// Bytes in the image file the VM booted (0: none to read), which the
    /// `ReadImage` hypercall reads.
    pub image_file_size: u64,
    /// The program's starting working directory (`kiln run --workdir`; an
    /// absolute path of at most [`WORKDIR_MAX`] bytes, NUL-terminated), or
    /// null for `/`.
    pub workdir: GuestPtr<u8>,
    /// Its length, without the NUL (0: `/`).
    pub workdir_len: u64,
    /// out (guest): its standard-output ring, or null before it has one
    /// (then every console write is a `ConsoleWrite`).
    pub console_ring: GuestPtr<crate::hypercall::ConsoleRing>,
    /// out (guest): where the guest's threads are, for core files.
    pub threads: ThreadTable,
}

/// Where the monitor finds the guest's threads when it writes a core file
/// (all zero until the guest starts its scheduler). The library OS keeps a
/// table of thread records; this says where the table is and where the
/// fields the monitor reads lie in a record, so the guest need not keep a
/// second copy. Every address here comes from the guest, which the monitor
/// does not trust: it reads them only through its bounds checks.
///
/// A thread that is not running on a vCPU was switched out: its saved
/// stack pointer points at [`SWITCH_FRAME_WORDS`] words, the MXCSR and x87
/// control word (one word), r15, r14, r13, r12, rbx and rbp, then the
/// address it resumes at; its stack pointer is just above them.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ThreadTable {
    /// out (guest): an array of `capacity` thread-record addresses.
    pub records: u64,
    /// out (guest): the address of the number of live entries at the
    /// start of the array (a `u64`).
    pub count: u64,
    /// out (guest): the array's length.
    pub capacity: u32,
    /// out (guest): offset in a record of the thread's id (`u32`).
    pub id_offset: u16,
    /// out (guest): offset of its saved stack pointer (`u64`).
    pub saved_rsp_offset: u16,
    /// out (guest): offset of its thread pointer, its `%fs` base (`u64`).
    pub thread_pointer_offset: u16,
    /// out (guest): offset of a byte that is non-zero while the thread
    /// runs on a vCPU (its registers are then the vCPU's).
    pub running_offset: u16,
    /// out (guest): offset of the address of its name (at most
    /// [`THREAD_NAME_MAX`] bytes, NUL-terminated unless that long; the
    /// address 0 if it has none), or 0 if records keep no names. This was a zero reserved field, so a table
    /// from a guest that predates it reads as "no names": the ABI version
    /// did not change.
    pub name_offset: u16,
    /// Zero.
    pub reserved: u16,
}

/// Words of the frame a switched-out thread's saved stack pointer points
/// at (see [`ThreadTable`]).
pub const SWITCH_FRAME_WORDS: u64 = 8;

impl BootInfo {
    /// The memory map as a slice.
    pub fn regions(&self) -> &[MemoryRegion] {
        let count = (self.region_count as usize).min(MAX_REGIONS);
        &self.regions[..count]
    }
}

const _: () = {
    assert!(core::mem::size_of::<MemoryRegion>() == 24);
    assert!(core::mem::size_of::<GuestStatus>() == 16);
    assert!(core::mem::size_of::<VcpuArea>() == 64);
    assert!(core::mem::offset_of!(VcpuArea, preemption) == 16);
    assert!(core::mem::offset_of!(VcpuArea, thread) == 32);
    assert!(core::mem::offset_of!(BootInfo, regions) == 16);
    assert!(core::mem::offset_of!(BootInfo, memory_size) == 208);
    assert!(core::mem::offset_of!(BootInfo, random_seed) == 288);
    assert!(core::mem::size_of::<TlsTemplate>() == 32);
    assert!(core::mem::offset_of!(BootInfo, tls) == 328);
    assert!(core::mem::offset_of!(BootInfo, flags) == 360);
    assert!(core::mem::offset_of!(BootInfo, volumes) == 376);
    assert!(core::mem::offset_of!(BootInfo, net) == 384);
    assert!(core::mem::offset_of!(BootInfo, guest) == 416);
    assert!(core::mem::offset_of!(BootInfo, hostname) == 432);
    assert!(core::mem::size_of::<Preemption>() == 16);
    assert!(core::mem::offset_of!(BootInfo, vcpus) == 456);
    assert!(core::mem::offset_of!(BootInfo, workdir) == 472);
    assert!(core::mem::offset_of!(BootInfo, console_ring) == 488);
    assert!(core::mem::size_of::<ThreadTable>() == 32);
    assert!(core::mem::offset_of!(BootInfo, threads) == 496);
    assert!(core::mem::size_of::<BootInfo>() == 528);
};
