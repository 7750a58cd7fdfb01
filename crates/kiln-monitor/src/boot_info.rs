//! Filling in the boot-info block the guest reads at entry.

use kiln_abi::boot::{BOOT_MAGIC, BootInfo, MAX_REGIONS, MemoryRegion, RegionKind, VcpuArea};
use kiln_abi::file::{VOLUME_READ_ONLY, Volume};
use kiln_abi::{ABI_VERSION, GuestPtr};
use std::mem::offset_of;

use crate::clock::GuestClock;
use crate::image::Image;
use crate::layout::{Layout, PAGE_TABLES, SYSTEM_PAGE};
use crate::memory::{GuestAccessError, GuestMemory};
use crate::volume::VolumeSpec;

/// The program's arguments and environment as the guest will see them, the
/// boot flags and the volumes.
#[derive(Clone, Debug, Default)]
pub struct ProgramArgs<'a> {
    /// `argv`, including the program name.
    pub argv: &'a [String],
    /// `KEY=VALUE` entries.
    pub env: &'a [String],
    /// `kiln_abi::boot::FLAG_*` bits.
    pub flags: u64,
    /// The volumes, in the order the `File` call numbers them.
    pub volumes: &'a [VolumeSpec],
    /// The network device and addressing (all zero: none).
    pub net: kiln_abi::net::NetConfig,
    /// The host name (checked by the caller: 1 to `HOST_NAME_MAX` bytes).
    pub hostname: &'a str,
    /// The starting working directory (checked by the caller: absolute, at
    /// most `WORKDIR_MAX` bytes), or `None` for `/`.
    pub workdir: Option<&'a str>,
    /// The vCPUs, one [`VcpuArea`] each (1 to `MAX_VCPUS`).
    pub vcpus: u32,
}

/// The most padding before the vCPU areas, which are 64-byte aligned after
/// the block: whatever the block's size, never more than this (a bound that
/// assumed the block a multiple of 16 bytes let the strings run into the
/// image once the block grew by 8).
const AREA_PADDING: usize = align_of::<VcpuArea>() - 1;

impl ProgramArgs<'_> {
    /// Bytes of boot info these arguments need: the block, the vCPU
    /// areas, both pointer arrays with their null terminators, the volume
    /// list, and the NUL-terminated strings.
    pub fn boot_info_len(&self) -> u64 {
        let areas = AREA_PADDING + self.vcpus as usize * size_of::<VcpuArea>();
        let pointers = (self.argv.len() + self.env.len() + 2) * size_of::<u64>();
        let volumes = self.volumes.len() * size_of::<Volume>();
        let strings: usize = self.strings().map(|s| s.len() + 1).sum();
        (size_of::<BootInfo>() + areas + pointers + volumes + strings) as u64
    }

    /// Every string the boot info holds, in order: argv, env, guest
    /// paths, the host name, the working directory if any.
    fn strings(&self) -> impl Iterator<Item = &str> {
        let args = self.argv.iter().chain(self.env).map(String::as_str);
        args.chain(self.volumes.iter().map(VolumeSpec::guest))
            .chain([self.hostname])
            .chain(self.workdir)
    }
}

/// Writes the boot info at `layout.boot_info.start`: the block, the vCPU
/// areas (64-byte aligned, [`vcpu_areas`]), then the `argv` and `envp`
/// pointer arrays, the volume list (all 8-byte aligned), then the strings
/// they point to (the host name's last).
pub fn write(
    memory: &GuestMemory,
    layout: &Layout,
    image: &Image<'_>,
    args: &ProgramArgs<'_>,
    clock: &GuestClock,
    random_seed: [u64; 4],
) -> Result<(), GuestAccessError> {
    let base = layout.boot_info.start;
    let areas_addr = vcpu_areas(layout);
    // Field by field: `VcpuArea` ends in alignment padding, so it is not
    // plain bytes; the rest of each area is already zero.
    for index in 0..args.vcpus {
        let this = vcpu_area(layout, index);
        memory.write_obj(this, this + offset_of!(VcpuArea, this) as u64)?;
        memory.write_obj(index, this + offset_of!(VcpuArea, index) as u64)?;
    }
    let argv_addr = areas_addr + u64::from(args.vcpus) * size_of::<VcpuArea>() as u64;
    let envp_addr = argv_addr + (args.argv.len() as u64 + 1) * 8;
    let volumes_addr = envp_addr + (args.env.len() as u64 + 1) * 8;
    let strings_start = volumes_addr + (args.volumes.len() * size_of::<Volume>()) as u64;

    let mut string_addrs = Vec::new();
    let mut strings = Vec::new();
    for s in args.strings() {
        string_addrs.push(strings_start + strings.len() as u64);
        strings.extend_from_slice(s.as_bytes());
        strings.push(0);
    }
    let (argv, rest) = string_addrs.split_at(args.argv.len());
    let (env, rest) = rest.split_at(args.env.len());
    let (guest_paths, rest) = rest.split_at(args.volumes.len());
    let (hostname, workdir) = rest.split_at(1);
    let pointer_bytes: Vec<u8> = [argv, &[0], env, &[0]]
        .concat()
        .iter()
        .flat_map(|p| p.to_le_bytes())
        .collect();
    memory.write_bytes(argv_addr, &pointer_bytes)?;
    for (i, (spec, &path)) in args.volumes.iter().zip(guest_paths).enumerate() {
        let volume = Volume {
            guest_path: GuestPtr::new(path),
            guest_path_len: spec.guest().len() as u64,
            flags: if spec.read_only() {
                VOLUME_READ_ONLY
            } else {
                0
            },
        };
        memory.write_obj(volume, volumes_addr + (i * size_of::<Volume>()) as u64)?;
    }
    memory.write_bytes(strings_start, &strings)?;

    let (regions, region_count) = memory_map(layout);
    let info = BootInfo {
        magic: BOOT_MAGIC,
        abi_version: ABI_VERSION,
        region_count,
        regions,
        memory_size: layout.memory_limit,
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
        volume_count: args.volumes.len() as u64,
        volumes: if args.volumes.is_empty() {
            GuestPtr::NULL
        } else {
            GuestPtr::new(volumes_addr)
        },
        net: args.net,
        guest: Default::default(),
        hostname: GuestPtr::new(hostname[0]),
        hostname_len: args.hostname.len() as u64,
        vcpu_count: args.vcpus,
        reserved: 0,
        vcpus: GuestPtr::new(areas_addr),
        image_file_size: image.bytes.len() as u64,
        workdir: workdir
            .first()
            .map_or(GuestPtr::NULL, |&addr| GuestPtr::new(addr)),
        workdir_len: args.workdir.map_or(0, |w| w.len() as u64),
        console_ring: GuestPtr::NULL,
        threads: Default::default(),
    };
    memory.write_obj(info, base)
}

/// Where the vCPU areas start: after the boot info, 64-byte aligned.
pub fn vcpu_areas(layout: &Layout) -> u64 {
    let after = layout.boot_info.start + size_of::<BootInfo>() as u64;
    after.next_multiple_of(align_of::<VcpuArea>() as u64)
}

/// Where vCPU `index`'s area is.
pub fn vcpu_area(layout: &Layout, index: u32) -> u64 {
    vcpu_areas(layout) + u64::from(index) * size_of::<VcpuArea>() as u64
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
        region(layout.ap_tables.clone(), RegionKind::System),
        region(layout.stack.clone(), RegionKind::Stack),
        region(layout.boot_info.clone(), RegionKind::BootInfo),
        region(layout.image.clone(), RegionKind::Image),
        region(layout.heap.clone(), RegionKind::Free),
    ];
    let mut regions = [MemoryRegion::default(); MAX_REGIONS];
    let mut count = 0;
    // A single vCPU has no tables of the others: no empty region.
    for region in list.into_iter().filter(|r| r.len > 0) {
        regions[count] = region;
        count += 1;
    }
    (regions, count as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_abi::layout::IMAGE_BASE;

    /// Whatever the arguments' lengths (so wherever the region starts), the
    /// block, the areas, the pointer arrays and the strings end inside the
    /// region, short of the image.
    #[test]
    fn everything_written_ends_inside_the_region() {
        for vcpus in [1, 2, 3] {
            for extra in 0..64 {
                let argv = ["prog".to_string(), "x".repeat(extra)];
                let args = ProgramArgs {
                    argv: &argv,
                    hostname: "host",
                    workdir: (extra % 2 == 1).then_some("/srv/app"),
                    vcpus,
                    ..Default::default()
                };
                let image = IMAGE_BASE..IMAGE_BASE + 0x9000;
                let layout =
                    Layout::plan(64 << 20, image, args.boot_info_len(), true, false, vcpus)
                        .expect("fits");
                let areas_end = vcpu_area(&layout, vcpus - 1) + size_of::<VcpuArea>() as u64;
                let pointers = (argv.len() as u64 + 2) * 8;
                let strings: u64 = args.strings().map(|s| s.len() as u64 + 1).sum();
                assert!(
                    areas_end + pointers + strings <= layout.boot_info.end,
                    "{vcpus} vCPUs, an argument of {extra} bytes"
                );
            }
        }
    }

    #[test]
    fn vcpu_areas_fit_the_boot_info_region_after_the_block() {
        for vcpus in [1, 2, kiln_abi::boot::MAX_VCPUS as u32] {
            let args = ProgramArgs {
                argv: &["prog".into()],
                hostname: "host",
                vcpus,
                ..Default::default()
            };
            let len = args.boot_info_len();
            let image = IMAGE_BASE..IMAGE_BASE + 0x9000;
            let layout = Layout::plan(64 << 20, image, len, true, false, vcpus).expect("fits");
            let first = vcpu_areas(&layout);
            assert_eq!(first % 64, 0);
            assert!(first >= layout.boot_info.start + size_of::<BootInfo>() as u64);
            let last = vcpu_area(&layout, vcpus - 1) + size_of::<VcpuArea>() as u64;
            // The pointer arrays and strings follow inside the region.
            assert!(
                last + 2 * 8 + 5 + 5 <= layout.boot_info.end,
                "{vcpus} vCPUs"
            );
        }
    }
}
