//! The local time zone, chosen by glibc's rules: `TZ` unset means
//! `/etc/localtime`; `TZ=""` means `Universal`; otherwise a leading `:` is
//! dropped and the value is first a TZif file (absolute, or under `$TZDIR`,
//! default `/usr/share/zoneinfo`), then a POSIX rule such as
//! `EST5EDT,M3.2.0,M11.1.0`. When nothing matches, the time is UTC, named
//! `UTC` for an unset `TZ`, else after the value's leading name, as glibc
//! names it. Files are read through the library OS, so zones come from the
//! image (`kiln build --include`) or a volume.
//!
//! Parsing TZif files and POSIX rules is `tz-rs`'s job; this module only
//! chooses what to parse and publishes glibc's `tzname`, `timezone` and
//! `daylight`.

use alloc::boxed::Box;
use alloc::ffi::CString;
use alloc::format;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::ffi::{CStr, c_char};
use core::sync::atomic::{AtomicI32, AtomicI64, AtomicPtr, Ordering};

use kiln_libos::preempt::Lock;
use tz::timezone::TransitionRule;
use tz::{LocalTimeType, TimeZone, TimeZoneSettings};

use crate::stdlib;
use crate::{CInt, CLong};

/// glibc's `tzname`: the standard and daylight-saving abbreviations.
#[unsafe(no_mangle)]
#[allow(non_upper_case_globals)]
pub static tzname: [AtomicPtr<c_char>; 2] = [
    AtomicPtr::new(c"GMT".as_ptr().cast_mut()),
    AtomicPtr::new(c"GMT".as_ptr().cast_mut()),
];

/// glibc's `timezone`: seconds west of UTC of standard time.
#[unsafe(no_mangle)]
#[allow(non_upper_case_globals)]
pub static timezone: AtomicI64 = AtomicI64::new(0);

/// glibc's `daylight`: whether the zone has daylight-saving time.
#[unsafe(no_mangle)]
#[allow(non_upper_case_globals)]
pub static daylight: AtomicI32 = AtomicI32::new(0);

/// Where relative zone names are looked up without `TZDIR`.
const ZONEINFO: &[u8] = b"/usr/share/zoneinfo";

/// glibc's rules for a POSIX `TZ` with a daylight name and no dates (the
/// US rules `posixrules` holds).
const DEFAULT_RULES: &str = ",M3.2.0,M11.1.0";

/// A loaded time zone and the `tzname`/`timezone`/`daylight` it implies.
pub(crate) struct Zone {
    pub(crate) rules: TimeZone,
    names: [&'static CStr; 2],
    /// Seconds east of UTC of standard time.
    std_offset: i32,
    has_dst: bool,
}

/// The zone in force and the `TZ`/`TZDIR` values it was chosen for.
struct Loaded {
    tz: Option<Vec<u8>>,
    tzdir: Option<Vec<u8>>,
    zone: Arc<Zone>,
}

static LOADED: Lock<Option<Loaded>> = Lock::new(None);

/// The local zone. With `recheck` (`tzset`, `localtime`, `mktime`), a
/// changed `TZ` loads the new zone, as glibc's `tzset` does; without it
/// (`localtime_r`), the first zone loaded stays.
pub(crate) fn local(recheck: bool) -> Arc<Zone> {
    let tz = stdlib::var(b"TZ");
    let tzdir = stdlib::var(b"TZDIR");
    if let Some(loaded) = &*LOADED.lock()
        && (!recheck || (loaded.tz.as_deref() == tz && loaded.tzdir.as_deref() == tzdir))
    {
        return loaded.zone.clone();
    }
    // Loaded outside the lock: reading a file may block and let another
    // thread run.
    let zone = Arc::new(Zone::choose(tz, tzdir));
    zone.publish();
    *LOADED.lock() = Some(Loaded {
        tz: tz.map(<[u8]>::to_vec),
        tzdir: tzdir.map(<[u8]>::to_vec),
        zone: zone.clone(),
    });
    zone
}

/// `tzset(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn tzset() {
    local(true);
}

impl Zone {
    fn choose(tz: Option<&[u8]>, tzdir: Option<&[u8]>) -> Zone {
        let spec = match tz {
            Some(b"") => &b"Universal"[..],
            Some(value) => value.strip_prefix(b":").unwrap_or(value),
            None => b"",
        };
        let path = match spec {
            b"" => b"/etc/localtime".to_vec(),
            [b'/', ..] => spec.to_vec(),
            _ => {
                let dir = tzdir.filter(|d| !d.is_empty()).unwrap_or(ZONEINFO);
                [dir, b"/", spec].concat()
            }
        };
        if let Some(rules) = crate::read_file(&path)
            .ok()
            .and_then(|bytes| TimeZone::from_tz_data(&bytes).ok())
        {
            return Zone::from_tzif(rules);
        }
        if spec.is_empty() {
            return Zone::utc(c"UTC");
        }
        Zone::from_posix(spec)
    }

    /// A zone from a TZif file: `tzname` holds the abbreviations of the
    /// latest standard and daylight transitions, and `timezone` the
    /// latest standard offset, as glibc computes them.
    fn from_tzif(rules: TimeZone) -> Zone {
        let zone = rules.as_ref();
        let kinds = zone.local_time_types();
        let latest_first = || {
            zone.transitions()
                .iter()
                .rev()
                .map(|t| &kinds[t.local_time_type_index()])
        };
        let latest = |dst: bool| latest_first().find(|k| k.is_dst() == dst);
        let standard = latest(false);
        let summer = latest(true);
        let std_name = standard
            .or(summer)
            .map_or(kinds[0].time_zone_designation(), |k| {
                k.time_zone_designation()
            });
        let std_offset = match (zone.transitions().is_empty(), standard) {
            (true, _) => kinds[0].ut_offset(),
            (false, Some(k)) => k.ut_offset(),
            (false, None) => 0,
        };
        let dst_offset = summer.map_or(std_offset, LocalTimeType::ut_offset);
        let std_name = intern(std_name);
        Zone {
            names: [
                std_name,
                summer.map_or(std_name, |k| intern(k.time_zone_designation())),
            ],
            std_offset,
            has_dst: std_offset != dst_offset,
            rules,
        }
    }

    /// A zone from a POSIX `TZ` rule.
    fn from_posix(spec: &[u8]) -> Zone {
        let Ok(text) = core::str::from_utf8(spec) else {
            return Zone::unparsed(spec);
        };
        // Only the rule syntax: files were looked for already, the
        // library OS's way.
        let settings = TimeZoneSettings::new(&[], |_| Err("TZ is read as a rule here".into()));
        let parsed = settings
            .parse_posix_tz(text)
            .or_else(|_| settings.parse_posix_tz(&format!("{text}{DEFAULT_RULES}")));
        let Ok(rules) = parsed else {
            return Zone::unparsed(spec);
        };
        let (standard, summer) = match rules.as_ref().extra_rule() {
            Some(TransitionRule::Alternate(alternate)) => {
                (*alternate.std(), Some(*alternate.dst()))
            }
            Some(TransitionRule::Fixed(kind)) => (*kind, None),
            None => (rules.as_ref().local_time_types()[0], None),
        };
        let std_name = intern(standard.time_zone_designation());
        Zone {
            names: [
                std_name,
                summer.map_or(std_name, |k| intern(k.time_zone_designation())),
            ],
            std_offset: standard.ut_offset(),
            has_dst: summer.is_some(),
            rules,
        }
    }

    /// What glibc makes of a `TZ` that is neither a file nor a rule: UTC,
    /// named after the value's leading name if it has one (three or more
    /// letters, or `<...>`).
    fn unparsed(spec: &[u8]) -> Zone {
        let name = match spec.strip_prefix(b"<") {
            Some(quoted) => quoted
                .split(|&b| b == b'>')
                .next()
                .filter(|_| quoted.contains(&b'>')),
            None => Some(&spec[..spec.iter().take_while(|b| b.is_ascii_alphabetic()).count()]),
        }
        .filter(|n| n.len() >= 3)
        .unwrap_or(b"");
        let mut zone = Zone::utc(intern(core::str::from_utf8(name).unwrap_or("")));
        zone.names[1] = c"";
        zone
    }

    fn utc(name: &'static CStr) -> Zone {
        Zone {
            rules: TimeZone::utc(),
            names: [name, name],
            std_offset: 0,
            has_dst: false,
        }
    }

    /// The local time type at `t`. glibc computes a POSIX rule's changes
    /// for years from 1970 on and places an earlier year's at 1970's, so
    /// every earlier time has the flavour 1970 starts with; so does this.
    pub(crate) fn kind_at(&self, t: i64) -> Option<LocalTimeType> {
        let zone = self.rules.as_ref();
        let t = if t < 0 && zone.transitions().is_empty() {
            0
        } else {
            t
        };
        zone.find_local_time_type(t).ok().copied()
    }

    /// The abbreviation a time of `kind` shows, as `tm_zone` points at it.
    /// A zone without a usable name keeps the one `tzset` published.
    pub(crate) fn abbreviation(&self, kind: &LocalTimeType) -> &'static CStr {
        if self.rules.as_ref().local_time_types().len() == 1
            && self.rules.as_ref().transitions().is_empty()
            && self.rules.as_ref().extra_rule().is_none()
        {
            return self.names[0];
        }
        intern(kind.time_zone_designation())
    }

    /// Sets `tzname` as glibc's `localtime` leaves it after converting
    /// `t` in a zone from a TZif file: the abbreviation in force, and for
    /// the other flavour the next one the transitions after `t` take (the
    /// footer rule's names past the last transition). Zones from a rule
    /// keep `tzset`'s names.
    pub(crate) fn publish_names_at(&self, t: i64) {
        let zone = self.rules.as_ref();
        let (transitions, kinds) = (zone.transitions(), zone.local_time_types());
        let name = |k: &LocalTimeType| Some(intern(k.time_zone_designation()));
        let mut names: [Option<&'static CStr>; 2] = [None, None];
        match transitions.iter().position(|tr| tr.unix_leap_time() > t) {
            _ if transitions.is_empty() => return,
            Some(0) => {
                // Before any transition: the first standard type, and
                // the first daylight type before it, or else after it.
                let standard = kinds.iter().position(|k| !k.is_dst()).unwrap_or(0);
                names[0] = name(&kinds[standard]);
                names[1] = kinds[..standard]
                    .iter()
                    .chain(&kinds[standard..])
                    .find(|k| k.is_dst())
                    .and_then(name);
            }
            None if zone.extra_rule().is_some() => {
                let (standard, summer) = match zone.extra_rule() {
                    Some(TransitionRule::Alternate(alternate)) => {
                        (*alternate.std(), Some(*alternate.dst()))
                    }
                    Some(TransitionRule::Fixed(kind)) => (*kind, None),
                    None => return,
                };
                names[0] = name(&standard);
                names[1] = summer.as_ref().and_then(name);
            }
            next => {
                let next = next.unwrap_or(transitions.len());
                let current = &kinds[transitions[next - 1].local_time_type_index()];
                names[usize::from(current.is_dst())] = name(current);
                for later in &transitions[next..] {
                    let kind = &kinds[later.local_time_type_index()];
                    let slot = usize::from(kind.is_dst());
                    if names[slot].is_none() {
                        names[slot] = name(kind);
                        if names[1 - slot].is_some() {
                            break;
                        }
                    }
                }
                if names[0].is_none() {
                    names[0] = names[1];
                }
            }
        }
        let standard = names[0].unwrap_or_else(|| intern(kinds[0].time_zone_designation()));
        let summer = names[1].unwrap_or(standard);
        tzname[0].store(standard.as_ptr().cast_mut(), Ordering::Relaxed);
        tzname[1].store(summer.as_ptr().cast_mut(), Ordering::Relaxed);
    }

    fn publish(&self) {
        for (slot, name) in tzname.iter().zip(self.names) {
            slot.store(name.as_ptr().cast_mut(), Ordering::Relaxed);
        }
        timezone.store(CLong::from(-self.std_offset), Ordering::Relaxed);
        daylight.store(CInt::from(self.has_dst), Ordering::Relaxed);
    }
}

/// Abbreviations handed out as C strings: kept for the program's life (C
/// code holds `tzname` and `tm_zone` pointers forever), each stored once.
fn intern(name: &str) -> &'static CStr {
    static NAMES: Lock<Vec<&'static CStr>> = Lock::new(Vec::new());
    let mut names = NAMES.lock();
    if let Some(known) = names.iter().find(|n| n.to_bytes() == name.as_bytes()) {
        return known;
    }
    let stored: &'static CStr = match CString::new(name) {
        Ok(text) => Box::leak(text.into_boxed_c_str()),
        Err(_) => c"",
    };
    names.push(stored);
    stored
}
