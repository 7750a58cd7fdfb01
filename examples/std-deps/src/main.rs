//! An ordinary Rust program built on popular crates, unmodified: serde_json,
//! regex and rayon (a parallel sum across a thread pool).

use rayon::prelude::*;
use regex::Regex;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Order {
    id: u32,
    customer: String,
    items: Vec<String>,
    total_cents: u64,
}

fn main() {
    let order = Order {
        id: 42,
        customer: "Ada".into(),
        items: vec!["kiln".into(), "clay".into()],
        total_cents: 12_345,
    };
    let json = serde_json::to_string(&order).expect("serialisable");
    println!("json: {json}");
    let back: Order = serde_json::from_str(&json).expect("parses");
    println!("round trip: {}", back == order);

    let dates = Regex::new(r"(?<y>\d{4})-(?<m>\d{2})-(?<d>\d{2})").expect("valid regex");
    let text = "fired 2026-11-22, glazed 2026-12-01, sold 2027-01-15";
    let found: Vec<String> = dates
        .captures_iter(text)
        .map(|c| format!("{}/{}/{}", &c["d"], &c["m"], &c["y"]))
        .collect();
    println!("dates: {found:?}");

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .expect("a thread pool");
    let sum: u64 = pool.install(|| (1..=1_000_000u64).into_par_iter().map(|x| x % 7).sum());
    println!(
        "parallel sum: {sum} on {} threads",
        pool.current_num_threads()
    );
}
