//! Where everything goes in guest memory for one boot.
//!
//! ```text
//! 0x0000        unmapped: null-pointer guard
//! 0x1000        descriptor tables: GDT, TSS, IDT           (supervisor only)
//! 0x2000        trap stack, 8 KiB, for the CPL0 stubs       (supervisor only)
//! 0x4000        page tables                                (supervisor only)
//!  ...          the other vCPUs' GDTs, TSSes and trap stacks (supervisor only)
//!  ...          unmapped: stack guard page
//!  ...          main stack, growing down from the boot info
//!  ... 0x100000 boot info and argv/env strings, ending at the image base
//! 0x100000      the image's segments
//!  ...  end     heap
//! ```
//!
//! The boot info sits directly above the stack so the guest's first stack
//! frames and the boot info share a page: each page a guest touches for the
//! first time costs a shadow-paging fault (~10 µs on kvm_pvm).
//!
//! The boot vCPU's tables and trap stack are at fixed addresses; a VM with
//! more vCPUs gets, above the page tables, a 512-byte block per other vCPU
//! (its GDT and TSS: each vCPU marks its own TSS busy and needs its own
//! ring-0 stack) and an 8 KiB trap stack each. The monitor writes a
//! vCPU's block when the guest starts it, so a boot touches none of it.
//!
//! Addresses below 2 MiB (and up to the end of the image) are mapped with
//! 4 KiB pages so that guards and segment permissions are exact; the heap
//! above uses 2 MiB pages so large memories need few page tables.
//!
//! The memory size a user gives (`-m`) is a limit: a boot maps only
//! [`INITIAL_MEMORY`] (or what the image needs), and the guest's heap asks
//! for more with the `GrowMemory` call (`crate::growth`). A large KVM memory
//! slot costs the host at boot even when untouched (on kvm_pvm, ~1.5 ms and
//! 2 MiB of kernel memory per GiB for shadow-paging metadata), so memory
//! is mapped as the guest needs it, not up front.

use std::ops::Range;

use kiln_abi::layout::{
    IMAGE_BASE, MAX_MEMORY, MEMORY_GRANULE, MIN_MEMORY, PAGE_SIZE, align_up, is_valid_memory_size,
};

/// Guest address of the descriptor-table page.
pub const SYSTEM_PAGE: u64 = 0x1000;
/// Offset of the GDT in the system page.
pub const GDT_OFFSET: u64 = 0;
/// Offset of the TSS in the system page.
pub const TSS_OFFSET: u64 = 0x100;
/// Offset of the IDT in the system page (after the TSS and its I/O bitmap).
pub const IDT_OFFSET: u64 = 0x400;
/// The trap stack.
pub const TRAP_STACK: Range<u64> = 0x2000..0x4000;
/// Bytes of a trap stack.
pub const TRAP_STACK_SIZE: u64 = TRAP_STACK.end - TRAP_STACK.start;
/// Bytes of another vCPU's system block: its GDT, then its TSS.
pub const AP_BLOCK: u64 = 0x200;
/// Offset of the TSS in such a block (after the 7-entry GDT).
pub const AP_TSS_OFFSET: u64 = 0x40;
/// Where page tables start.
pub const PAGE_TABLES: u64 = 0x4000;
/// The least main-stack size a boot accepts.
pub const MIN_STACK: u64 = 64 * 1024;

/// What a boot maps at first, when the limit allows: room for the image
/// and a small heap (more when the image is larger).
pub const INITIAL_MEMORY: u64 = 8 << 20;

const GIB: u64 = 1 << 30;

/// Why a boot cannot be laid out.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LayoutError {
    /// The memory size is out of range or not a whole number of granules.
    #[error(
        "guest memory must be a multiple of 2 MiB between {min} MiB and {max} GiB (got {0} bytes)",
        min = MIN_MEMORY >> 20,
        max = MAX_MEMORY >> 30
    )]
    BadMemorySize(u64),
    /// The image does not fit in guest memory.
    #[error("the image needs at least {needed} MiB of guest memory; --memory gives {memory} MiB")]
    ImageTooLarge {
        /// MiB needed.
        needed: u64,
        /// MiB configured.
        memory: u64,
    },
    /// The image's addresses span more than the low area's page tables
    /// can map with 4 KiB pages.
    #[error(
        "the image's segments span {extent} MiB of addresses; Kiln maps images of at most {max} MiB"
    )]
    ImageTooSpread {
        /// MiB from 0 to the image's end.
        extent: u64,
        /// MiB the low area's tables can map.
        max: u64,
    },
    /// Arguments and environment leave too little room for the stack.
    #[error("arguments and environment are too large ({0} bytes)")]
    BootInfoTooLarge(u64),
}

/// The plan for one boot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The most guest memory the guest may grow to.
    pub memory_limit: u64,
    /// The guest memory mapped at boot.
    pub memory_size: u64,
    /// Page tables: PML4, PDPT, page directories, then page tables.
    pub page_tables: Range<u64>,
    /// Number of page directories (one per GiB of the limit).
    pub page_directories: u64,
    /// Number of 4 KiB page tables (one per 2 MiB of the low, finely mapped area).
    pub fine_tables: u64,
    /// Whether memory mapped later gets 4 KiB pages too (all memory mapped
    /// at boot does), so thread stacks there can have guard pages.
    pub fine_growth: bool,
    /// The vCPUs (1 to `kiln_abi::boot::MAX_VCPUS`).
    pub vcpus: u32,
    /// The other vCPUs' system blocks and trap stacks (empty with one vCPU).
    pub ap_tables: Range<u64>,
    /// The page directory for the network device's register window (at
    /// 4 GiB, above all memory), the last page table, when there is one.
    pub mmio_directory: Option<u64>,
    /// Boot info and its strings, ending at the image base.
    pub boot_info: Range<u64>,
    /// The main stack, its top 16-byte aligned just below the boot info (its
    /// guard page is the page below it).
    pub stack: Range<u64>,
    /// The image, page-aligned.
    pub image: Range<u64>,
    /// The heap: everything above the image.
    pub heap: Range<u64>,
}

impl Layout {
    /// Plans memory for an image occupying `image` with `boot_info_len` bytes
    /// of boot info, in at most `memory_limit` bytes. With `fine_heap`, the
    /// heap is mapped with 4 KiB pages too (so thread stacks anywhere in it
    /// can have guard pages), when those page tables fit in the low area;
    /// otherwise only the image is. With `mmio`, one more table maps the
    /// network device's register window. `vcpus` (at least 1) get their
    /// own descriptor tables and trap stacks.
    pub fn plan(
        memory_limit: u64,
        image: Range<u64>,
        boot_info_len: u64,
        fine_heap: bool,
        mmio: bool,
        vcpus: u32,
    ) -> Result<Self, LayoutError> {
        if !is_valid_memory_size(memory_limit) {
            return Err(LayoutError::BadMemorySize(memory_limit));
        }
        let image_end = align_up(image.end, PAGE_SIZE);
        if image_end > memory_limit {
            return Err(LayoutError::ImageTooLarge {
                needed: align_up(image_end, MEMORY_GRANULE) >> 20,
                memory: memory_limit >> 20,
            });
        }
        let memory_size = memory_limit
            .min(INITIAL_MEMORY.max(align_up(image_end, MEMORY_GRANULE) + MEMORY_GRANULE));
        let page_directories = memory_limit.div_ceil(GIB);
        let image_tables = image_end.div_ceil(MEMORY_GRANULE).max(1);
        let mmio_tables = u64::from(mmio);
        let tables_end =
            |fine: u64| PAGE_TABLES + (2 + page_directories + fine + mmio_tables) * PAGE_SIZE;
        let all_tables = memory_size / MEMORY_GRANULE;
        let ap_tables_len = ap_tables_len(vcpus);
        let low_area = IMAGE_BASE
            .saturating_sub(align_up(boot_info_len, 16))
            .saturating_sub(PAGE_SIZE + MIN_STACK + ap_tables_len);
        // Without boot info (a long one is refused below, by name).
        let largest_low_area = IMAGE_BASE - PAGE_SIZE - MIN_STACK - ap_tables_len;
        if tables_end(image_tables) > largest_low_area {
            let spare_pages = (largest_low_area - tables_end(0)) / PAGE_SIZE;
            return Err(LayoutError::ImageTooSpread {
                extent: (image_tables * MEMORY_GRANULE) >> 20,
                max: (spare_pages * MEMORY_GRANULE) >> 20,
            });
        }
        let fine_tables = if fine_heap && tables_end(all_tables) <= low_area {
            all_tables
        } else {
            image_tables
        };
        let page_tables = PAGE_TABLES..tables_end(fine_tables);
        let mmio_directory = page_tables.end - PAGE_SIZE;
        let ap_tables = page_tables.end..page_tables.end + ap_tables_len;

        // The stack top must stay 16-byte aligned for the entry's `call`.
        let boot_info_start = IMAGE_BASE
            .checked_sub(align_up(boot_info_len, 16))
            .filter(|start| *start >= ap_tables.end + PAGE_SIZE + MIN_STACK)
            .ok_or(LayoutError::BootInfoTooLarge(boot_info_len))?;
        let stack_start = ap_tables.end + PAGE_SIZE; // one guard page between
        Ok(Self {
            memory_limit,
            memory_size,
            page_tables,
            page_directories,
            fine_tables,
            fine_growth: fine_heap && fine_tables == all_tables,
            vcpus,
            ap_tables,
            mmio_directory: mmio.then_some(mmio_directory),
            boot_info: boot_info_start..IMAGE_BASE,
            stack: stack_start..boot_info_start,
            image: image.start..image_end,
            heap: image_end..memory_size,
        })
    }

    /// The unmapped page below the stack.
    pub fn stack_guard(&self) -> Range<u64> {
        self.stack.start - PAGE_SIZE..self.stack.start
    }

    /// The end of the finely (4 KiB) mapped area.
    pub fn fine_end(&self) -> u64 {
        self.fine_tables * MEMORY_GRANULE
    }

    /// The end of the monitor's own, supervisor-only memory: descriptor
    /// tables, trap stacks and page tables.
    pub fn system_end(&self) -> u64 {
        self.ap_tables.end
    }

    /// Where vCPU `index`'s descriptor tables and trap stack are (`index`
    /// below [`Layout::vcpus`]).
    pub fn vcpu_tables(&self, index: u32) -> VcpuTables {
        let Some(ap) = index.checked_sub(1).map(u64::from) else {
            return VcpuTables {
                gdt: SYSTEM_PAGE + GDT_OFFSET,
                tss: SYSTEM_PAGE + TSS_OFFSET,
                trap_stack: TRAP_STACK,
            };
        };
        let block = self.ap_tables.start + ap * AP_BLOCK;
        let stacks = self.ap_tables.start + ap_blocks_len(self.vcpus);
        let stack = stacks + ap * TRAP_STACK_SIZE;
        VcpuTables {
            gdt: block,
            tss: block + AP_TSS_OFFSET,
            trap_stack: stack..stack + TRAP_STACK_SIZE,
        }
    }
}

/// One vCPU's system memory: its GDT, its TSS (with the I/O bitmap), and
/// the stack its TSS gives the CPL0 trap stubs. The IDT is shared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VcpuTables {
    /// Its GDT.
    pub gdt: u64,
    /// Its TSS.
    pub tss: u64,
    /// Its trap stack.
    pub trap_stack: Range<u64>,
}

/// Bytes of the other vCPUs' system blocks, in whole pages.
fn ap_blocks_len(vcpus: u32) -> u64 {
    align_up(u64::from(vcpus.saturating_sub(1)) * AP_BLOCK, PAGE_SIZE)
}

/// Bytes of the other vCPUs' blocks and trap stacks.
fn ap_tables_len(vcpus: u32) -> u64 {
    ap_blocks_len(vcpus) + u64::from(vcpus.saturating_sub(1)) * TRAP_STACK_SIZE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_image_in_two_mib() {
        let layout = Layout::plan(
            2 << 20,
            IMAGE_BASE..IMAGE_BASE + 0x9000,
            600,
            false,
            false,
            1,
        )
        .expect("fits");
        assert_eq!(layout.page_tables, 0x4000..0x8000);
        assert_eq!(layout.stack_guard(), 0x8000..0x9000);
        assert_eq!(layout.stack, 0x9000..IMAGE_BASE - 608);
        assert_eq!(layout.boot_info, IMAGE_BASE - 608..IMAGE_BASE);
        assert_eq!(layout.heap, IMAGE_BASE + 0x9000..2 << 20);
    }

    #[test]
    fn fine_heap_maps_all_memory_when_it_fits() {
        let image = IMAGE_BASE..IMAGE_BASE + 0x9000;
        let fine = Layout::plan(64 << 20, image.clone(), 600, true, false, 1).expect("fits");
        assert_eq!(fine.fine_end(), INITIAL_MEMORY);
        assert!(fine.fine_growth);
        let coarse = Layout::plan(64 << 20, image.clone(), 600, false, false, 1).expect("fits");
        assert_eq!(coarse.fine_end(), 2 << 20);
        assert!(!coarse.fine_growth);
        // Only what is mapped at boot needs tables below the image: a 4 GiB
        // limit is fine too.
        let limit = Layout::plan(4 << 30, image, 600, true, false, 1).expect("fits");
        assert_eq!(limit.fine_end(), INITIAL_MEMORY);
    }

    #[test]
    fn only_the_initial_memory_is_mapped_at_boot() {
        let image = IMAGE_BASE..IMAGE_BASE + 0x9000;
        let small = Layout::plan(4 << 20, image.clone(), 600, true, false, 1).expect("fits");
        assert_eq!((small.memory_size, small.memory_limit), (4 << 20, 4 << 20));
        let large = Layout::plan(3 << 30, image, 600, true, false, 1).expect("fits");
        assert_eq!(
            (large.memory_size, large.memory_limit),
            (INITIAL_MEMORY, 3 << 30)
        );
        assert_eq!(large.heap.end, INITIAL_MEMORY);
        assert_eq!(large.page_directories, 3);
    }

    #[test]
    fn rejects_bad_sizes() {
        for size in [0, 1 << 20, 3 << 20, MAX_MEMORY + MEMORY_GRANULE] {
            assert_eq!(
                Layout::plan(size, IMAGE_BASE..IMAGE_BASE + 1, 0, false, false, 1),
                Err(LayoutError::BadMemorySize(size))
            );
        }
    }

    #[test]
    fn rejects_image_larger_than_memory() {
        let err = Layout::plan(2 << 20, IMAGE_BASE..(5 << 20), 0, false, false, 1)
            .expect_err("too large");
        assert_eq!(
            err,
            LayoutError::ImageTooLarge {
                needed: 6,
                memory: 2
            }
        );
    }

    #[test]
    fn rejects_an_image_spread_wider_than_its_tables_can_map() {
        let err = Layout::plan(3 << 30, IMAGE_BASE..(1792 << 20) + 1, 600, true, false, 1)
            .expect_err("too spread");
        assert!(
            matches!(err, LayoutError::ImageTooSpread { extent: 1794, max } if (400..=460).contains(&max)),
            "{err:?}"
        );
    }

    #[test]
    fn other_vcpus_get_their_own_tables_and_trap_stacks_above_the_page_tables() {
        let image = IMAGE_BASE..IMAGE_BASE + 0x9000;
        let one = Layout::plan(64 << 20, image.clone(), 600, true, false, 1).expect("fits");
        assert!(one.ap_tables.is_empty());
        assert_eq!(one.system_end(), one.page_tables.end);
        let max = kiln_abi::boot::MAX_VCPUS as u32;
        let many = Layout::plan(64 << 20, image, 600, true, false, max).expect("fits");
        assert_eq!(
            many.page_tables, one.page_tables,
            "vCPU 0 is laid out as alone"
        );
        assert_eq!(many.vcpu_tables(0), one.vcpu_tables(0));
        assert_eq!(many.vcpu_tables(0).trap_stack, TRAP_STACK);
        // 15 blocks in two pages, then 15 stacks.
        assert_eq!(
            many.ap_tables.end - many.ap_tables.start,
            2 * PAGE_SIZE + 15 * TRAP_STACK_SIZE
        );
        assert_eq!(many.stack_guard().start, many.ap_tables.end);
        let mut claimed: Vec<Range<u64>> = vec![SYSTEM_PAGE..PAGE_TABLES, many.page_tables.clone()];
        for index in 1..max {
            let tables = many.vcpu_tables(index);
            assert_eq!(tables.tss, tables.gdt + AP_TSS_OFFSET);
            let block = tables.gdt..tables.gdt + AP_BLOCK;
            // The TSS and its I/O bitmap stay inside one page.
            assert_eq!(block.start / PAGE_SIZE, (block.end - 1) / PAGE_SIZE);
            claimed.push(block);
            claimed.push(tables.trap_stack.clone());
            assert_eq!(tables.trap_stack.start % 16, 0);
        }
        for (i, a) in claimed.iter().enumerate() {
            assert!(a.end <= many.system_end(), "{a:x?} is supervisor memory");
            for b in &claimed[i + 1..] {
                assert!(
                    a.end <= b.start || b.end <= a.start,
                    "{a:x?} and {b:x?} overlap"
                );
            }
        }
    }

    #[test]
    fn rejects_huge_boot_info() {
        assert!(matches!(
            Layout::plan(
                2 << 20,
                IMAGE_BASE..IMAGE_BASE + 1,
                1 << 20,
                false,
                false,
                1
            ),
            Err(LayoutError::BootInfoTooLarge(_))
        ));
    }
}
