//! The x86 state a Kiln guest starts with: 64-bit mode at CPL3.
//!
//! On kvm_pvm hosts guest CPL0 code runs in KVM's instruction emulator (and
//! cannot execute SSE), while CPL3 code runs natively. So the monitor sets
//! up everything privileged itself (descriptor tables, paging, control
//! registers) and enters the guest directly at CPL3. The only CPL0 code is
//! the guest's trap stubs, entered through the IDT on the TSS's own stack.
//!
//! Hypercalls are port writes from CPL3. Two mechanisms allow them, and both
//! are set: RFLAGS.IOPL=3, which hardware KVM honours directly, and a TSS
//! I/O permission bitmap that opens exactly the hypercall ports. kvm_pvm
//! loses the virtual IOPL at the guest's first VM exit (its switcher saves
//! the hardware RFLAGS, where IOPL is masked); there the `out` raises #GP,
//! KVM emulates it, and the emulator grants it from the bitmap.

use kiln_abi::hypercall::{PORT_BASE, PORT_COUNT};
use kiln_abi::trap;
use kvm_bindings::{
    CpuId, KVM_CPUID_FLAG_SIGNIFCANT_INDEX, kvm_cpuid_entry2, kvm_regs, kvm_segment, kvm_sregs,
};

use crate::layout::{IDT_OFFSET, SYSTEM_PAGE, VcpuTables};
use crate::memory::{GuestAccessError, GuestMemory};

const KERNEL_CODE: u16 = 0x08;
const USER_DATA: u16 = 0x18 | 3;
const USER_CODE: u16 = 0x20 | 3;
const TSS: u16 = 0x28;
/// The 104-byte TSS, then the I/O bitmap up to the hypercall ports, then
/// the terminating all-ones byte the CPU requires.
const TSS_HEADER: usize = 104;
const IO_BITMAP_BYTES: usize = (PORT_BASE + PORT_COUNT) as usize / 8 + 1;
const TSS_LIMIT: u32 = (TSS_HEADER + IO_BITMAP_BYTES) as u32;

const CR0_PE: u64 = 1 << 0;
const CR0_MP: u64 = 1 << 1;
const CR0_ET: u64 = 1 << 4;
const CR0_NE: u64 = 1 << 5;
const CR0_WP: u64 = 1 << 16;
const CR0_PG: u64 = 1 << 31;
const CR4_PAE: u64 = 1 << 5;
const CR4_OSFXSR: u64 = 1 << 9;
const CR4_OSXMMEXCPT: u64 = 1 << 10;
/// Lets CPL3 code set its own `%fs` base with `wrfsbase`.
pub const CR4_FSGSBASE: u64 = 1 << 16;
const EFER_LME: u64 = 1 << 8;
const EFER_LMA: u64 = 1 << 10;
const EFER_NXE: u64 = 1 << 11;
const RFLAGS_RESERVED: u64 = 1 << 1;
const RFLAGS_IOPL3: u64 = 3 << 12;

/// Writes one vCPU's GDT and TSS. Each vCPU has its own: loading a TSS
/// marks its descriptor busy, and the TSS holds the vCPU's own trap stack.
pub fn write_gdt_and_tss(
    memory: &GuestMemory,
    tables: &VcpuTables,
) -> Result<(), GuestAccessError> {
    let tss_base = tables.tss;
    let tss_low = segment_descriptor(tss_base, TSS_LIMIT, 0x89, 0);
    let gdt: [u64; 7] = [
        0,
        0x00af_9b00_0000_ffff, // kernel code: 64-bit, DPL0, accessed
        0x00cf_9300_0000_ffff, // kernel data
        0x00cf_f300_0000_ffff, // user data, DPL3
        0x00af_fb00_0000_ffff, // user code: 64-bit, DPL3
        tss_low,
        tss_base >> 32,
    ];
    let gdt_bytes: Vec<u8> = gdt.iter().flat_map(|d| d.to_le_bytes()).collect();
    memory.write_bytes(tables.gdt, &gdt_bytes)?;
    memory.write_bytes(tss_base, &task_state_segment(tables.trap_stack.end))
}

/// Writes the IDT all vCPUs share into the system page. Without a trap
/// table it stays empty and any exception shuts the VM down (reported as
/// a triple fault).
pub fn write_idt(memory: &GuestMemory, trap_table: Option<u64>) -> Result<(), GuestAccessError> {
    if let Some(table) = trap_table {
        let idt: Vec<u8> = (0..trap::VECTORS as u64)
            .flat_map(|vector| interrupt_gate(table + vector * trap::STUB_STRIDE))
            .collect();
        memory.write_bytes(SYSTEM_PAGE + IDT_OFFSET, &idt)?;
    }
    Ok(())
}

/// The 64-bit TSS: RSP0 (offset 4) and IST1 (offset 36) point at the top
/// of the trap stack; the I/O bitmap (offset 104) denies every port but
/// the hypercalls.
fn task_state_segment(trap_stack_top: u64) -> Vec<u8> {
    let mut tss = vec![0u8; TSS_LIMIT as usize + 1];
    tss[4..12].copy_from_slice(&trap_stack_top.to_le_bytes());
    tss[36..44].copy_from_slice(&trap_stack_top.to_le_bytes());
    tss[102..104].copy_from_slice(&(TSS_HEADER as u16).to_le_bytes());
    let bitmap = &mut tss[TSS_HEADER..];
    bitmap.fill(0xff);
    for port in PORT_BASE..PORT_BASE + PORT_COUNT {
        bitmap[usize::from(port / 8)] &= !(1 << (port % 8));
    }
    tss
}

/// The IDT's limit: all vectors when the image has stubs, none otherwise.
fn idt_limit(trap_table: Option<u64>) -> u16 {
    match trap_table {
        Some(_) => (trap::VECTORS * 16 - 1) as u16,
        None => 0,
    }
}

/// A present, DPL0 interrupt gate on IST1 (DPL0: `int n` from CPL3 cannot
/// fake an exception).
fn interrupt_gate(handler: u64) -> [u8; 16] {
    let mut gate = [0u8; 16];
    gate[0..2].copy_from_slice(&(handler as u16).to_le_bytes());
    gate[2..4].copy_from_slice(&KERNEL_CODE.to_le_bytes());
    gate[4] = 1; // IST1
    gate[5] = 0x8e; // present, DPL0, 64-bit interrupt gate
    gate[6..8].copy_from_slice(&((handler >> 16) as u16).to_le_bytes());
    gate[8..12].copy_from_slice(&((handler >> 32) as u32).to_le_bytes());
    gate
}

/// The low 8 bytes of a system-segment descriptor.
fn segment_descriptor(base: u64, limit: u32, access: u8, flags: u8) -> u64 {
    (u64::from(limit) & 0xffff)
        | ((base & 0xff_ffff) << 16)
        | (u64::from(access) << 40)
        | ((u64::from(limit) >> 16 & 0xf) << 48)
        | (u64::from(flags & 0xf) << 52)
        | ((base >> 24 & 0xff) << 56)
}

/// Special registers for 64-bit CPL3 execution on the boot vCPU, starting
/// from KVM's defaults.
pub fn special_registers(
    mut sregs: kvm_sregs,
    cr3: u64,
    trap_table: Option<u64>,
    tables: &VcpuTables,
    gs_base: u64,
) -> kvm_sregs {
    let code = kvm_segment {
        base: 0,
        limit: 0xffff_ffff,
        selector: USER_CODE,
        type_: 0xb,
        present: 1,
        dpl: 3,
        db: 0,
        s: 1,
        l: 1,
        g: 1,
        ..Default::default()
    };
    let data = kvm_segment {
        selector: USER_DATA,
        type_: 0x3,
        db: 1,
        l: 0,
        ..code
    };
    sregs.cs = code;
    (sregs.ds, sregs.es, sregs.fs, sregs.gs, sregs.ss) = (data, data, data, data, data);
    sregs.ldt = kvm_segment {
        type_: 0x2,
        present: 1,
        unusable: 1,
        ..Default::default()
    };
    sregs.gdt.limit = 7 * 8 - 1;
    sregs.idt.base = SYSTEM_PAGE + IDT_OFFSET;
    sregs.idt.limit = idt_limit(trap_table);
    sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
    sregs.cr3 = cr3;
    sregs.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
    sregs.efer = EFER_LME | EFER_LMA | EFER_NXE;
    own_tables(sregs, tables, gs_base)
}

/// The boot vCPU's special registers made another vCPU's: the same mode,
/// page tables and IDT, its own GDT, TSS and GS base (its `VcpuArea`), and
/// a local APIC that is not the bootstrap processor's.
pub fn other_vcpu_registers(boot: &kvm_sregs, tables: &VcpuTables, gs_base: u64) -> kvm_sregs {
    const APIC_BASE_BSP: u64 = 1 << 8;
    let mut sregs = own_tables(*boot, tables, gs_base);
    sregs.apic_base &= !APIC_BASE_BSP;
    sregs
}

/// Points the task register, the GDT and the GS base at one vCPU's own.
fn own_tables(mut sregs: kvm_sregs, tables: &VcpuTables, gs_base: u64) -> kvm_sregs {
    sregs.tr = kvm_segment {
        base: tables.tss,
        limit: TSS_LIMIT,
        selector: TSS,
        type_: 0xb, // busy 64-bit TSS
        present: 1,
        ..Default::default()
    };
    sregs.gdt.base = tables.gdt;
    sregs.gs.base = gs_base;
    sregs
}

/// A minimal guest CPUID built from the host's: the vendor, the baseline
/// instruction-set bits, long mode and NX, and FSGSBASE, which KVM requires
/// before it accepts CR4.FSGSBASE. Anything not listed reads as absent, so
/// the guest never relies on a feature the monitor did not consider.
pub fn thread_pointer_cpuid() -> CpuId {
    use std::arch::x86_64::__cpuid_count;
    // leaf 1 edx: FPU, TSC, CX8, CMOV, MMX, FXSR, SSE, SSE2
    const LEAF1_EDX: u32 = 1 | 1 << 4 | 1 << 8 | 1 << 15 | 1 << 23 | 1 << 24 | 1 << 25 | 1 << 26;
    // leaf 1 ecx: SSE3, SSSE3, CX16, SSE4.1, SSE4.2, POPCNT, RDRAND
    const LEAF1_ECX: u32 = 1 | 1 << 9 | 1 << 13 | 1 << 19 | 1 << 20 | 1 << 23 | 1 << 30;
    const LEAF7_EBX_FSGSBASE: u32 = 1;
    // 0x8000_0001 edx: SYSCALL, NX, LM; ecx: LAHF
    const EXT_EDX: u32 = 1 << 11 | 1 << 20 | 1 << 29;
    const EXT_ECX: u32 = 1;

    let host = |leaf: u32| __cpuid_count(leaf, 0);
    let vendor = host(0);
    let leaf1 = host(1);
    let ext = host(0x8000_0001);
    let entry = |function: u32, eax: u32, ebx: u32, ecx: u32, edx: u32| kvm_cpuid_entry2 {
        function,
        eax,
        ebx,
        ecx,
        edx,
        ..Default::default()
    };
    let mut leaf7 = entry(7, 0, host(7).ebx & LEAF7_EBX_FSGSBASE, 0, 0);
    leaf7.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
    let entries = [
        entry(0, 7, vendor.ebx, vendor.ecx, vendor.edx),
        entry(
            1,
            leaf1.eax,
            0,
            leaf1.ecx & LEAF1_ECX,
            leaf1.edx & LEAF1_EDX,
        ),
        leaf7,
        entry(0x8000_0000, 0x8000_0001, 0, 0, 0),
        entry(0x8000_0001, 0, 0, ext.ecx & EXT_ECX, ext.edx & EXT_EDX),
    ];
    CpuId::from_entries(&entries).expect("five entries fit a CpuId")
}

/// Whether `cpuid` (from [`thread_pointer_cpuid`]) lists RDRAND.
pub fn lists_rdrand(cpuid: &CpuId) -> bool {
    const LEAF1_ECX_RDRAND: u32 = 1 << 30;
    cpuid
        .as_slice()
        .iter()
        .any(|entry| entry.function == 1 && entry.ecx & LEAF1_ECX_RDRAND != 0)
}

/// General registers at entry: `rdi` holds the first argument of the
/// guest's entry function (the boot-info address on the boot vCPU, the
/// guest's own argument on the others).
pub fn entry_registers(entry: u64, stack_top: u64, argument: u64) -> kvm_regs {
    kvm_regs {
        rip: entry,
        rsp: stack_top,
        rdi: argument,
        rflags: RFLAGS_RESERVED | RFLAGS_IOPL3,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_splits_the_handler_address() {
        let gate = interrupt_gate(0x1234_5678_9abc_def0);
        assert_eq!(&gate[0..2], &0xdef0u16.to_le_bytes());
        assert_eq!(&gate[6..8], &0x9abcu16.to_le_bytes());
        assert_eq!(&gate[8..12], &0x1234_5678u32.to_le_bytes());
        assert_eq!(gate[5], 0x8e);
    }

    #[test]
    fn io_bitmap_opens_only_hypercall_ports() {
        let tss = task_state_segment(0x4000);
        assert_eq!(&tss[4..12], &0x4000u64.to_le_bytes(), "RSP0");
        assert_eq!(&tss[36..44], &0x4000u64.to_le_bytes(), "IST1");
        let allowed = |port: u16| tss[TSS_HEADER + usize::from(port / 8)] & (1 << (port % 8)) == 0;
        assert!(allowed(PORT_BASE) && allowed(PORT_BASE + PORT_COUNT - 1));
        assert!(!allowed(PORT_BASE - 1) && !allowed(0x80) && !allowed(0x3f8));
        assert_eq!(*tss.last().expect("non-empty"), 0xff, "terminating byte");
        assert!(crate::layout::TSS_OFFSET + tss.len() as u64 <= IDT_OFFSET);
        use crate::layout::{AP_BLOCK, AP_TSS_OFFSET};
        const { assert!(7 * 8 <= AP_TSS_OFFSET, "the GDT comes before it") };
        assert!(
            AP_TSS_OFFSET + tss.len() as u64 <= AP_BLOCK,
            "fits another vCPU's block"
        );
        let idt_end = IDT_OFFSET + u64::from(idt_limit(Some(0))) + 1;
        assert!(idt_end <= 0x1000, "the IDT fits the system page");
    }

    #[test]
    fn tss_descriptor_encodes_base_and_limit() {
        let d = segment_descriptor(0x1100, 0x67, 0x89, 0);
        assert_eq!(d & 0xffff, 0x67);
        assert_eq!((d >> 16) & 0xff_ffff, 0x1100);
        assert_eq!((d >> 40) & 0xff, 0x89);
    }
}
