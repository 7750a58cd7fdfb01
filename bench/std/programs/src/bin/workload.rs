//! A CPU-bound std workload on popular crates: serde_json (serialise and
//! parse a batch of records, several rounds) and rayon (parallel map, sort and
//! sum over four million elements, several rounds on the default global pool).
//!
//!   workload [SCALE]   (default 1)
//!
//! Prints `checksum = HEX`, `threads = N` and `elapsed = MS ms`.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::time::Instant;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Record {
    id: u64,
    name: String,
    tags: Vec<String>,
    price: f64,
    stock: u32,
    active: bool,
}

const RECORDS: u64 = 4_000;
const JSON_ROUNDS: u64 = 60;
const ELEMENTS: u64 = 4_000_000;
const SORT_ROUNDS: u64 = 4;

/// A small deterministic PRNG (splitmix64), so every run sorts the same data.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn records(round: u64) -> Vec<Record> {
    (0..RECORDS)
        .map(|i| {
            let r = mix(round * RECORDS + i);
            Record {
                id: i,
                name: format!("item-{r:x}"),
                tags: (0..r % 4).map(|t| format!("tag{}", (r >> (8 * t)) & 0xff)).collect(),
                price: (r % 100_000) as f64 / 100.0,
                stock: (r >> 20) as u32 % 1000,
                active: r & 1 == 1,
            }
        })
        .collect()
}

fn json_part(scale: u64) -> u64 {
    let mut sum = 0u64;
    for round in 0..JSON_ROUNDS * scale {
        let batch = records(round);
        let text = serde_json::to_string(&batch).expect("serialisable");
        let back: Vec<Record> = serde_json::from_str(&text).expect("parses");
        assert_eq!(back, batch, "round trip changed the records");
        sum = sum.wrapping_mul(31).wrapping_add(text.len() as u64);
        sum = back.iter().fold(sum, |s, r| {
            s.wrapping_add(u64::from(r.stock) ^ r.price.to_bits().rotate_left(7))
        });
    }
    sum
}

fn rayon_part(scale: u64) -> u64 {
    (0..SORT_ROUNDS * scale).fold(0, |sum, round| {
        sum.rotate_left(5) ^ sort_round(round)
    })
}

fn sort_round(round: u64) -> u64 {
    let n = ELEMENTS;
    let mut v: Vec<u64> = (round * n..(round + 1) * n).into_par_iter().map(mix).collect();
    v.par_sort_unstable();
    let ordered = v.par_windows(2).all(|w| w[0] <= w[1]);
    assert!(ordered, "not sorted");
    let weighted: u64 = v
        .par_iter()
        .enumerate()
        .map(|(i, x)| (x >> 16).wrapping_mul(i as u64 + 1))
        .reduce(|| 0, u64::wrapping_add);
    weighted ^ v[v.len() / 2]
}

fn main() {
    let scale: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let start = Instant::now();
    let a = json_part(scale);
    let b = rayon_part(scale);
    let elapsed = start.elapsed();
    println!("checksum = {:016x}", a ^ b.rotate_left(32));
    println!("threads = {}", rayon::current_num_threads());
    println!("elapsed = {:.1} ms", elapsed.as_secs_f64() * 1e3);
}
