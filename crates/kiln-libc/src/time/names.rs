//! The C locale's day and month names, which `strftime`, `strptime` and
//! `asctime` share; the abbreviations are their first three letters.

pub(crate) const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

pub(crate) const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// The name at `index` in `table`, or `None` out of range (the callers
/// print different placeholders for that, as glibc's do).
pub(crate) fn get(table: &[&'static str], index: i32) -> Option<&'static str> {
    usize::try_from(index)
        .ok()
        .and_then(|i| table.get(i))
        .copied()
}

/// A name's three-letter abbreviation.
pub(crate) fn abbreviated(name: &str) -> &str {
    name.get(..3).unwrap_or(name)
}
