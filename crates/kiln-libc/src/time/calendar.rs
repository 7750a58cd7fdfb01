//! Broken-down time (`struct tm`): `gmtime`, `localtime`, `mktime`,
//! `timegm` and `difftime`, on the zone [`super::zone`] chooses and
//! `tz-rs`'s calendar arithmetic.

use core::ffi::c_char;
use core::sync::atomic::{AtomicI64, Ordering};

use tz::{DateTime, UtcDateTime};

use super::zone::{self, Zone};
use crate::errno::{self, code};
use crate::shared_buffer::SharedBuffer;
use crate::{CInt, CLong};

/// glibc's `struct tm`, with its `tm_gmtoff` and `tm_zone` extensions.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Tm {
    pub sec: CInt,
    pub min: CInt,
    pub hour: CInt,
    pub mday: CInt,
    pub mon: CInt,
    pub year: CInt,
    pub wday: CInt,
    pub yday: CInt,
    pub isdst: CInt,
    pub gmtoff: CLong,
    pub zone: *const c_char,
}

/// `gmtime` and `localtime`'s result.
static TM_BUFFER: SharedBuffer<Tm> = SharedBuffer::new(Tm {
    sec: 0,
    min: 0,
    hour: 0,
    mday: 0,
    mon: 0,
    year: 0,
    wday: 0,
    yday: 0,
    isdst: 0,
    gmtoff: 0,
    zone: core::ptr::null(),
});

/// The fields shared by tz-rs's `UtcDateTime` and `DateTime`.
struct Fields {
    year: i32,
    month: u8,
    mday: u8,
    hour: u8,
    min: u8,
    sec: u8,
    wday: u8,
    yday: u16,
}

macro_rules! fields {
    ($t:expr) => {
        Fields {
            year: $t.year(),
            month: $t.month(),
            mday: $t.month_day(),
            hour: $t.hour(),
            min: $t.minute(),
            sec: $t.second(),
            wday: $t.week_day(),
            yday: $t.year_day(),
        }
    };
}

/// A `struct tm`, or `None` if the year does not fit `tm_year` (glibc's
/// `EOVERFLOW`).
fn broken_down(f: Fields, gmtoff: i32, isdst: bool, zone: *const c_char) -> Option<Tm> {
    Some(Tm {
        sec: f.sec.into(),
        min: f.min.into(),
        hour: f.hour.into(),
        mday: f.mday.into(),
        mon: CInt::from(f.month) - 1,
        year: f.year.checked_sub(1900)?,
        wday: f.wday.into(),
        yday: f.yday.into(),
        isdst: isdst.into(),
        gmtoff: gmtoff.into(),
        zone,
    })
}

fn utc(t: i64) -> Option<Tm> {
    let at = UtcDateTime::from_timespec(t, 0).ok()?;
    broken_down(fields!(at), 0, false, c"GMT".as_ptr())
}

fn local_in(zone: &Zone, t: i64) -> Option<Tm> {
    let at = DateTime::from_timespec_and_local(t, 0, zone.kind_at(t)?).ok()?;
    let kind = at.local_time_type();
    broken_down(
        fields!(at),
        kind.ut_offset(),
        kind.is_dst(),
        zone.abbreviation(kind).as_ptr(),
    )
}

/// `localtime` in the current zone, which also sets `tzname` for that
/// time, as glibc's does.
fn local(t: i64, recheck: bool) -> Option<Tm> {
    let zone = zone::local(recheck);
    let tm = local_in(&zone, t)?;
    zone.publish_names_at(t);
    Some(tm)
}

/// Writes a conversion's result, or fails with `EOVERFLOW` as glibc does
/// for a year `tm_year` cannot hold.
///
/// # Safety
/// `out` must be valid for a write.
unsafe fn deliver(result: Option<Tm>, out: *mut Tm) -> *mut Tm {
    match result {
        Some(tm) => {
            // SAFETY: per the caller.
            unsafe { out.write(tm) };
            out
        }
        None => {
            errno::set(code::EOVERFLOW);
            core::ptr::null_mut()
        }
    }
}

/// `gmtime_r(3)`.
///
/// # Safety
/// `t` must be valid for a read and `out` for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmtime_r(t: *const i64, out: *mut Tm) -> *mut Tm {
    // SAFETY: per the caller.
    unsafe { deliver(utc(*t), out) }
}

/// `gmtime(3)`.
///
/// # Safety
/// `t` must be valid for a read.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gmtime(t: *const i64) -> *mut Tm {
    // SAFETY: per the caller; the shared buffer is valid for a write.
    unsafe { gmtime_r(t, TM_BUFFER.get()) }
}

/// `localtime_r(3)`: like glibc's, it loads the zone once and does not
/// look at `TZ` again (`tzset` or `localtime` do).
///
/// # Safety
/// `t` must be valid for a read and `out` for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn localtime_r(t: *const i64, out: *mut Tm) -> *mut Tm {
    // SAFETY: per the caller.
    unsafe { deliver(local(*t, false), out) }
}

/// `localtime(3)`: rereads `TZ`, as glibc's does.
///
/// # Safety
/// `t` must be valid for a read.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn localtime(t: *const i64) -> *mut Tm {
    // SAFETY: per the caller; the shared buffer is valid for a write.
    unsafe { deliver(local(*t, true), TM_BUFFER.get()) }
}

/// The seconds since the epoch that `tm`'s fields name when read as UTC,
/// after carrying out-of-range fields over (`tm_mday = 32` is the next
/// month's first), or `None` past what a `time_t` holds.
fn fields_as_utc(tm: &Tm) -> Option<i64> {
    let month = i64::from(tm.mon);
    let year = i64::from(tm.year) + 1900 + month.div_euclid(12);
    let first = UtcDateTime::new(
        i32::try_from(year).ok()?,
        (month.rem_euclid(12) + 1) as u8,
        1,
        0,
        0,
        0,
        0,
    )
    .ok()?
    .unix_time();
    let days = i64::from(tm.mday) - 1;
    first
        .checked_add(days.checked_mul(86_400)?)?
        .checked_add(i64::from(tm.hour) * 3600)?
        .checked_add(i64::from(tm.min) * 60)?
        .checked_add(i64::from(tm.sec))
}

/// glibc's `localtime_offset`: the offset of the last `mktime` result,
/// where its next search starts, so an ambiguous local time resolves as
/// glibc's would.
static LAST_OFFSET: AtomicI64 = AtomicI64::new(0);

/// The time that local time `wall` (seconds, read as UTC) names, by
/// glibc's `mktime` algorithm: guess, correct by the offset found, and in
/// a gap (where the guesses alternate) take the daylight-saving side, or
/// the side whose flag differs from the requested `isdst`; then, if
/// `isdst` asks for a flag the time does not have, use the offset of the
/// nearest time that has it, or failing one, assume an hour's shift.
fn solve(zone: &Zone, wall: i64, isdst: CInt) -> Option<i64> {
    let mut t = wall.checked_sub(LAST_OFFSET.load(Ordering::Relaxed))?;
    let (mut t1, mut t2) = (t, t);
    let mut converged = false;
    for _ in 0..6 {
        let kind = zone.kind_at(t)?;
        let guess = wall.checked_sub(i64::from(kind.ut_offset()))?;
        if guess == t {
            converged = true;
            break;
        }
        let oscillating = t == t1 && t != t2;
        let take_this = if isdst < 0 {
            kind.is_dst()
        } else {
            (isdst != 0) != kind.is_dst()
        };
        if oscillating && take_this {
            return Some(t);
        }
        (t1, t2, t) = (t2, t, guess);
    }
    if !converged {
        return None;
    }
    let kind = zone.kind_at(t)?;
    if isdst < 0 || (isdst != 0) == kind.is_dst() {
        return Some(t);
    }
    // glibc probes a week (less a few hours) at a time, either way, up to
    // about eight and a half years.
    const STRIDE: i64 = 601_200;
    const BOUND: i64 = 536_454_000 / 2 + STRIDE;
    let wanted = isdst != 0;
    let mut delta = STRIDE;
    while delta < BOUND {
        for probe in [t - delta, t + delta] {
            if let Some(other) = zone.kind_at(probe)
                && other.is_dst() == wanted
            {
                return wall.checked_sub(i64::from(other.ut_offset()));
            }
        }
        delta += STRIDE;
    }
    const HOUR: i64 = 3600;
    t.checked_add(if wanted { -HOUR } else { HOUR })
}

/// `mktime(3)`: normalises `tm` in place and returns its time, or `-1`
/// with `EOVERFLOW` (leaving `tm` alone).
///
/// # Safety
/// `tm` must be valid for reads and writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mktime(tm: *mut Tm) -> i64 {
    // SAFETY: per the caller.
    let tm = unsafe { &mut *tm };
    let zone = zone::local(true);
    let solved = fields_as_utc(tm).and_then(|wall| {
        let t = solve(&zone, wall, tm.isdst)?;
        Some((wall, t, local_in(&zone, t)?))
    });
    match solved {
        Some((wall, t, normalised)) => {
            // The offset this search used, which an `isdst` the time does
            // not have makes differ from the time's own.
            LAST_OFFSET.store(wall - t, Ordering::Relaxed);
            zone.publish_names_at(t);
            *tm = normalised;
            t
        }
        None => {
            errno::set(code::EOVERFLOW);
            -1
        }
    }
}

/// `timelocal(3)`: `mktime`'s old name.
///
/// # Safety
/// As [`mktime`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timelocal(tm: *mut Tm) -> i64 {
    // SAFETY: per the caller.
    unsafe { mktime(tm) }
}

/// `timegm(3)`: `mktime` for UTC.
///
/// # Safety
/// `tm` must be valid for reads and writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timegm(tm: *mut Tm) -> i64 {
    // SAFETY: per the caller.
    let tm = unsafe { &mut *tm };
    match fields_as_utc(tm).and_then(|t| Some((t, utc(t)?))) {
        Some((t, normalised)) => {
            *tm = normalised;
            t
        }
        None => {
            errno::set(code::EOVERFLOW);
            -1
        }
    }
}

/// `difftime(3)`: exact for any two `time_t`s before the conversion.
#[unsafe(no_mangle)]
pub extern "C" fn difftime(end: i64, start: i64) -> f64 {
    (i128::from(end) - i128::from(start)) as f64
}
