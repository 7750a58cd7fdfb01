//! chrono's local time and chrono-tz's zones.
use chrono::{Local, Utc};

fn main() {
    let now = Utc::now();
    println!(
        "{} {} {}",
        now,
        Local::now(),
        now.with_timezone(&chrono_tz::Europe::Paris)
    );
}
