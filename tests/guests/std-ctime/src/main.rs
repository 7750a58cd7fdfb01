//! Prints what the C library's time functions answer in the zone `TZ`
//! names: `tzset`'s globals, `localtime_r`, `gmtime_r`, `mktime`
//! (normalisation, DST gaps and overlaps), `timegm`, `strftime` with every
//! conversion and flag, `asctime_r`/`ctime_r`, `difftime`; and chrono's
//! `Local` and chrono-tz for the same instants. Natively against glibc and
//! under Kiln the lines must be identical.

use std::ffi::{CStr, c_char, c_int, c_long};

use chrono::{Local, TimeZone};

unsafe extern "C" {
    static tzname: [*const c_char; 2];
    static timezone: c_long;
    static daylight: c_int;
    fn tzset();
    fn timegm(tm: *mut libc::tm) -> libc::time_t;
}

/// Instants around the 2021 transitions of every zone tested (Paris, New
/// York, Lord Howe's half-hour shift), the epoch, leap days, times before
/// 1900 and past the zone files' last transitions.
const INSTANTS: &[i64] = &[
    0,
    -1,
    951_782_400,
    1_616_893_199,
    1_616_893_200,
    1_635_641_999,
    1_635_642_000,
    1_615_705_199,
    1_615_705_200,
    1_636_264_799,
    1_636_264_800,
    1_617_461_999,
    1_617_462_000,
    1_633_188_599,
    1_633_188_600,
    2_100_000_000,
    4_102_444_800,
    -2_208_988_800,
    -5_000_000_000,
    253_402_300_799,
];

/// Every conversion glibc has in the C locale, then flags, widths and
/// modifiers, then formats glibc copies through.
const FORMATS: &[&str] = &[
    "%a %A %b %B %C %d %D %e %F %g %G %h %H %I %j %k %l %m %M %p %P",
    "%r %R %s %S %T %u %U %V %w %W %x %X %y %Y %z %Z %% %n%t|",
    "%c",
    "%_d %-d %0e %-e %_H %-H %-j %_j %_m %-m %_y %-y %_Y %06Y %_6Y",
    "%^a %^A %#A %^b %#B %^p %#p %^P %#Z %^Z %^c",
    "%10A|%-10A|%_10A|%010A|%3a|%12c|%5%|%8D|%_12T|%012F",
    "%Ec %EC %Ex %EX %Ey %EY %Od %Oe %OH %OI %Om %OM %OS %Ou %OU %OV %Ow %OW %Oy",
    "%Ed %OY %Oc %EH %Ea %OB %q %Q %1 %E%",
    "%010s %_10z %-z",
    "trailing %",
];

fn text(p: *const c_char) -> String {
    if p.is_null() {
        return "(null)".into();
    }
    // SAFETY: the C library returned a C string.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

fn fields(tm: &libc::tm) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} wday {} yday {} isdst {} gmtoff {} zone {}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        tm.tm_wday,
        tm.tm_yday,
        tm.tm_isdst,
        tm.tm_gmtoff,
        text(tm.tm_zone),
    )
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn strftime(format: &str, tm: &libc::tm, size: usize) -> String {
    let format = std::ffi::CString::new(format).expect("no NUL");
    let mut buf = vec![0u8; size];
    // SAFETY: `buf` holds `size` bytes; the format is a C string.
    let n = unsafe { libc::strftime(buf.as_mut_ptr().cast(), size, format.as_ptr(), tm) };
    format!("{n} {:?}", String::from_utf8_lossy(&buf[..n]))
}

fn zero_tm() -> libc::tm {
    // SAFETY: `struct tm` is plain data; all-zero is a valid value.
    unsafe { std::mem::zeroed() }
}

fn globals() {
    // SAFETY: tzset has no preconditions; the globals are read after it.
    unsafe {
        tzset();
        println!(
            "tzname {:?} {:?} timezone {} daylight {}",
            text(tzname[0]),
            text(tzname[1]),
            timezone,
            daylight
        );
    }
}

fn conversions() {
    for &t in INSTANTS {
        let mut local = zero_tm();
        let mut utc = zero_tm();
        // SAFETY: valid pointers to a time and to `struct tm`s.
        let (l, g) = unsafe {
            (
                libc::localtime_r(&t, &mut local),
                libc::gmtime_r(&t, &mut utc),
            )
        };
        println!(
            "{t} local {}",
            if l.is_null() {
                format!("null errno {}", errno())
            } else {
                fields(&local)
            }
        );
        println!(
            "{t} utc {}",
            if g.is_null() {
                format!("null errno {}", errno())
            } else {
                fields(&utc)
            }
        );
        let mut copy = local;
        // SAFETY: `copy` is a valid `struct tm`.
        let back = unsafe { libc::mktime(&mut copy) };
        println!("{t} mktime {back}");
        println!("{t} strftime {}", strftime("%c %Z %z %s", &local, 100));
        let mut buf = [0 as c_char; 26];
        // SAFETY: `buf` holds the 26 bytes asctime_r and ctime_r need.
        unsafe {
            println!(
                "{t} asctime_r {:?}",
                text(libc::asctime_r(&local, buf.as_mut_ptr()))
            );
            println!(
                "{t} ctime_r {:?}",
                text(libc::ctime_r(&t, buf.as_mut_ptr()))
            );
        }
        match Local.timestamp_opt(t, 0).single() {
            Some(at) => println!("{t} chrono {}", at.format("%Y-%m-%d %H:%M:%S %z %Z")),
            None => println!("{t} chrono none"),
        }
        for zone in [
            chrono_tz::Europe::Paris,
            chrono_tz::America::New_York,
            chrono_tz::Australia::Lord_Howe,
        ] {
            if let Some(at) = zone.timestamp_opt(t, 0).single() {
                println!("{t} chrono-tz {}", at.format("%Y-%m-%d %H:%M:%S %z %Z"));
            }
        }
    }
}

/// `mktime` on fields out of range, in DST gaps and overlaps, with each
/// `tm_isdst`.
fn normalisation() {
    let cases: &[(i32, i32, i32, i32, i32, i32)] = &[
        (2021, 0, 32, 12, 0, 0),
        (2021, 12, 1, 0, 0, 0),
        (2021, -1, 0, -1, 61, 3600),
        (2021, 1, 29, 25, 0, -1),
        (2020, 1, 29, 12, 0, 0),
        (2021, 2, 28, 2, 30, 0),
        (2021, 2, 14, 2, 30, 0),
        (2021, 9, 31, 2, 30, 0),
        (2021, 10, 7, 1, 30, 0),
        (2021, 9, 3, 2, 15, 0),
        (2021, 3, 4, 1, 45, 0),
        (2021, 0, 15, 12, 0, 0),
        (2021, 6, 15, 12, 0, 0),
        (1900, 0, 1, 0, 0, 0),
        (2100, 6, 1, 0, 0, 0),
    ];
    for &(year, mon, mday, hour, min, sec) in cases {
        for isdst in [-1, 0, 1] {
            let mut tm = zero_tm();
            tm.tm_year = year - 1900;
            tm.tm_mon = mon;
            tm.tm_mday = mday;
            tm.tm_hour = hour;
            tm.tm_min = min;
            tm.tm_sec = sec;
            tm.tm_isdst = isdst;
            let mut utc = tm;
            // SAFETY: valid `struct tm`s.
            let (t, g) = unsafe { (libc::mktime(&mut tm), timegm(&mut utc)) };
            println!(
                "mktime {year}-{mon}-{mday} {hour}:{min}:{sec} isdst {isdst}: {t} {} | timegm {g} {}",
                fields(&tm),
                fields(&utc)
            );
        }
    }
}

fn formatting() {
    let samples: &[i64] = &[
        1_609_459_199,
        1_625_140_800,
        1_640_995_200,
        1_704_067_200,
        0,
        1_230_768_000,
    ];
    for &t in samples {
        let mut tm = zero_tm();
        // SAFETY: valid pointers.
        unsafe { libc::localtime_r(&t, &mut tm) };
        for format in FORMATS {
            println!("{t} {format:?} -> {}", strftime(format, &tm, 256));
        }
    }
    let mut tm = zero_tm();
    // SAFETY: valid pointers.
    unsafe { libc::gmtime_r(&1_000_000_000, &mut tm) };
    println!("short buffer {}", strftime("%A %B", &tm, 10));
    println!("exact buffer {}", strftime("%Y", &tm, 5));
    println!("empty {}", strftime("", &tm, 1));
    tm.tm_wday = 9;
    tm.tm_mon = -1;
    println!("out of range {}", strftime("%a %A %b %B", &tm, 64));
    let mut buf = [0 as c_char; 26];
    // SAFETY: `buf` holds 26 bytes.
    println!(
        "asctime out of range {:?}",
        text(unsafe { libc::asctime_r(&tm, buf.as_mut_ptr()) })
    );
    tm.tm_wday = 1;
    tm.tm_mon = 1;
    tm.tm_year = 100_000;
    // SAFETY: as above.
    let long = unsafe { libc::asctime_r(&tm, buf.as_mut_ptr()) };
    println!("asctime too long {:?} errno {}", text(long), errno());
    // SAFETY: difftime is pure.
    unsafe {
        println!(
            "difftime {} {}",
            libc::difftime(1_000_000_000, -5),
            libc::difftime(i64::MIN, i64::MAX)
        );
    }
    // SAFETY: time accepts null.
    let now = unsafe { libc::time(std::ptr::null_mut()) };
    let system = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64;
    println!("time near the system clock: {}", (now - system).abs() <= 2);
}

/// A program changing `TZ` as it runs: `tzset` and `localtime` see the
/// change, `localtime_r` keeps the zone it first loaded, as glibc's do.
fn switching() {
    let set = |value: &std::ffi::CStr| {
        // SAFETY: C strings; this program has no other threads.
        unsafe { libc::setenv(c"TZ".as_ptr(), value.as_ptr(), 1) };
    };
    let zone_of = |reentrant: bool| {
        let t: libc::time_t = 1_625_140_800;
        let mut tm = zero_tm();
        // SAFETY: valid pointers; `localtime` returns its own buffer.
        unsafe {
            if reentrant {
                libc::localtime_r(&t, &mut tm);
            } else {
                tm = *libc::localtime(&t);
            }
        }
        format!("{} {}", tm.tm_hour, text(tm.tm_zone))
    };
    set(c"America/New_York");
    globals();
    println!("switched localtime {}", zone_of(false));
    set(c"Europe/Paris");
    println!("switched localtime_r without tzset {}", zone_of(true));
    println!("switched localtime {}", zone_of(false));
    set(c"Australia/Lord_Howe");
    globals();
    println!("switched localtime_r after tzset {}", zone_of(true));
}

/// `strptime` on every conversion, with fields derived from others
/// (weekday, day of the year, month from `%j` or week numbers), edge
/// widths and failures; each result with the whole `struct tm`.
fn parsing() {
    unsafe extern "C" {
        fn strptime(input: *const c_char, format: *const c_char, tm: *mut libc::tm) -> *mut c_char;
    }
    let cases: &[(&str, &str)] = &[
        ("%Y-%m-%d %H:%M:%S", "2021-03-28 02:30:00"),
        ("%F %T", "2024-02-29 23:59:60"),
        (
            "%a, %d %b %Y %H:%M:%S %z",
            "Sun, 06 Nov 1994 08:49:37 +0100",
        ),
        ("%A %B %e %Y", "thursday JANUARY  1 1970"),
        ("%c", "Tue Feb 29 00:00:00 2000"),
        ("%D %r", "12/31/99 11:59:59 PM"),
        ("%I:%M %p", "12:00 am"),
        ("%l %P", "3 pm"),
        ("%j %Y", "060 2024"),
        ("%Y %j", "2023 365"),
        ("%Y %U %w", "2021 10 3"),
        ("%Y %W %u", "2021 51 7"),
        ("%U %a %Y", "00 Sat 2022"),
        ("%s", "1616893200"),
        ("%s", "x"),
        ("%C%y", "1969"),
        ("%y", "68"),
        ("%y", "69"),
        ("%C", "20"),
        ("%y %C", "05 21"),
        ("%z", "-05:30"),
        ("%z", "Z"),
        ("%z", "+5"),
        ("%z", "+0575"),
        ("%z", "+13"),
        ("%H%M", "1234"),
        ("%Y", "12345"),
        ("%m/%d", "13/01"),
        ("%d", "  7"),
        ("%d", "0"),
        ("%Z %Y", "CEST 2021"),
        ("%n%t%%", "  %"),
        ("%Ey", "2021"),
        ("%a %Ey", "Mon 21"),
        ("%EY", "2021"),
        ("%EC %Ey", "20 21"),
        ("%Ec", "Mon Jan  4 05:06:07 2021"),
        ("%Ex %EX", "01/04/21 05:06:07"),
        ("%Ox", "01/04/21"),
        ("%OH:%OM:%OS %Od/%Om %Oy", "07:05:09 03/04 21"),
        ("%Ob %OB", "mar April"),
        ("%OH %EY", "07 2021"),
        ("%EY %OH %a %Ey", "2021 07 Mon 2021"),
        ("%G-%V-%g", "2020-53-20"),
        ("%Q", "x"),
        ("%Y-%m-%dT", "2021-01-01"),
        ("%b", "Sept"),
        ("%k %M", "7 5"),
        ("%R", "23:59"),
        ("%x", "02/29/24"),
        ("%X %p", "13:00:00 PM"),
        ("  %Y  ", "2021"),
        ("%5Y%-m%_d", "20210102"),
        ("", "rest"),
        ("%", "x"),
    ];
    for (format, input) in cases {
        let mut tm = zero_tm();
        tm.tm_sec = 1;
        tm.tm_min = 2;
        tm.tm_hour = 3;
        tm.tm_mday = 15;
        tm.tm_mon = 5;
        tm.tm_year = 100;
        tm.tm_wday = 6;
        tm.tm_yday = 200;
        tm.tm_gmtoff = -1;
        let (c_format, c_input) = (
            std::ffi::CString::new(*format).expect("no NUL"),
            std::ffi::CString::new(*input).expect("no NUL"),
        );
        // SAFETY: C strings and a valid `struct tm`.
        let end = unsafe { strptime(c_input.as_ptr(), c_format.as_ptr(), &mut tm) };
        let result = if end.is_null() {
            "NULL".to_string()
        } else {
            // SAFETY: `end` points into `c_input`.
            let used = unsafe { end.offset_from(c_input.as_ptr()) };
            format!("used {used}")
        };
        println!("strptime {format:?} {input:?}: {result} {}", fields(&tm));
    }
}

fn main() {
    println!("TZ {:?}", std::env::var("TZ").ok());
    parsing();
    globals();
    conversions();
    normalisation();
    formatting();
    globals();
    switching();
}
