//! chrono: calendar arithmetic, parsing and formatting (RFC 3339, RFC 2822,
//! strftime), fixed offsets, and the clock (checked, not printed).
use chrono::{
    DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc, Weekday,
};

fn main() {
    let date = NaiveDate::from_ymd_opt(2024, 2, 28).expect("date");
    for days in [1, 2, 366, -60] {
        let other = date + Duration::days(days);
        println!("{date} {days:+} days = {other} ({})", other.weekday());
    }
    println!(
        "leap year 2024: {}",
        NaiveDate::from_ymd_opt(2024, 2, 29).is_some()
    );
    println!("2023-02-29: {:?}", NaiveDate::from_ymd_opt(2023, 2, 29));
    let parsed = DateTime::parse_from_rfc3339("2025-07-14T09:30:00+02:00").expect("rfc3339");
    println!(
        "{parsed} utc {} rfc2822 {}",
        parsed.with_timezone(&Utc),
        parsed.to_rfc2822()
    );
    println!(
        "{}",
        parsed.format("%A %d %B %Y, week %V, day %j, %I:%M %p %z")
    );
    let naive =
        NaiveDateTime::parse_from_str("2001-09-09 01:46:40", "%Y-%m-%d %H:%M:%S").expect("naive");
    println!("timestamp {}", naive.and_utc().timestamp());
    let tokyo = FixedOffset::east_opt(9 * 3600).expect("offset");
    println!("in +09:00 {}", tokyo.from_utc_datetime(&naive));
    println!(
        "bad input {:?}",
        DateTime::parse_from_rfc3339("2025-13-01T00:00:00Z")
            .err()
            .map(|e| e.to_string())
    );
    let mut mondays = 0;
    let mut day = NaiveDate::from_ymd_opt(2026, 1, 1).expect("day");
    while day.year() == 2026 {
        if day.weekday() == Weekday::Mon {
            mondays += 1;
        }
        day = day.succ_opt().expect("succ");
    }
    println!("mondays in 2026: {mondays}");
    let now = Utc::now();
    println!("clock after 2025: {}", now.year() >= 2025);
    println!(
        "from_timestamp 1e9: {:?}",
        DateTime::from_timestamp(1_000_000_000, 0)
    );
}
