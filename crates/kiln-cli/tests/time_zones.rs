//! Time zones and broken-down time in Kiln's C library against glibc's:
//! `tests/guests/std-ctime` prints `tzset`'s globals, `localtime_r`,
//! `gmtime_r`, `mktime` (normalisation, DST gaps and overlaps), `timegm`,
//! `strftime` with every conversion and flag, `strptime`, `asctime_r`,
//! `ctime_r`, and chrono's and chrono-tz's answers, for the zone `TZ`
//! names. Natively it reads the host's zoneinfo; its image bakes the same
//! files in.

mod common;

use common::{image, run_image, run_native_with_env};

/// Runs the guest natively and under Kiln with `TZ` set to `tz` (unset for
/// `None`) and asserts identical output; returns it.
fn same_as_linux(tz: Option<&str>) -> String {
    let native = run_native_with_env("tests/guests/std-ctime", &[], b"", &[("TZ", tz)]);
    assert_eq!(native.code, 0, "native run, TZ {tz:?}: {}", native.stderr);
    let image = image("tests/guests/std-ctime", false);
    let setting = tz.map(|tz| format!("TZ={tz}"));
    let flags: Vec<&str> = match &setting {
        Some(setting) => vec!["-e", setting],
        None => vec![],
    };
    let kiln = run_image(&image, &flags, &[]);
    assert_eq!(kiln.code, 0, "Kiln run, TZ {tz:?}: {}", kiln.stderr);
    assert!(
        kiln.stdout.lines().count() > 300,
        "the guest printed too little, TZ {tz:?}:\n{}",
        kiln.stdout
    );
    for (line, (linux, ours)) in native.stdout.lines().zip(kiln.stdout.lines()).enumerate() {
        assert_eq!(ours, linux, "TZ {tz:?}, line {}", line + 1);
    }
    assert_eq!(kiln.stdout, native.stdout, "TZ {tz:?}");
    kiln.stdout
}

/// Without `TZ` and without an `/etc/localtime` in the image the zone is
/// UTC, named `UTC`: what glibc answers for `TZ=UTC` (natively, unset
/// `TZ` would read the host's own `/etc/localtime`).
#[test]
fn no_tz_and_no_localtime_file_is_utc() {
    let utc = same_as_linux(Some("UTC"));
    assert!(
        utc.contains("tzname \"UTC\" \"UTC\" timezone 0 daylight 0"),
        "{utc}"
    );
    let image = image("tests/guests/std-ctime", false);
    let unset = run_image(&image, &[], &[]);
    assert_eq!(unset.code, 0, "{}", unset.stderr);
    assert_eq!(unset.stdout.replacen("TZ None", "TZ Some(\"UTC\")", 1), utc);
}

#[test]
fn posix_rules_answer_as_glibc() {
    let out = same_as_linux(Some("EST5EDT,M3.2.0,M11.1.0"));
    assert!(
        out.contains("tzname \"EST\" \"EDT\" timezone 18000 daylight 1"),
        "{out}"
    );
    // A southern rule, a quoted numeric name, and a value that is neither
    // a file nor a rule (UTC, named after its leading word).
    same_as_linux(Some("AEST-10AEDT,M10.1.0,M4.1.0/3"));
    same_as_linux(Some("<+0330>-3:30"));
    let out = same_as_linux(Some("Nowhere/Special"));
    assert!(out.contains("zone Nowhere"), "{out}");
}

#[test]
fn zoneinfo_files_from_the_image_answer_as_glibc() {
    let out = same_as_linux(Some("Europe/Paris"));
    // The spring-forward instant, to know the zone really was read.
    assert!(
        out.contains(
            "1616893200 local 2021-03-28 03:00:00 wday 0 yday 86 isdst 1 gmtoff 7200 zone CEST"
        ),
        "{out}"
    );
    same_as_linux(Some(":America/New_York"));
    let out = same_as_linux(Some("Australia/Lord_Howe"));
    assert!(out.contains("gmtoff 37800 zone +1030"), "{out}");
}
