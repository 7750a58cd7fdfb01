//! sha2: digests of stdin and of known vectors.
use sha2::{Digest, Sha256, Sha512};
use std::io::Read;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn main() {
    let mut input = Vec::new();
    std::io::stdin().read_to_end(&mut input).expect("stdin");
    println!(
        "stdin {} bytes sha256 {}",
        input.len(),
        hex(&Sha256::digest(&input))
    );
    println!("abc sha512 {}", hex(&Sha512::digest(b"abc")));
    let mut hasher = Sha256::new();
    for i in 0..100_000u32 {
        hasher.update(i.to_le_bytes());
    }
    println!("streamed {}", hex(&hasher.finalize()));
}
