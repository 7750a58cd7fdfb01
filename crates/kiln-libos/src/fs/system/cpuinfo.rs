//! `/proc/cpuinfo`: one `processor` block per vCPU, from the CPUID the
//! guest sees (the monitor's, which may list less than the host's).

use alloc::string::String;
use alloc::vec::Vec;
use core::arch::x86_64::{__cpuid, __cpuid_count, CpuidResult};
use core::fmt::Write;

use crate::platform;

/// A CPUID register bit and Linux's name for it.
type Flag = (u32, &'static str);

/// Leaf 1, EDX.
const LEAF1_EDX: &[Flag] = &[
    (0, "fpu"),
    (1, "vme"),
    (2, "de"),
    (3, "pse"),
    (4, "tsc"),
    (5, "msr"),
    (6, "pae"),
    (7, "mce"),
    (8, "cx8"),
    (9, "apic"),
    (11, "sep"),
    (12, "mtrr"),
    (13, "pge"),
    (14, "mca"),
    (15, "cmov"),
    (16, "pat"),
    (17, "pse36"),
    (19, "clflush"),
    (23, "mmx"),
    (24, "fxsr"),
    (25, "sse"),
    (26, "sse2"),
    (28, "ht"),
];

/// Extended leaf 0x80000001, EDX.
const EXT1_EDX: &[Flag] = &[
    (11, "syscall"),
    (20, "nx"),
    (22, "mmxext"),
    (26, "pdpe1gb"),
    (27, "rdtscp"),
    (29, "lm"),
];

/// Leaf 1, ECX.
const LEAF1_ECX: &[Flag] = &[
    (0, "pni"),
    (1, "pclmulqdq"),
    (9, "ssse3"),
    (12, "fma"),
    (13, "cx16"),
    (17, "pcid"),
    (19, "sse4_1"),
    (20, "sse4_2"),
    (21, "x2apic"),
    (22, "movbe"),
    (23, "popcnt"),
    (25, "aes"),
    (26, "xsave"),
    (28, "avx"),
    (29, "f16c"),
    (30, "rdrand"),
    (31, "hypervisor"),
];

/// Extended leaf 0x80000001, ECX.
const EXT1_ECX: &[Flag] = &[
    (0, "lahf_lm"),
    (5, "abm"),
    (6, "sse4a"),
    (8, "3dnowprefetch"),
];

/// Leaf 7, EBX.
const LEAF7_EBX: &[Flag] = &[
    (0, "fsgsbase"),
    (3, "bmi1"),
    (5, "avx2"),
    (7, "smep"),
    (8, "bmi2"),
    (9, "erms"),
    (10, "invpcid"),
    (16, "avx512f"),
    (18, "rdseed"),
    (19, "adx"),
    (20, "smap"),
    (23, "clflushopt"),
    (24, "clwb"),
    (29, "sha_ni"),
];

/// Leaf 7, ECX.
const LEAF7_ECX: &[Flag] = &[(2, "umip"), (9, "vaes"), (10, "vpclmulqdq"), (22, "rdpid")];

/// Leaf 7, EDX.
const LEAF7_EDX: &[Flag] = &[(4, "fsrm")];

/// A leaf, or all zero beyond the CPU's highest (`max`).
fn leaf(number: u32, max: u32) -> CpuidResult {
    if number > max {
        CpuidResult {
            eax: 0,
            ebx: 0,
            ecx: 0,
            edx: 0,
        }
    } else {
        __cpuid_count(number, 0)
    }
}

fn registers_text(registers: &[u32]) -> String {
    let bytes: Vec<u8> = registers.iter().flat_map(|r| r.to_le_bytes()).collect();
    String::from_utf8_lossy(&bytes)
        .trim_matches(|c: char| c == '\0' || c.is_whitespace())
        .into()
}

/// The file's text.
pub fn text() -> Vec<u8> {
    let basic = __cpuid(0);
    let vendor = registers_text(&[basic.ebx, basic.edx, basic.ecx]);
    let extended_max = __cpuid(0x8000_0000).eax;
    let one = leaf(1, basic.eax);
    let seven = leaf(7, basic.eax);
    let ext1 = leaf(0x8000_0001, extended_max);
    let model_name = if extended_max >= 0x8000_0004 {
        let parts: Vec<u32> = (0x8000_0002..=0x8000_0004)
            .flat_map(|n| {
                let r = __cpuid(n);
                [r.eax, r.ebx, r.ecx, r.edx]
            })
            .collect();
        registers_text(&parts)
    } else {
        String::new()
    };
    // As Linux when the CPU gives no brand string.
    let model_name = if model_name.is_empty() {
        "unknown".into()
    } else {
        model_name
    };
    let base_family = (one.eax >> 8) & 0xf;
    let family = if base_family == 0xf {
        base_family + ((one.eax >> 20) & 0xff)
    } else {
        base_family
    };
    let mut model = (one.eax >> 4) & 0xf;
    if base_family == 6 || base_family == 0xf {
        model |= ((one.eax >> 16) & 0xf) << 4;
    }
    let stepping = one.eax & 0xf;
    let mut flags = String::new();
    for (register, table) in [
        (one.edx, LEAF1_EDX),
        (ext1.edx, EXT1_EDX),
        (one.ecx, LEAF1_ECX),
        (ext1.ecx, EXT1_ECX),
        (seven.ebx, LEAF7_EBX),
        (seven.ecx, LEAF7_ECX),
        (seven.edx, LEAF7_EDX),
    ] {
        for &(bit, name) in table {
            if register & (1 << bit) != 0 {
                if !flags.is_empty() {
                    flags.push(' ');
                }
                flags.push_str(name);
            }
        }
    }
    let khz = platform::boot_info().tsc_hz / 1000;
    let cpus = platform::vcpu_count();
    let mut text = String::new();
    for cpu in 0..cpus {
        let _ = write!(
            text,
            "processor\t: {cpu}\nvendor_id\t: {vendor}\ncpu family\t: {family}\nmodel\t\t: {model}\n\
             model name\t: {model_name}\nstepping\t: {stepping}\ncpu MHz\t\t: {}.{:03}\n\
             physical id\t: 0\nsiblings\t: {cpus}\ncore id\t\t: {cpu}\ncpu cores\t: {cpus}\n\
             fpu\t\t: yes\nflags\t\t: {flags}\n\n",
            khz / 1000,
            khz % 1000
        );
    }
    text.into_bytes()
}
