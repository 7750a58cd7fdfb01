//! Registers between KVM's layout, the trap stub's frame and gdb's
//! (`gdbstub_arch`'s x86-64 core and SSE registers, plus the FS and GS
//! bases of [`KilnRegs`]).

use gdbstub::arch::{Arch, Registers};
use gdbstub_arch::x86::reg::{F80, X86_64CoreRegs, X86SegmentRegs, X87FpuInternalRegs};
use kiln_abi::trap::TrapFrame;
use kvm_bindings::kvm_regs;

use super::Parked;

/// x86-64 as Kiln's stub describes it to gdb: `gdbstub_arch`'s core and
/// SSE registers, then the segment bases (gdb's
/// `org.gnu.gdb.i386.segments` feature), so `$fs_base` shows the thread
/// pointer of thread-local variables.
pub enum KilnX86_64 {}

impl Arch for KilnX86_64 {
    type Usize = u64;
    type Registers = KilnRegs;
    type RegId = gdbstub_arch::x86::reg::id::X86_64CoreRegId;
    type BreakpointKind = usize;

    fn target_description_xml() -> Option<&'static str> {
        Some(TARGET_XML)
    }
}

/// The registers gdb reads and writes: the core set, then FS and GS bases.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct KilnRegs {
    /// General, segment, x87 and SSE registers.
    pub core: X86_64CoreRegs,
    /// The FS base (the thread pointer).
    pub fs_base: u64,
    /// The GS base (the vCPU's area).
    pub gs_base: u64,
}

impl Registers for KilnRegs {
    type ProgramCounter = u64;

    fn pc(&self) -> u64 {
        self.core.rip
    }

    fn gdb_serialize(&self, mut write_byte: impl FnMut(Option<u8>)) {
        self.core.gdb_serialize(&mut write_byte);
        for base in [self.fs_base, self.gs_base] {
            for byte in base.to_le_bytes() {
                write_byte(Some(byte));
            }
        }
    }

    fn gdb_deserialize(&mut self, bytes: &[u8]) -> Result<(), ()> {
        // The core set's length is what it serializes to.
        let mut core_len = 0;
        self.core.gdb_serialize(|_| core_len += 1);
        let (core, bases) = bytes.split_at_checked(core_len).ok_or(())?;
        self.core.gdb_deserialize(core)?;
        // gdb may send the core set alone.
        if bases.len() == 16 {
            self.fs_base = u64::from_le_bytes(bases[..8].try_into().map_err(|_| ())?);
            self.gs_base = u64::from_le_bytes(bases[8..].try_into().map_err(|_| ())?);
        } else if !bases.is_empty() {
            return Err(());
        }
        Ok(())
    }
}

/// gdb's target description: the standard x86-64 features, each register
/// in the order [`KilnRegs::gdb_serialize`] writes it.
const TARGET_XML: &str = r#"<?xml version="1.0"?>
<!DOCTYPE target SYSTEM "gdb-target.dtd">
<target version="1.0">
<architecture>i386:x86-64</architecture>
<feature name="org.gnu.gdb.i386.core">
<flags id="i386_eflags" size="4">
<field name="CF" start="0" end="0"/><field name="" start="1" end="1"/>
<field name="PF" start="2" end="2"/><field name="AF" start="4" end="4"/>
<field name="ZF" start="6" end="6"/><field name="SF" start="7" end="7"/>
<field name="TF" start="8" end="8"/><field name="IF" start="9" end="9"/>
<field name="DF" start="10" end="10"/><field name="OF" start="11" end="11"/>
<field name="NT" start="14" end="14"/><field name="RF" start="16" end="16"/>
<field name="VM" start="17" end="17"/><field name="AC" start="18" end="18"/>
<field name="VIF" start="19" end="19"/><field name="VIP" start="20" end="20"/>
<field name="ID" start="21" end="21"/>
</flags>
<reg name="rax" bitsize="64" type="int64"/>
<reg name="rbx" bitsize="64" type="int64"/>
<reg name="rcx" bitsize="64" type="int64"/>
<reg name="rdx" bitsize="64" type="int64"/>
<reg name="rsi" bitsize="64" type="int64"/>
<reg name="rdi" bitsize="64" type="int64"/>
<reg name="rbp" bitsize="64" type="data_ptr"/>
<reg name="rsp" bitsize="64" type="data_ptr"/>
<reg name="r8" bitsize="64" type="int64"/>
<reg name="r9" bitsize="64" type="int64"/>
<reg name="r10" bitsize="64" type="int64"/>
<reg name="r11" bitsize="64" type="int64"/>
<reg name="r12" bitsize="64" type="int64"/>
<reg name="r13" bitsize="64" type="int64"/>
<reg name="r14" bitsize="64" type="int64"/>
<reg name="r15" bitsize="64" type="int64"/>
<reg name="rip" bitsize="64" type="code_ptr"/>
<reg name="eflags" bitsize="32" type="i386_eflags"/>
<reg name="cs" bitsize="32" type="int32"/>
<reg name="ss" bitsize="32" type="int32"/>
<reg name="ds" bitsize="32" type="int32"/>
<reg name="es" bitsize="32" type="int32"/>
<reg name="fs" bitsize="32" type="int32"/>
<reg name="gs" bitsize="32" type="int32"/>
<reg name="st0" bitsize="80" type="i387_ext"/>
<reg name="st1" bitsize="80" type="i387_ext"/>
<reg name="st2" bitsize="80" type="i387_ext"/>
<reg name="st3" bitsize="80" type="i387_ext"/>
<reg name="st4" bitsize="80" type="i387_ext"/>
<reg name="st5" bitsize="80" type="i387_ext"/>
<reg name="st6" bitsize="80" type="i387_ext"/>
<reg name="st7" bitsize="80" type="i387_ext"/>
<reg name="fctrl" bitsize="32" type="int" group="float"/>
<reg name="fstat" bitsize="32" type="int" group="float"/>
<reg name="ftag" bitsize="32" type="int" group="float"/>
<reg name="fiseg" bitsize="32" type="int" group="float"/>
<reg name="fioff" bitsize="32" type="int" group="float"/>
<reg name="foseg" bitsize="32" type="int" group="float"/>
<reg name="fooff" bitsize="32" type="int" group="float"/>
<reg name="fop" bitsize="32" type="int" group="float"/>
</feature>
<feature name="org.gnu.gdb.i386.sse">
<vector id="v8bf16" type="bfloat16" count="8"/>
<vector id="v4f" type="ieee_single" count="4"/>
<vector id="v2d" type="ieee_double" count="2"/>
<vector id="v16i8" type="int8" count="16"/>
<vector id="v8i16" type="int16" count="8"/>
<vector id="v4i32" type="int32" count="4"/>
<vector id="v2i64" type="int64" count="2"/>
<union id="vec128">
<field name="v8_bfloat16" type="v8bf16"/><field name="v4_float" type="v4f"/>
<field name="v2_double" type="v2d"/><field name="v16_int8" type="v16i8"/>
<field name="v8_int16" type="v8i16"/><field name="v4_int32" type="v4i32"/>
<field name="v2_int64" type="v2i64"/><field name="uint128" type="uint128"/>
</union>
<flags id="i386_mxcsr" size="4">
<field name="IE" start="0" end="0"/><field name="DE" start="1" end="1"/>
<field name="ZE" start="2" end="2"/><field name="OE" start="3" end="3"/>
<field name="UE" start="4" end="4"/><field name="PE" start="5" end="5"/>
<field name="DAZ" start="6" end="6"/><field name="IM" start="7" end="7"/>
<field name="DM" start="8" end="8"/><field name="ZM" start="9" end="9"/>
<field name="OM" start="10" end="10"/><field name="UM" start="11" end="11"/>
<field name="PM" start="12" end="12"/><field name="FZ" start="15" end="15"/>
</flags>
<reg name="xmm0" bitsize="128" type="vec128" regnum="40"/>
<reg name="xmm1" bitsize="128" type="vec128"/>
<reg name="xmm2" bitsize="128" type="vec128"/>
<reg name="xmm3" bitsize="128" type="vec128"/>
<reg name="xmm4" bitsize="128" type="vec128"/>
<reg name="xmm5" bitsize="128" type="vec128"/>
<reg name="xmm6" bitsize="128" type="vec128"/>
<reg name="xmm7" bitsize="128" type="vec128"/>
<reg name="xmm8" bitsize="128" type="vec128"/>
<reg name="xmm9" bitsize="128" type="vec128"/>
<reg name="xmm10" bitsize="128" type="vec128"/>
<reg name="xmm11" bitsize="128" type="vec128"/>
<reg name="xmm12" bitsize="128" type="vec128"/>
<reg name="xmm13" bitsize="128" type="vec128"/>
<reg name="xmm14" bitsize="128" type="vec128"/>
<reg name="xmm15" bitsize="128" type="vec128"/>
<reg name="mxcsr" bitsize="32" type="i386_mxcsr" group="vector"/>
</feature>
<feature name="org.gnu.gdb.i386.segments">
<reg name="fs_base" bitsize="64" type="int"/>
<reg name="gs_base" bitsize="64" type="int"/>
</feature>
</target>"#;

/// The CPL3 registers a trap stub saved: what its `iretq` would restore.
pub fn from_frame(frame: &TrapFrame) -> kvm_regs {
    kvm_regs {
        rax: frame.rax,
        rbx: frame.rbx,
        rcx: frame.rcx,
        rdx: frame.rdx,
        rsi: frame.rsi,
        rdi: frame.rdi,
        rsp: frame.rsp,
        rbp: frame.rbp,
        r8: frame.r8,
        r9: frame.r9,
        r10: frame.r10,
        r11: frame.r11,
        r12: frame.r12,
        r13: frame.r13,
        r14: frame.r14,
        r15: frame.r15,
        rip: frame.rip,
        rflags: frame.rflags,
    }
}

/// A parked vCPU's registers in gdb's layout.
pub fn to_gdb(parked: &Parked) -> KilnRegs {
    let r = &parked.regs;
    let s = &parked.sregs;
    let f = &parked.fpu;
    let mut st = [F80::default(); 8];
    for (to, from) in st.iter_mut().zip(&f.fpr) {
        to.copy_from_slice(&from[..10]);
    }
    KilnRegs {
        core: X86_64CoreRegs {
            regs: [
                r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.rsp, r.r8, r.r9, r.r10, r.r11,
                r.r12, r.r13, r.r14, r.r15,
            ],
            eflags: r.rflags as u32,
            rip: r.rip,
            segments: X86SegmentRegs {
                cs: u32::from(s.cs.selector),
                ss: u32::from(s.ss.selector),
                ds: u32::from(s.ds.selector),
                es: u32::from(s.es.selector),
                fs: u32::from(s.fs.selector),
                gs: u32::from(s.gs.selector),
            },
            st,
            fpu: X87FpuInternalRegs {
                fctrl: u32::from(f.fcw),
                fstat: u32::from(f.fsw),
                ftag: u32::from(f.ftwx),
                fioff: f.last_ip as u32,
                fooff: f.last_dp as u32,
                fop: u32::from(f.last_opcode),
                ..X87FpuInternalRegs::default()
            },
            xmm: f.xmm.map(u128::from_le_bytes),
            mxcsr: f.mxcsr,
        },
        fs_base: s.fs.base,
        gs_base: s.gs.base,
    }
}

/// gdb's new values into a parked vCPU's registers: general registers,
/// RFLAGS, RIP, x87 and SSE. Segments and their bases stay: the guest's
/// mode depends on them, and the monitor set them.
pub fn from_gdb(gdb: &KilnRegs, parked: &mut Parked) {
    let c = &gdb.core;
    let r = &mut parked.regs;
    [
        r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.rsp, r.r8, r.r9, r.r10, r.r11, r.r12,
        r.r13, r.r14, r.r15,
    ] = c.regs;
    // The upper half of RFLAGS is reserved (zero).
    r.rflags = u64::from(c.eflags);
    r.rip = c.rip;
    let f = &mut parked.fpu;
    for (to, from) in f.fpr.iter_mut().zip(&c.st) {
        to[..10].copy_from_slice(from);
    }
    f.fcw = c.fpu.fctrl as u16;
    f.fsw = c.fpu.fstat as u16;
    f.ftwx = c.fpu.ftag as u8;
    f.last_opcode = c.fpu.fop as u16;
    f.xmm = c.xmm.map(u128::to_le_bytes);
    f.mxcsr = c.mxcsr;
    parked.dirty = true;
}

#[cfg(test)]
mod tests {
    use kvm_bindings::kvm_fpu;

    use super::*;

    #[test]
    fn registers_survive_gdbs_layout_both_ways() {
        let mut parked = Parked {
            regs: kvm_regs {
                rax: 1,
                r15: 15,
                rip: 0x40_1000,
                rflags: 0x202,
                ..kvm_regs::default()
            },
            sregs: Default::default(),
            fpu: kvm_fpu {
                mxcsr: 0x1f80,
                ..kvm_fpu::default()
            },
            dirty: false,
        };
        parked.sregs.fs.base = 0x1234_5000;
        parked.fpu.xmm[3] = [7; 16];
        let gdb = to_gdb(&parked);
        let mut bytes = Vec::new();
        gdb.gdb_serialize(|b| bytes.push(b.unwrap_or(0)));
        // 16 general registers, RIP and the bases, 8 bytes each; RFLAGS,
        // 6 segments, 8 x87 words, MXCSR, 4 bytes each; 8 x 10 bytes of
        // x87 stack; 16 x 16 bytes of XMM.
        assert_eq!(bytes.len(), 19 * 8 + 16 * 4 + 80 + 256);
        let mut back = KilnRegs::default();
        back.gdb_deserialize(&bytes).expect("its own serialization");
        assert_eq!(back, gdb);
        let mut copy = parked;
        from_gdb(&back, &mut copy);
        assert!(copy.dirty);
        assert_eq!(copy.regs, parked.regs);
        assert_eq!(copy.fpu.xmm, parked.fpu.xmm);
        assert!(back.gdb_deserialize(&bytes[..bytes.len() - 3]).is_err());
    }
}
