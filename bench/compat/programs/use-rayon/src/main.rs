//! rayon: a parallel sum, a parallel sort, map/collect and join on the
//! global thread pool (one worker per CPU), checked against sequential code.
use rayon::prelude::*;

fn fib(n: u32) -> u64 {
    if n < 2 {
        return u64::from(n);
    }
    let (a, b) = rayon::join(|| fib(n - 1), || fib(n - 2));
    a + b
}

fn main() {
    let n: u64 = 20_000_000;
    let parallel: u64 = (0..n).into_par_iter().map(|x| x % 7 * x % 1013).sum();
    let sequential: u64 = (0..n).map(|x| x % 7 * x % 1013).sum();
    println!(
        "sum {parallel} (sequential agrees: {})",
        parallel == sequential
    );

    let mut values: Vec<u64> = (0..1_000_000u64)
        .map(|i| i.wrapping_mul(6364136223846793005).rotate_left(17))
        .collect();
    values.par_sort_unstable();
    println!(
        "sorted {} first {} last {}",
        values.windows(2).all(|w| w[0] <= w[1]),
        values[0],
        values[values.len() - 1]
    );

    let words: Vec<String> = (0..50_000).map(|i| format!("word{}", i % 977)).collect();
    let long: usize = words.par_iter().filter(|w| w.len() > 6).count();
    let lengths: Vec<usize> = words.par_iter().map(String::len).collect();
    println!(
        "long words {long}, total length {}",
        lengths.iter().sum::<usize>()
    );
    println!("fib(25) = {}", fib(25));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .expect("pool");
    let squares = pool.install(|| (1..=1000u64).into_par_iter().map(|x| x * x).sum::<u64>());
    println!(
        "3-thread pool: {} threads, sum of squares {squares}",
        pool.current_num_threads()
    );
}
