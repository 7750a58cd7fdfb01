//! The time crate, with the local UTC offset.
fn main() {
    let now = time::OffsetDateTime::now_local().unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
    println!("{}", now.format(&format).unwrap());
}
