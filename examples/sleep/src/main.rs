//! Sleeps 200 ms (or the milliseconds given) without burning CPU.
#![no_std]
#![no_main]

use core::time::Duration;

use kiln::println;
use kiln::time::{Instant, sleep};

kiln::entry!(main);

fn main() {
    let millis = kiln::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let start = Instant::now();
    sleep(Duration::from_millis(millis));
    println!("slept {} ms", start.elapsed().as_millis());
}
