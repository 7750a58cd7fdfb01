//! An ordinary Rust program that uses `std::time` and `thread::sleep`.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn main() {
    let first = Instant::now();
    let mut previous = first;
    let mut monotonic = true;
    for _ in 0..1000 {
        let now = Instant::now();
        monotonic &= now >= previous;
        previous = now;
    }
    println!("monotonic: {monotonic}");

    let before = Instant::now();
    std::thread::sleep(Duration::from_millis(100));
    println!("slept_ms: {}", before.elapsed().as_millis());

    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970");
    println!("unix_seconds: {}", unix.as_secs());
}
