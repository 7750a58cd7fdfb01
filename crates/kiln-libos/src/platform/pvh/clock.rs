//! Time on a standard hypervisor: the TSC's frequency and the wall clock.
//!
//! The frequency comes from CPUID where the CPU (or the hypervisor) says it
//! (leaf 0x15, 0x16, or the hypervisor's 0x40000010), else from KVM's
//! kvmclock record where the entry could enable it, else it is measured
//! against the i8254 PIT for 2 ms. The wall clock is kvmclock's where there
//! is one, else the CMOS RTC's, read once at boot. All of it is port I/O,
//! CPUID and memory reads at CPL3.

use super::{inb, outb};

/// The PIT's input clock, in Hz.
const PIT_HZ: u64 = 1_193_182;
/// PIT ticks measured against (2 ms).
const PIT_TICKS: u64 = PIT_HZ / 500;
/// Used when nothing can tell the frequency (no CPUID leaf, no PIT).
const FALLBACK_HZ: u64 = 2_000_000_000;

fn cpuid(leaf: u32) -> core::arch::x86_64::CpuidResult {
    core::arch::x86_64::__cpuid_count(leaf, 0)
}

/// KVM's `pvclock_vcpu_time_info`, as 32-bit words: the version in word
/// 0, `tsc_timestamp` in words 2-3, `system_time` in words 4-5,
/// `tsc_to_system_mul` in word 6, `tsc_shift` in the low byte of word 7.
#[repr(C, align(32))]
pub struct PvClock([u32; 8]);

/// The kvmclock record the entry asks KVM to fill in (32-byte aligned, so
/// it never crosses a page, as KVM requires); its version stays 0 where
/// there is no kvmclock.
pub static PVCLOCK: super::boot::BootCell<PvClock> = super::boot::BootCell::new(PvClock([0; 8]));

/// KVM's `pvclock_wall_clock`: version, seconds, nanoseconds of the wall
/// clock when kvmclock read 0.
#[repr(C, align(4))]
pub struct WallClock([u32; 3]);

/// The wall-clock record the entry asks KVM to fill in with the other.
pub static WALL_CLOCK: super::boot::BootCell<WallClock> =
    super::boot::BootCell::new(WallClock([0; 3]));

/// Word `index` of the kvmclock record.
fn pvclock_word(index: usize) -> u32 {
    // SAFETY: one of the record's eight words, of our own static, which
    // KVM writes; read as a volatile word.
    unsafe { PVCLOCK.0.get().cast::<u32>().add(index).read_volatile() }
}

/// kvmclock's reading at TSC `tsc`, in nanoseconds, if KVM filled the
/// record in: `system_time + ((tsc - tsc_timestamp) << shift) * mul >> 32`.
fn kvmclock_ns(tsc: u64) -> Option<u64> {
    let (version, mul) = (pvclock_word(0), pvclock_word(6));
    if version == 0 || mul == 0 {
        return None;
    }
    let timestamp = u64::from(pvclock_word(2)) | u64::from(pvclock_word(3)) << 32;
    let system = u64::from(pvclock_word(4)) | u64::from(pvclock_word(5)) << 32;
    let shift = pvclock_word(7) as u8 as i8;
    // `tsc` is read after KVM's update (at the entry's return to the
    // guest); saturating covers a TSC that stepped back.
    let delta = tsc.saturating_sub(timestamp);
    let scaled = if shift >= 0 {
        delta << shift
    } else {
        delta >> -shift
    };
    let ns = (u128::from(scaled) * u128::from(mul)) >> 32;
    Some(system.saturating_add(ns as u64))
}

/// The wall clock at TSC `tsc` from kvmclock, in nanoseconds since the
/// Unix epoch, if KVM filled both records in.
fn kvmclock_wall_ns(tsc: u64) -> Option<u64> {
    let words = WALL_CLOCK.0.get().cast::<u32>();
    // SAFETY: the record's three words, of our own static, which KVM
    // writes; read as volatile words.
    let (seconds, ns) = unsafe { (words.add(1).read_volatile(), words.add(2).read_volatile()) };
    if seconds == 0 {
        return None;
    }
    Some(u64::from(seconds) * 1_000_000_000 + u64::from(ns) + kvmclock_ns(tsc)?)
}

/// The TSC's rate from the kvmclock record, if KVM filled it in: KVM turns
/// a TSC delta into nanoseconds as `((delta << shift) * mul) >> 32` (a
/// right shift for a negative `shift`), so the rate is `(10^9 * 2^32 /
/// mul) >> shift`.
fn kvmclock_hz() -> Option<u64> {
    let (version, mul) = (pvclock_word(0), pvclock_word(6));
    let shift = pvclock_word(7) as u8 as i8;
    if version == 0 || mul == 0 {
        return None;
    }
    // 10^9 * 2^32 fits in 64 bits.
    let unshifted = (1_000_000_000u64 << 32) / u64::from(mul);
    Some(if shift >= 0 {
        unshifted >> shift
    } else {
        unshifted << -shift
    })
}

/// TSC ticks per second.
pub fn tsc_hz() -> u64 {
    let max = cpuid(0).eax;
    if max >= 0x15 {
        let leaf = cpuid(0x15);
        if leaf.eax != 0 && leaf.ebx != 0 && leaf.ecx != 0 {
            return u64::from(leaf.ecx) * u64::from(leaf.ebx) / u64::from(leaf.eax);
        }
    }
    if max >= 0x16 && cpuid(0x16).eax != 0 {
        return u64::from(cpuid(0x16).eax) * 1_000_000;
    }
    if cpuid(0x4000_0000).eax >= 0x4000_0010 && cpuid(0x4000_0010).eax != 0 {
        return u64::from(cpuid(0x4000_0010).eax) * 1000;
    }
    kvmclock_hz().or_else(pit_measure).unwrap_or(FALLBACK_HZ)
}

/// Reads PIT channel 0's count (latched, low byte then high).
fn pit_count() -> u64 {
    outb(0x43, 0x00);
    let low = inb(0x40);
    u64::from(low) | u64::from(inb(0x40)) << 8
}

/// The TSC's rate against PIT channel 0 counting down from 0xffff (mode 2,
/// which counts whatever its gate; interrupts are off). None when no PIT
/// answers (its count never moves).
fn pit_measure() -> Option<u64> {
    outb(0x43, 0x34);
    outb(0x40, 0xff);
    outb(0x40, 0xff);
    let first = pit_count();
    let start = super::super::rdtsc();
    for i in 0..100_000 {
        let now = pit_count();
        let elapsed = first.wrapping_sub(now) & 0xffff;
        if i == 100 && elapsed == 0 {
            return None;
        }
        if (PIT_TICKS..0x8000).contains(&elapsed) {
            let ticks = super::super::rdtsc() - start;
            return Some(ticks * PIT_HZ / elapsed);
        }
    }
    None
}

/// Reads CMOS RTC register `index`.
fn cmos(index: u8) -> u8 {
    outb(0x70, index);
    inb(0x71)
}

/// The wall-clock time at TSC `tsc` (now), in nanoseconds since the Unix
/// epoch: kvmclock's, else the RTC's (0 when neither tells).
pub fn wall_clock_ns(tsc: u64) -> u64 {
    kvmclock_wall_ns(tsc).unwrap_or_else(rtc_wall_clock_ns)
}

/// The RTC's time now, in nanoseconds since the Unix epoch (0 when the
/// RTC's reading is not a date).
fn rtc_wall_clock_ns() -> u64 {
    // Wait out an update in progress (at most 2 ms), so the fields belong
    // together. An absent RTC reads all ones (QEMU) or zeros (Firecracker,
    // which has none); a running one's register A holds a nonzero divider.
    for _ in 0..1000 {
        match cmos(0x0a) {
            0x00 | 0xff => return 0,
            a if a & 0x80 == 0 => break,
            _ => {}
        }
    }
    let status = cmos(0x0b);
    let binary = status & 0x04 != 0;
    let decode = |index: u8, mask: u8| rtc_field(cmos(index) & mask, binary);
    let second = decode(0x00, 0xff);
    let minute = decode(0x02, 0xff);
    let hour_raw = cmos(0x04);
    let mut hour = rtc_field(hour_raw & 0x7f, binary);
    if status & 0x02 == 0 && hour_raw & 0x80 != 0 {
        hour = (hour % 12) + 12;
    }
    let day = decode(0x07, 0xff);
    let month = decode(0x08, 0xff);
    let year = 2000 + decode(0x09, 0xff);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return 0;
    }
    let days = days_from_civil(year, month, day);
    ((days * 24 + hour) * 60 + minute) * 60_000_000_000 + second * 1_000_000_000
}

/// An RTC field's value: binary, or BCD.
#[inline(never)]
fn rtc_field(value: u8, binary: bool) -> u64 {
    if binary {
        u64::from(value)
    } else {
        u64::from(value & 0x0f) + u64::from(value >> 4) * 10
    }
}

/// Days from 1970-01-01 to a (proleptic Gregorian) date from 1970 on
/// (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year / 400;
    let year_of_era = year - era * 400;
    let month_index = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}
