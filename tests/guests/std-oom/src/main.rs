//! Holds 12 MiB, one MiB at a time (each written, as a real program's
//! data is), then says so: more than the default 8 MiB guest can hold.
//!
//! With `refill`: fills the memory limit with 500-byte blocks, frees them,
//! fills it with 1000-byte ones, frees those, fills it with 500-byte ones
//! again, and prints how many blocks each fill held: memory freed as small
//! blocks of one size must serve another when the heap is full.

/// Allocates `size`-byte blocks (each written) until one does not fit,
/// frees them, and returns how many there were.
fn fill(size: usize, blocks: &mut Vec<Vec<u8>>) -> usize {
    loop {
        let mut block = Vec::new();
        if block.try_reserve_exact(size).is_err() || blocks.len() == blocks.capacity() {
            let count = blocks.len();
            blocks.clear();
            return count;
        }
        block.resize(size, 1);
        blocks.push(block);
    }
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("refill") {
        let mut blocks = Vec::with_capacity(64 << 10);
        let first = fill(500, &mut blocks);
        let second = fill(1000, &mut blocks);
        let third = fill(500, &mut blocks);
        println!("first {first} second {second} third {third}");
        return;
    }
    let chunks: Vec<Vec<u8>> = (0..12u8).map(|i| vec![i; 1 << 20]).collect();
    let sum: u64 = chunks.iter().map(|c| u64::from(c[c.len() - 1])).sum();
    println!("held {} MiB (check {sum})", chunks.len());
}
