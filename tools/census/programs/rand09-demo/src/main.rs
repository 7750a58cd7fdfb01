//! rand 0.9's thread-local generator.
use rand::Rng;

fn main() {
    let mut rng = rand::rng();
    println!("{} {}", rng.random::<u64>(), rng.random_range(0..10));
}
