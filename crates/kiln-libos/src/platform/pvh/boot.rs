//! The rest of the PVH boot, at CPL3: read the loader's start info, map the
//! rest of memory, fill in the IDT and TSS, and describe the machine to the
//! library OS as the Kiln monitor would, in a [`BootInfo`] of our own.
//!
//! The tables and stacks live in the image's `.bss`: nothing is placed in
//! low memory, where the loader keeps the start info and command line.

use core::mem::MaybeUninit;
use core::sync::atomic::Ordering;

use kiln_abi::boot::{BOOT_MAGIC, BootInfo, FLAG_RDRAND, MemoryRegion, RegionKind, VcpuArea};
use kiln_abi::layout::{IMAGE_BASE, MAX_MEMORY, PAGE_SIZE, align_up};
use kiln_abi::{GuestPtr, trap};

use super::{clock, entry, serial};

/// Bytes of the stack the boot code (and later a crash report) runs on.
pub const BOOT_STACK_SIZE: usize = 16 * 1024;
/// Bytes of the CPL0 trap stack.
const TRAP_STACK_SIZE: usize = 4096;
/// Bytes of the main thread's stack, as on Kiln's monitor (about 1 MiB).
const MAIN_STACK_SIZE: u64 = 1 << 20;
/// The longest command line kept, with its NUL.
const CMDLINE_MAX: usize = 4096;
/// The most arguments, and the most environment entries, kept.
const WORDS_MAX: usize = 64;

/// `hvm_start_info.magic`.
const START_INFO_MAGIC: u32 = 0x336e_c578;
/// A memory-map entry of usable RAM (`XEN_HVM_MEMMAP_TYPE_RAM`).
const MEMMAP_RAM: u32 = 1;

/// The start of Xen's `hvm_start_info` (version 1, with the memory map).
#[repr(C)]
struct StartInfo {
    magic: u32,
    version: u32,
    flags: u32,
    nr_modules: u32,
    modlist_paddr: u64,
    cmdline_paddr: u64,
    rsdp_paddr: u64,
    memmap_paddr: u64,
    memmap_entries: u32,
    reserved: u32,
}

/// One `hvm_memmap_table_entry`.
#[repr(C)]
struct MemmapEntry {
    addr: u64,
    size: u64,
    kind: u32,
    reserved: u32,
}

/// A page-aligned page of 64-bit entries.
#[repr(C, align(4096))]
pub struct Table(pub [u64; 512]);

/// A statics wrapper for memory the boot writes once, before any thread.
#[repr(transparent)]
pub struct BootCell<T>(pub core::cell::UnsafeCell<T>);

// SAFETY: written only by the boot code on the one vCPU, before the library
// OS starts; read-only after (or written by the CPU: the TSS busy bit).
unsafe impl<T> Sync for BootCell<T> {}

impl<T> BootCell<T> {
    pub const fn new(value: T) -> Self {
        Self(core::cell::UnsafeCell::new(value))
    }
}

/// What the 32-bit entry saved: the start info's address (`ebx`).
pub static START_INFO: BootCell<u32> = BootCell::new(0);
/// The page tables: one PML4, one PDPT, four page directories (4 GiB).
pub static PML4: BootCell<Table> = BootCell::new(Table([0; 512]));
pub static PDPT: BootCell<Table> = BootCell::new(Table([0; 512]));
pub static PAGE_DIRECTORIES: BootCell<[Table; 4]> = BootCell::new([const { Table([0; 512]) }; 4]);
/// The first 2 MiB in 4 KiB pages, so page 0 and the stack guard can be
/// left out.
static LOW_TABLE: BootCell<Table> = BootCell::new(Table([0; 512]));
/// The unmapped page below the main stack (0: none).
pub static STACK_GUARD: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
/// Null, kernel code, kernel data, user data, user code, the TSS (two slots).
pub static GDT: BootCell<[u64; 7]> = BootCell::new([
    0,
    0x00af_9a00_0000_ffff,
    0x00cf_9200_0000_ffff,
    0x00cf_f200_0000_ffff,
    0x00af_fa00_0000_ffff,
    0,
    0,
]);
/// The IDT: one 16-byte gate per exception vector.
pub static IDT: BootCell<[u64; 2 * trap::VECTORS]> = BootCell::new([0; 2 * trap::VECTORS]);
/// The TSS: 104 bytes, then an I/O permission bitmap opening ports 0 to
/// 0x41f (the UART, PIT, RTC, i8042 and QEMU's debug ports) to CPL3, and
/// its terminating byte. IOPL=3 alone would do, but kvm_pvm drops IOPL
/// from an `iretq`'s RFLAGS (the Kiln monitor sets it through KVM
/// instead); the bitmap works on every host.
pub static TSS: BootCell<[u32; TSS_WORDS]> = BootCell::new([0; TSS_WORDS]);
/// 32-bit words of the TSS: 26 of its own, 33 of bitmap (0x420 ports,
/// then the 0xff byte, with padding).
const TSS_WORDS: usize = 26 + 34;
/// The TSS descriptor's limit: through the bitmap's terminating byte.
pub const TSS_LIMIT: usize = 104 + 0x420 / 8;

/// The operand of `lgdt`/`lidt`: a limit and a base address.
#[repr(C, packed)]
pub struct TableRegister {
    limit: u16,
    base: *const u8,
}

// SAFETY: read only by `lgdt`/`lidt`.
unsafe impl Sync for TableRegister {}

pub static GDTR: TableRegister = TableRegister {
    limit: 7 * 8 - 1,
    base: GDT.0.get().cast_const().cast(),
};
pub static IDTR: TableRegister = TableRegister {
    limit: (16 * trap::VECTORS - 1) as u16,
    base: IDT.0.get().cast_const().cast(),
};

/// The one vCPU's record (GS points at it), all zero until the boot.
pub static VCPU: BootCell<MaybeUninit<VcpuArea>> = BootCell::new(MaybeUninit::zeroed());

/// Stacks: the boot (and crash report) stack, the CPL0 trap stack.
#[repr(C, align(16))]
pub struct Stack<const N: usize>(pub [u8; N]);
pub static BOOT_STACK: BootCell<Stack<BOOT_STACK_SIZE>> =
    BootCell::new(Stack([0; BOOT_STACK_SIZE]));
static TRAP_STACK: BootCell<Stack<TRAP_STACK_SIZE>> = BootCell::new(Stack([0; TRAP_STACK_SIZE]));

/// The boot info handed to the library OS, and its strings.
static BOOT: BootCell<MaybeUninit<BootInfo>> = BootCell::new(MaybeUninit::zeroed());
static CMDLINE: BootCell<[u8; CMDLINE_MAX]> = BootCell::new([0; CMDLINE_MAX]);
static ARGV: BootCell<[u64; WORDS_MAX + 1]> = BootCell::new([0; WORDS_MAX + 1]);
static ENVP: BootCell<[u64; WORDS_MAX + 1]> = BootCell::new([0; WORDS_MAX + 1]);
/// `argv[0]` when the command line names no program.
static DEFAULT_NAME: &[u8] = b"kiln\0";

// SAFETY: Kiln's linker scripts define these symbols (their addresses are
// the values: the image's end, and the TLS template's place and shape).
unsafe extern "C" {
    pub static __kiln_image_end: u8;
    static __kiln_tls_start: u8;
    static __kiln_tls_file_end: u8;
    static __kiln_tls_end: u8;
    static __kiln_tls_align: u8;
}

/// The first CPL3 code on this platform (from `entry`, on the boot stack).
pub extern "C" fn start() -> ! {
    let entry_tsc = super::super::rdtsc();
    super::ACTIVE.store(true, Ordering::Relaxed);
    super::probe_debug_console();
    // SAFETY: the 32-bit entry stored the loader's `ebx` before anything else.
    let address = unsafe { *START_INFO.0.get() } as usize;
    // SAFETY: PVH loaders pass the address of an `hvm_start_info` in
    // identity-mapped RAM below 4 GiB (all of which `entry` and `map_ram`
    // map); its magic is checked before anything else is believed.
    let start = unsafe { &*(address as *const StartInfo) };
    if start.magic != START_INFO_MAGIC || start.version < 1 || start.memmap_entries == 0 {
        fail(b"kiln: the PVH loader gave no memory map\n");
    }
    // SAFETY: version 1 start info names `memmap_entries` entries at
    // `memmap_paddr` (in low RAM, mapped).
    let memmap = unsafe {
        core::slice::from_raw_parts(
            start.memmap_paddr as *const MemmapEntry,
            start.memmap_entries as usize,
        )
    };
    let image_end = align_up(&raw const __kiln_image_end as u64, PAGE_SIZE);
    // One page between the image and the stack: its guard.
    let stack = image_end + PAGE_SIZE..image_end + PAGE_SIZE + MAIN_STACK_SIZE;
    let ram_top = memmap
        .iter()
        .filter(|e| e.kind == MEMMAP_RAM)
        .map(|e| e.addr.saturating_add(e.size).min(MAX_MEMORY))
        .max()
        .unwrap_or(0);
    if ram_top < stack.end + PAGE_SIZE {
        fail(b"kiln: too little memory for the image and its stack\n");
    }
    map_ram(ram_top);
    install_traps();
    guard_low_pages(image_end);

    // SAFETY: the boot runs alone; nothing else reads these statics yet.
    // SAFETY: as above; all zeros (`.bss`) is a valid BootInfo.
    let info = unsafe { (*BOOT.0.get()).assume_init_mut() };
    info.magic = BOOT_MAGIC;
    info.abi_version = kiln_abi::ABI_VERSION;
    let mut regions = RegionList(info, 0);
    regions.add(IMAGE_BASE, image_end, RegionKind::Image);
    regions.add(stack.start, stack.end, RegionKind::Stack);
    for entry in memmap.iter().filter(|e| e.kind == MEMMAP_RAM) {
        let end = entry.addr.saturating_add(entry.size).min(MAX_MEMORY);
        regions.add(entry.addr.max(stack.end), end, RegionKind::Free);
    }
    let count = regions.1;
    info.region_count = count;
    info.memory_size = ram_top;
    info.image_start = IMAGE_BASE;
    info.image_end = image_end;
    info.tsc_base = entry_tsc;
    info.tsc_hz = clock::tsc_hz();
    info.wall_clock_base_ns = clock::wall_clock_ns(entry_tsc);
    info.tls = tls_template();
    info.flags = if has_rdrand() { FLAG_RDRAND } else { 0 };
    info.random_seed = seed(entry_tsc);
    // The record is ours alone; its first word is its address.
    let vcpu: *mut VcpuArea = VCPU.0.get().cast();
    // SAFETY: as above; all zeros is a valid record.
    unsafe { (*vcpu).this = vcpu as u64 };
    info.vcpu_count = 1;
    info.vcpus = GuestPtr::from_ptr(vcpu.cast_const());
    // SAFETY: the start info names a NUL-terminated command line (or 0).
    unsafe { command_line(info, start.cmdline_paddr as *const u8) };
    #[cfg(feature = "net")]
    super::net::configure(info, loader_words());
    info.guest.entry_tsc = entry_tsc;
    if info.tls.mem_size != 0 && !has_fsgsbase() {
        fail(b"kiln: this image needs a CPU with FSGSBASE (QEMU: -cpu max)\n");
    }
    // SAFETY: `kiln_pvh_run` switches to the main stack (RAM just mapped,
    // used by nothing else) and enters the library OS with this boot info.
    unsafe { kiln_pvh_run(stack.end, &raw mut *info) }
}

unsafe extern "C" {
    /// Switches to the stack whose top is `stack_top` and calls the common
    /// entry with `info` (see `entry`).
    fn kiln_pvh_run(stack_top: u64, info: *mut BootInfo) -> !;
}

/// Writes the memory map into the boot info, dropping empty regions.
struct RegionList<'a>(&'a mut BootInfo, u32);

impl RegionList<'_> {
    fn add(&mut self, start: u64, end: u64, kind: RegionKind) {
        let slot = self.1 as usize;
        if end > start && slot < kiln_abi::boot::MAX_REGIONS {
            self.0.regions[slot] = MemoryRegion {
                start,
                len: end - start,
                kind: kind as u32,
                reserved: 0,
            };
            self.1 += 1;
        }
    }
}

/// Maps all RAM below `top` with 2 MiB pages (the entry mapped the image).
/// New entries only: no TLB holds a not-present one.
fn map_ram(top: u64) {
    const HUGE: u64 = 2 << 20;
    let pages = align_up(top, HUGE) / HUGE;
    let directories = PAGE_DIRECTORIES.0.get().cast::<u64>();
    let pdpt = PDPT.0.get().cast::<u64>();
    // SAFETY: four directories, one PDPT slot each (`top` is below 4 GiB);
    // at most 2048 directory entries; the identity map.
    unsafe {
        fill(pdpt, pages.div_ceil(512), directories as u64 | 7, 4096);
        fill(directories, pages, 0x87, HUGE);
    }
}

/// Writes `count` table entries `first`, `first + step`, ... One loop out
/// of line for every table keeps the boot code small; the stores are
/// volatile, as the CPU reads the tables behind the compiler's back.
///
/// # Safety
/// `table` has room for `count` entries.
#[inline(never)]
unsafe fn fill(table: *mut u64, count: u64, first: u64, step: u64) {
    for i in 0..count {
        // SAFETY: per the caller.
        unsafe { table.add(i as usize).write_volatile(first + i * step) };
    }
}

/// Maps the first 2 MiB with 4 KiB pages instead, leaving out page 0 (a
/// null pointer faults) and, when it lies there, the page below the main
/// stack (an overflow faults), as on Kiln's monitor. The kernel call that
/// unmaps a page (`set_page_present`, CPL0 via the trap stubs) ends with
/// `invlpg`, which also drops the 2 MiB translation the CPU may hold.
fn guard_low_pages(stack_guard: u64) {
    let table = LOW_TABLE.0.get().cast::<u64>();
    // SAFETY: entries 1 to 511 of our own table; the identity map.
    unsafe { fill(table.add(1), 511, PAGE_SIZE | 7, PAGE_SIZE) };
    let directory = PAGE_DIRECTORIES.0.get().cast::<u64>();
    // SAFETY: the first directory entry, which covered the same 2 MiB.
    unsafe { directory.write_volatile(table as u64 | 7) };
    crate::platform::set_page_present(0, false);
    if crate::platform::set_page_present(stack_guard, false) {
        STACK_GUARD.store(stack_guard, Ordering::Relaxed);
    }
}

/// Points every exception vector at the image's trap stub (IST1, the trap
/// stack) and gives the TSS that stack.
fn install_traps() {
    // SAFETY: defined in `kiln/traps.rs`: one 16-byte stub per vector.
    unsafe extern "C" {
        static kiln_trap_table: u8;
    }
    let table = &raw const kiln_trap_table as u64;
    let idt = IDT.0.get().cast::<u64>();
    // Opaque to the optimiser: an unrolled loop would cost every image
    // about a kilobyte for a few microseconds saved once.
    for vector in 0..core::hint::black_box(trap::VECTORS as u64) {
        let stub = table + vector * trap::STUB_STRIDE;
        let low = (stub & 0xffff)
            | (entry::KERNEL_CODE << 16)
            | (1 << 32)
            | (0x8e << 40)
            | ((stub >> 16) & 0xffff) << 48;
        // SAFETY: two words per vector, inside the IDT.
        unsafe {
            idt.add(2 * vector as usize).write_volatile(low);
            idt.add(2 * vector as usize + 1).write_volatile(stub >> 32);
        }
    }
    let top = TRAP_STACK.0.get() as u64 + TRAP_STACK_SIZE as u64;
    let tss = TSS.0.get().cast::<u8>();
    // SAFETY: rsp0 at byte 4, ist1 at byte 36, the I/O map base at 102
    // (the bitmap, all zero: open, right after), the bitmap's terminating
    // byte at the limit: all inside the TSS.
    unsafe {
        tss.add(4).cast::<u64>().write_unaligned(top);
        tss.add(36).cast::<u64>().write_unaligned(top);
        tss.add(102).cast::<u16>().write_unaligned(104);
        tss.add(TSS_LIMIT).write(0xff);
    }
}

/// The image's TLS template, from the linker script's symbols.
fn tls_template() -> kiln_abi::boot::TlsTemplate {
    let start = &raw const __kiln_tls_start as u64;
    let end = &raw const __kiln_tls_end as u64;
    let align = (&raw const __kiln_tls_align as u64).max(1);
    kiln_abi::boot::TlsTemplate {
        start,
        file_size: &raw const __kiln_tls_file_end as u64 - start,
        mem_size: align_up(end - start, align),
        align,
    }
}

fn cpuid(leaf: u32) -> core::arch::x86_64::CpuidResult {
    core::arch::x86_64::__cpuid_count(leaf, 0)
}

fn has_rdrand() -> bool {
    cpuid(1).ecx & (1 << 30) != 0
}

fn has_fsgsbase() -> bool {
    cpuid(7).ebx & 1 != 0
}

/// Seeds for the guest's generators: RDRAND where the CPU has it, mixed
/// with the boot's TSC, which differs between boots.
fn seed(tsc: u64) -> [u64; 4] {
    let rdrand = has_rdrand();
    let mut seed = [0; 4];
    let mut mixed = tsc;
    for word in &mut seed {
        mixed = mixed.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29) ^ tsc;
        let mut random = 0u64;
        if rdrand {
            // SAFETY: the CPU has RDRAND (checked); a failed read leaves 0.
            unsafe { core::arch::x86_64::_rdrand64_step(&mut random) };
        }
        *word = mixed ^ random;
    }
    seed
}

/// The command line as the program's environment and arguments:
/// `KEY=VALUE ... -- PROGRAM ARGS...`, words split at spaces. Before `--`,
/// words with `=` are environment entries (except the VMM's own, see
/// [`is_loader_word`], and, with networking, `ip=`: see `net`),
/// [`super::STATUS_LINE_WORD`] asks for the exit status on the console,
/// and other words are ignored; after it, every word is an argument, the
/// program's name first. The VMM's `virtio_mmio.` words are neither,
/// wherever they are: QEMU appends them after the program's.
///
/// # Safety
/// `cmdline` is null or a NUL-terminated string.
unsafe fn command_line(info: &mut BootInfo, cmdline: *const u8) {
    // SAFETY: the boot runs alone.
    let (text, argv, envp) = unsafe {
        (
            &mut *CMDLINE.0.get(),
            &mut *ARGV.0.get(),
            &mut *ENVP.0.get(),
        )
    };
    let len = if cmdline.is_null() {
        0
    } else {
        // SAFETY: per the caller.
        unsafe { crate::mem::strlen(cmdline) }.min(CMDLINE_MAX - 1)
    };
    if len > 0 {
        // SAFETY: `len` bytes of the loader's string, into our buffer.
        unsafe { core::ptr::copy_nonoverlapping(cmdline, text.as_mut_ptr(), len) };
    }
    let (mut argc, mut envc, mut after_dashes) = (0, 0, false);
    let mut i = 0;
    while i < len {
        if text[i] == b' ' {
            text[i] = 0;
            i += 1;
            continue;
        }
        let start = i;
        while i < len && text[i] != b' ' {
            i += 1;
        }
        text[i] = 0;
        let word = &text[start..i];
        let address = text[start..].as_ptr() as u64;
        if word.starts_with(b"virtio_mmio.") {
            // The VMM's, wherever it put them.
        } else if after_dashes {
            if argc < WORDS_MAX {
                argv[argc] = address;
                argc += 1;
            }
        } else if word == b"--" {
            after_dashes = true;
        } else if word == super::STATUS_LINE_WORD {
            super::STATUS_LINE.store(true, Ordering::Relaxed);
        } else if has_equals(word)
            && !is_loader_word(word)
            && !is_network_word(word)
            && envc < WORDS_MAX
        {
            envp[envc] = address;
            envc += 1;
        }
        i += 1;
    }
    if argc == 0 {
        argv[0] = DEFAULT_NAME.as_ptr() as u64;
        argc = 1;
    }
    info.argc = argc as u64;
    info.argv = GuestPtr::from_ptr(argv.as_ptr().cast());
    info.envc = envc as u64;
    info.envp = GuestPtr::from_ptr(envp.as_ptr().cast());
}

/// Whether `word` is one the VMM adds for Linux: `virtio_mmio.device=`
/// (QEMU microvm, Firecracker), `pci=off` (Firecracker, before `--`).
fn is_loader_word(word: &[u8]) -> bool {
    word.starts_with(b"virtio_mmio.") || word == b"pci=off"
}

/// Whether `word` is the network's (`ip=`), in an image with networking.
fn is_network_word(word: &[u8]) -> bool {
    #[cfg(feature = "net")]
    return super::net::is_network_word(word);
    #[cfg(not(feature = "net"))]
    {
        let _ = word;
        false
    }
}

/// The command line's words, once [`command_line`] has split them (each
/// ends with a NUL).
#[cfg(feature = "net")]
fn loader_words() -> impl Iterator<Item = &'static [u8]> + Clone {
    // SAFETY: the boot runs alone, and `command_line` is done with the
    // buffer, which nothing writes again.
    let text: &'static [u8] = unsafe { &*CMDLINE.0.get() };
    text.split(|&byte| byte == 0)
        .filter(|word| !word.is_empty())
}

/// Whether `word` holds a `=` (a loop, not `contains`: its `memchr` costs
/// every image 200 bytes).
fn has_equals(word: &[u8]) -> bool {
    let mut found = false;
    for &byte in word {
        found |= byte == b'=';
    }
    found
}

/// Ends a boot that cannot go on, with a line on the console.
fn fail(message: &[u8]) -> ! {
    serial::write(message);
    super::power_off(127)
}
