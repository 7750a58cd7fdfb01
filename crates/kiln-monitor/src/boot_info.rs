//! Filling in the boot-info block the guest reads at entry.

use kiln_abi::boot::{BOOT_MAGIC, BootInfo, MAX_REGIONS, MemoryRegion, RegionKind};
use kiln_abi::{ABI_VERSION, GuestPtr};

use crate::clock::GuestClock;
use crate::image::Image;
use crate::layout::{Layout, PAGE_TABLES, SYSTEM_PAGE};
use crate::memory::{GuestAccessError, GuestMemory};

/// The program's arguments and environment as the guest will see them, and
/// the boot flags.
#[derive(Clone, Debug, Default)]
pub struct ProgramArgs<'a> {
    /// `argv`, including the program name.
    pub argv: &'a [String],
    /// `KEY=VALUE` entries.
    pub env: &'a [String],
    /// `kiln_abi::boot::FLAG_*` bits.
    pub flags: u64,
}

impl ProgramArgs<'_> {
    /// Bytes of boot info these arguments need: the block, both pointer
    /// arrays with their null terminators, and the NUL-terminated strings.
    pub fn boot_info_len(&self) -> u64 {
        let pointers = (self.argv.len() + self.env.len() + 2) * size_of::<u64>();
        let strings: usize = self.argv.iter().chain(self.env).map(|s| s.len() + 1).sum();
        (size_of::<BootInfo>() + pointers + strings) as u64
    }
}

/// Writes the boot info at `layout.boot_info.start`.
pub fn write(
    memory: &GuestMemory,
    layout: &Layout,
    image: &Image<'_>,
    args: &ProgramArgs<'_>,
    clock: &GuestClock,
    random_seed: [u64; 4],
) -> Result<(), GuestAccessError> {
    let base = layout.boot_info.start;
    let argv_addr = base + size_of::<BootInfo>() as u64;
    let envp_addr = argv_addr + (args.argv.len() as u64 + 1) * 8;
    let mut strings_addr = envp_addr + (args.env.len() as u64 + 1) * 8;

    let mut pointers = Vec::with_capacity(args.argv.len() + args.env.len() + 2);
    let mut strings = Vec::new();
    for list in [args.argv, args.env] {
        for s in list {
            pointers.push(strings_addr);
            strings.extend_from_slice(s.as_bytes());
            strings.push(0);
            strings_addr += s.len() as u64 + 1;
        }
        pointers.push(0);
    }
    let pointer_bytes: Vec<u8> = pointers.iter().flat_map(|p| p.to_le_bytes()).collect();
    memory.write_bytes(argv_addr, &pointer_bytes)?;
    memory.write_bytes(envp_addr + (args.env.len() as u64 + 1) * 8, &strings)?;

    let (regions, region_count) = memory_map(layout);
    let info = BootInfo {
        magic: BOOT_MAGIC,
        abi_version: ABI_VERSION,
        region_count,
        regions,
        memory_size: layout.memory_size,
        image_start: image.start(),
        image_end: image.end(),
        tsc_hz: clock.tsc_hz,
        tsc_base: clock.tsc_base,
        wall_clock_base_ns: clock.wall_base_ns,
        argc: args.argv.len() as u64,
        argv: GuestPtr::new(argv_addr),
        envc: args.env.len() as u64,
        envp: GuestPtr::new(envp_addr),
        random_seed,
        monitor_setup_ns: clock.setup_ns(),
        tls: image.tls.unwrap_or_default(),
        flags: args.flags,
        volume_count: 0,
        volumes: GuestPtr::NULL,
        guest: Default::default(),
    };
    memory.write_obj(info, base)
}

fn memory_map(layout: &Layout) -> ([MemoryRegion; MAX_REGIONS], u32) {
    let region = |range: std::ops::Range<u64>, kind: RegionKind| MemoryRegion {
        start: range.start,
        len: range.end - range.start,
        kind: kind as u32,
        reserved: 0,
    };
    let list = [
        region(SYSTEM_PAGE..PAGE_TABLES, RegionKind::System),
        region(layout.page_tables.clone(), RegionKind::System),
        region(layout.stack.clone(), RegionKind::Stack),
        region(layout.boot_info.clone(), RegionKind::BootInfo),
        region(layout.image.clone(), RegionKind::Image),
        region(layout.heap.clone(), RegionKind::Free),
    ];
    let mut regions = [MemoryRegion::default(); MAX_REGIONS];
    regions[..list.len()].copy_from_slice(&list);
    (regions, list.len() as u32)
}
