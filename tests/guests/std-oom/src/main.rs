//! Holds 12 MiB, one MiB at a time (each written, as a real program's
//! data is), then says so: more than the default 8 MiB guest can hold.

fn main() {
    let chunks: Vec<Vec<u8>> = (0..12u8).map(|i| vec![i; 1 << 20]).collect();
    let sum: u64 = chunks.iter().map(|c| u64::from(c[c.len() - 1])).sum();
    println!("held {} MiB (check {sum})", chunks.len());
}
