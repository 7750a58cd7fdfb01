//! zstd (the C library, compiled by zstd-sys).
fn main() {
    let data = vec![7u8; 10_000];
    let packed = zstd::encode_all(&data[..], 3).unwrap();
    let unpacked = zstd::decode_all(&packed[..]).unwrap();
    println!("{} {}", packed.len(), unpacked.len());
}
