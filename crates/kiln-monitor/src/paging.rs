//! The guest's page tables: an identity map with exact permissions.
//!
//! Every entry carries the U bit the guest's CPL3 code needs, except the
//! monitor's own tables (descriptor tables, trap stack, page tables), which
//! only the CPL0 trap stubs may touch. Image segments get their ELF
//! permissions (W^X, NX on data); the null page and the stack guard page are
//! left unmapped so touching them faults.

use std::ops::Range;

use kiln_abi::layout::{MEMORY_GRANULE, PAGE_SIZE};
use kiln_abi::net::MMIO_BASE;

use crate::image::Segment;
use crate::layout::{Layout, SYSTEM_PAGE};
use crate::memory::{GuestAccessError, GuestMemory};

const PRESENT: u64 = 1 << 0;
const WRITABLE: u64 = 1 << 1;
const USER: u64 = 1 << 2;
/// Write-through and cache-disable: the network device's registers are
/// not memory.
const WRITE_THROUGH: u64 = 1 << 3;
const CACHE_DISABLE: u64 = 1 << 4;
/// Set in every entry the monitor writes (see [`settled`]).
const ACCESSED: u64 = 1 << 5;
const DIRTY: u64 = 1 << 6;
const HUGE: u64 = 1 << 7;
const NO_EXECUTE: u64 = 1 << 63;

const ENTRIES: u64 = 512;
const GIB: u64 = 1 << 30;

/// Writes the page tables for `layout` and returns the value for CR3.
pub fn build(
    memory: &GuestMemory,
    layout: &Layout,
    segments: &[Segment],
) -> Result<u64, GuestAccessError> {
    let pml4 = layout.page_tables.start;
    let pdpt = pml4 + PAGE_SIZE;
    let first_pd = pdpt + PAGE_SIZE;
    let first_pt = first_pd + layout.page_directories * PAGE_SIZE;
    let table = PRESENT | WRITABLE | USER;

    write_table(memory, pml4, |i| if i == 0 { pdpt | table } else { 0 })?;
    let mmio_slot = MMIO_BASE / GIB;
    write_table(memory, pdpt, |i| {
        if i < layout.page_directories {
            (first_pd + i * PAGE_SIZE) | table
        } else if let Some(pd) = layout.mmio_directory.filter(|_| i == mmio_slot) {
            pd | table
        } else {
            0
        }
    })?;
    if let Some(pd) = layout.mmio_directory {
        // One 2 MiB page over the register window: user read/write (the
        // driver runs at CPL3), uncached, never executable. Accesses past
        // the window's 4 KiB exit too and end the VM.
        let window = MMIO_BASE
            | PRESENT
            | WRITABLE
            | USER
            | WRITE_THROUGH
            | CACHE_DISABLE
            | HUGE
            | NO_EXECUTE;
        write_table(memory, pd, |i| if i == 0 { window } else { 0 })?;
    }
    for pd in 0..layout.page_directories {
        write_table(memory, first_pd + pd * PAGE_SIZE, |i| {
            let granule = pd * ENTRIES + i;
            let addr = granule * MEMORY_GRANULE;
            if granule < layout.fine_tables {
                (first_pt + granule * PAGE_SIZE) | table
            } else if addr < layout.memory_size {
                addr | PRESENT | WRITABLE | USER | HUGE | NO_EXECUTE
            } else {
                0
            }
        })?;
    }
    for granule in 0..layout.fine_tables {
        write_table(memory, first_pt + granule * PAGE_SIZE, |i| {
            let addr = granule * MEMORY_GRANULE + i * PAGE_SIZE;
            addr | page_flags(addr, layout, segments)
        })?;
    }
    debug_assert_eq!(
        first_pt + (layout.fine_tables + u64::from(layout.mmio_directory.is_some())) * PAGE_SIZE,
        layout.page_tables.end
    );
    debug_assert!(layout.memory_limit.div_ceil(GIB) == layout.page_directories);
    Ok(pml4)
}

/// Maps `range`, whole granules just above the memory mapped so far, into
/// the guest's address space and returns the part the guest may use. With
/// `fine`, 4 KiB pages: the range's first pages hold its own page tables
/// (supervisor-only, as all tables are); otherwise 2 MiB pages. The
/// directory entries are written last, so the guest never walks a table
/// half written; they go from not present to present, which needs no TLB
/// flush, and the guest has never mapped these addresses before.
pub fn map_growth(
    memory: &GuestMemory,
    layout: &Layout,
    range: Range<u64>,
    fine: bool,
) -> Result<Range<u64>, GuestAccessError> {
    debug_assert!(range.start.is_multiple_of(MEMORY_GRANULE));
    debug_assert!(range.end.is_multiple_of(MEMORY_GRANULE));
    let first = range.start / MEMORY_GRANULE;
    let granules = (range.end - range.start) / MEMORY_GRANULE;
    let tables_end = if fine {
        range.start + granules * PAGE_SIZE
    } else {
        range.start
    };
    let table = PRESENT | WRITABLE | USER;
    for i in 0..granules {
        let granule_start = range.start + i * MEMORY_GRANULE;
        let entry = if fine {
            let pt = range.start + i * PAGE_SIZE;
            write_table(memory, pt, |j| {
                let addr = granule_start + j * PAGE_SIZE;
                if addr < tables_end {
                    addr | PRESENT | WRITABLE | NO_EXECUTE
                } else {
                    addr | PRESENT | WRITABLE | USER | NO_EXECUTE
                }
            })?;
            pt | table
        } else {
            granule_start | PRESENT | WRITABLE | USER | HUGE | NO_EXECUTE
        };
        memory.write_obj(settled(entry), directory_entry(layout, first + i))?;
    }
    Ok(tables_end..range.end)
}

/// Where the page-directory entry for 2 MiB granule `granule` is.
fn directory_entry(layout: &Layout, granule: u64) -> u64 {
    let first_pd = layout.page_tables.start + 2 * PAGE_SIZE;
    first_pd + (granule / ENTRIES) * PAGE_SIZE + (granule % ENTRIES) * 8
}

/// Flags for the 4 KiB page at `addr`, or 0 to leave it unmapped.
fn page_flags(addr: u64, layout: &Layout, segments: &[Segment]) -> u64 {
    let user_data = PRESENT | WRITABLE | USER | NO_EXECUTE;
    if addr >= layout.memory_size || addr < SYSTEM_PAGE {
        0
    } else if addr < layout.system_end() {
        PRESENT | WRITABLE | NO_EXECUTE
    } else if layout.boot_info.contains(&addr)
        || layout.stack.contains(&addr)
        || addr >= layout.heap.start
    {
        user_data
    } else if let Some(segment) = segments
        .iter()
        .find(|s| s.memory.start < addr + PAGE_SIZE && addr < s.memory.end)
    {
        let mut flags = PRESENT | USER;
        if segment.writable {
            flags |= WRITABLE;
        }
        if !segment.executable {
            flags |= NO_EXECUTE;
        }
        flags
    } else {
        0
    }
}

/// `entry` with its accessed bit set, and its dirty bit if it is writable
/// (a table entry ignores that bit). KVM's shadow paging (kvm_pvm) maps a
/// faulting page's neighbours in the same fault only from guest entries
/// that are already accessed, and maps a clean writable page read-only
/// until a write faults again to set its dirty bit: both bits set up
/// front let one fault map up to eight pages the host already backs.
fn settled(entry: u64) -> u64 {
    if entry & PRESENT == 0 {
        entry
    } else if entry & WRITABLE != 0 {
        entry | ACCESSED | DIRTY
    } else {
        entry | ACCESSED
    }
}

fn write_table(
    memory: &GuestMemory,
    addr: u64,
    entry: impl Fn(u64) -> u64,
) -> Result<(), GuestAccessError> {
    let mut bytes = Vec::with_capacity(PAGE_SIZE as usize);
    for i in 0..ENTRIES {
        bytes.extend_from_slice(&settled(entry(i)).to_le_bytes());
    }
    memory.write_bytes(addr, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_abi::layout::IMAGE_BASE;

    fn segment(start: u64, end: u64, writable: bool, executable: bool) -> Segment {
        Segment {
            memory: start..end,
            file: 0..0,
            writable,
            executable,
        }
    }

    #[test]
    fn permissions_follow_the_layout() {
        let text = segment(IMAGE_BASE, IMAGE_BASE + 0x1800, false, true);
        let data = segment(IMAGE_BASE + 0x2000, IMAGE_BASE + 0x2100, true, false);
        let layout = Layout::plan(
            4 << 20,
            IMAGE_BASE..IMAGE_BASE + 0x2100,
            100,
            false,
            false,
            1,
        )
        .expect("fits");
        let segments = [text, data];
        let flags = |addr| page_flags(addr, &layout, &segments);

        assert_eq!(flags(0), 0, "null page unmapped");
        assert_eq!(flags(SYSTEM_PAGE) & USER, 0, "tables are supervisor-only");
        assert_eq!(flags(layout.stack_guard().start), 0, "stack guard unmapped");
        assert_eq!(
            flags(layout.stack.end - PAGE_SIZE) & (USER | WRITABLE),
            USER | WRITABLE
        );
        assert_eq!(flags(IMAGE_BASE) & (WRITABLE | NO_EXECUTE), 0, "text is RX");
        assert_eq!(
            flags(IMAGE_BASE + 0x1000) & NO_EXECUTE,
            0,
            "text's partial page"
        );
        assert_eq!(
            flags(IMAGE_BASE + 0x2000) & (WRITABLE | NO_EXECUTE),
            WRITABLE | NO_EXECUTE
        );
        assert_ne!(flags(IMAGE_BASE + 0x3000) & PRESENT, 0, "heap mapped");
        assert_eq!(flags(4 << 20), 0, "nothing past memory");
    }

    #[test]
    fn the_network_window_is_one_uncached_user_page_at_four_gib() {
        let image = [segment(IMAGE_BASE, IMAGE_BASE + 0x1000, false, true)];
        let memory = GuestMemory::new(4 << 20, 4 << 20).expect("memory");
        let plan = |mmio| {
            Layout::plan(
                4 << 20,
                IMAGE_BASE..IMAGE_BASE + 0x1000,
                100,
                false,
                mmio,
                1,
            )
            .expect("fits")
        };
        let without = plan(false);
        let layout = plan(true);
        assert_eq!(layout.page_tables.end, without.page_tables.end + PAGE_SIZE);
        let pml4 = build(&memory, &layout, &image).expect("tables");
        let entry = |table: u64, i: u64| memory.read_obj::<u64>(table + 8 * i).expect("entry");
        let pdpt = entry(pml4, 0) & !0xfff;
        let pd = entry(pdpt, MMIO_BASE / GIB) & !0xfff;
        assert_eq!(Some(pd), layout.mmio_directory);
        let window = entry(pd, 0);
        assert_eq!(window & 0x000f_ffff_ffe0_0000, MMIO_BASE);
        let flags = PRESENT
            | WRITABLE
            | USER
            | WRITE_THROUGH
            | CACHE_DISABLE
            | HUGE
            | NO_EXECUTE
            | ACCESSED
            | DIRTY;
        assert_eq!(window & !0x000f_ffff_ffe0_0000, flags);
        assert_eq!(entry(pd, 1), 0, "only the window");
        // Without a device nothing is mapped there.
        let pml4 = build(&memory, &without, &image).expect("tables");
        let pdpt = entry(pml4, 0) & !0xfff;
        assert_eq!(entry(pdpt, MMIO_BASE / GIB), 0);
    }
}
