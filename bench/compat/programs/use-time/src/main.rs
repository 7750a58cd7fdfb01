//! time 0.3: macros, formatting with format descriptions (custom, RFC 3339,
//! ISO 8601), parsing and its errors, arithmetic, and the clock (checked).
use time::format_description::well_known::{Iso8601, Rfc2822, Rfc3339};
use time::macros::{date, datetime, format_description, offset};
use time::{Duration, OffsetDateTime, PrimitiveDateTime, Weekday};

fn main() {
    let moment = datetime!(2024-02-29 23:59:59.5 +01:00);
    println!("{moment}");
    println!("rfc3339 {}", moment.format(&Rfc3339).expect("rfc3339"));
    println!("rfc2822 {}", moment.format(&Rfc2822).expect("rfc2822"));
    println!("iso8601 {}", moment.format(&Iso8601::DEFAULT).expect("iso"));
    let custom = format_description!(
        "[weekday] [day padding:none] [month repr:long] [year], [hour repr:12]:[minute] [period]"
    );
    println!("{}", moment.format(&custom).expect("custom"));
    println!("in UTC {}", moment.to_offset(offset!(UTC)));
    println!(
        "plus 1 day 2h {}",
        moment + Duration::days(1) + Duration::hours(2)
    );
    println!(
        "ordinal {} iso week {}",
        moment.ordinal(),
        moment.iso_week()
    );
    println!(
        "next monday {}",
        date!(2024 - 02 - 29).next_occurrence(Weekday::Monday)
    );
    let format = format_description!("[year]-[month]-[day] [hour]:[minute]");
    println!(
        "{:?}",
        PrimitiveDateTime::parse("2025-12-31 18:05", &format)
    );
    println!(
        "{:?}",
        PrimitiveDateTime::parse("2025-02-30 18:05", &format).map_err(|e| e.to_string())
    );
    println!(
        "{:?}",
        OffsetDateTime::parse("not a date", &Rfc3339).map_err(|e| e.to_string())
    );
    println!(
        "unix 1234567890 = {}",
        OffsetDateTime::from_unix_timestamp(1_234_567_890).expect("ts")
    );
    println!(
        "clock after 2025: {}",
        OffsetDateTime::now_utc().year() >= 2025
    );
    let span = datetime!(2026-01-01 0:00 UTC) - datetime!(2000-01-01 0:00 UTC);
    println!(
        "2000 to 2026: {} days, {} seconds",
        span.whole_days(),
        span.whole_seconds()
    );
}
