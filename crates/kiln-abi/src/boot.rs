//! The boot-info page.
//!
//! At entry the guest's first argument register (`rdi`) holds the address of a
//! [`BootInfo`]. The strings that `argv` and `envp` point to follow it in the
//! same read-write region. The guest writes its own boot timestamps into
//! [`BootInfo::guest`]; everything else is written by the monitor.

use crate::GuestPtr;

/// `BootInfo::magic`: "KILNBOOT" in little-endian.
pub const BOOT_MAGIC: u64 = u64::from_le_bytes(*b"KILNBOOT");

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

/// Timestamps the guest records for the monitor's boot timeline, as raw TSC
/// values (zero means "not reached").
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GuestTimestamps {
    /// out (guest): TSC at the guest's first instruction.
    pub entry_tsc: u64,
    /// out (guest): TSC when the program's `main` is called.
    pub main_tsc: u64,
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
    /// Total guest memory in bytes.
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
    /// Written by the guest.
    pub guest: GuestTimestamps,
}

impl BootInfo {
    /// The memory map as a slice.
    pub fn regions(&self) -> &[MemoryRegion] {
        let count = (self.region_count as usize).min(MAX_REGIONS);
        &self.regions[..count]
    }
}

const _: () = {
    assert!(core::mem::size_of::<MemoryRegion>() == 24);
    assert!(core::mem::size_of::<GuestTimestamps>() == 16);
    assert!(core::mem::offset_of!(BootInfo, regions) == 16);
    assert!(core::mem::offset_of!(BootInfo, memory_size) == 208);
    assert!(core::mem::offset_of!(BootInfo, random_seed) == 288);
    assert!(core::mem::offset_of!(BootInfo, guest) == 328);
    assert!(core::mem::size_of::<BootInfo>() == 344);
};
