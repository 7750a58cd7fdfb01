//! rand 0.9: seeded generators are reproducible; the OS-seeded one works.
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

fn main() {
    let mut rng = StdRng::seed_from_u64(42);
    let numbers: Vec<u32> = (0..8).map(|_| rng.random_range(0..1000)).collect();
    println!("seeded {numbers:?}");
    let mut deck: Vec<u8> = (1..=10).collect();
    deck.shuffle(&mut rng);
    println!("shuffled {deck:?}");
    println!("float {:.6}", rng.random::<f64>());
    let mut thread = rand::rng();
    let draws: Vec<u8> = (0..1000).map(|_| thread.random_range(0..6)).collect();
    println!("thread_rng in range {}", draws.iter().all(|d| *d < 6));
    println!(
        "thread_rng covers all faces {}",
        (0..6).all(|f| draws.contains(&f))
    );
}
