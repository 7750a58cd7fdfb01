//! rand 0.8's thread-local generator.
use rand::Rng;

fn main() {
    let mut rng = rand::thread_rng();
    println!("{} {}", rng.gen::<u64>(), rng.gen_range(0..10));
}
