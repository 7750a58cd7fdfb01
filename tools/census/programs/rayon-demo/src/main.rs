//! rayon's thread pool.
use rayon::prelude::*;

fn main() {
    let sum: u64 = (0..1_000_000u64).into_par_iter().map(|x| x * x % 7).sum();
    println!("{sum} on {} threads", rayon::current_num_threads());
}
