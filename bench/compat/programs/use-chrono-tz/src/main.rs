//! chrono-tz: the compiled-in IANA database, conversions and DST edges.
use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;

fn main() {
    let instant = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).expect("timestamp");
    for name in [
        "Europe/Paris",
        "America/New_York",
        "Asia/Kolkata",
        "Australia/Lord_Howe",
        "Pacific/Chatham",
    ] {
        let zone: Tz = name.parse().expect("zone");
        println!("{name}: {}", instant.with_timezone(&zone).to_rfc2822());
    }
    let paris = chrono_tz::Europe::Paris;
    println!("{:?}", paris.with_ymd_and_hms(2024, 3, 31, 2, 30, 0));
    println!(
        "{:?}",
        paris
            .with_ymd_and_hms(2024, 10, 27, 2, 30, 0)
            .map(|t| t.to_rfc3339())
    );
    println!("{:?}", "Mars/Olympus".parse::<Tz>().is_err());
}
