//! zstd (the C library, compiled by zstd-sys through cc): one-shot and
//! streaming compression at several levels, round trips, and a corrupt
//! frame's error.
use std::io::{Read, Write};

fn sample() -> Vec<u8> {
    let mut data = Vec::new();
    for i in 0..20_000u32 {
        data.extend_from_slice(format!("line {i}: the quick brown fox {}\n", i % 97).as_bytes());
    }
    data
}

fn main() {
    let data = sample();
    println!(
        "input {} bytes, zstd {}",
        data.len(),
        zstd::zstd_safe::version_string()
    );
    for level in [1, 3, 9, 19] {
        let packed = zstd::encode_all(data.as_slice(), level).expect("encode");
        let unpacked = zstd::decode_all(packed.as_slice()).expect("decode");
        println!(
            "level {level}: {} bytes, round trip {}",
            packed.len(),
            unpacked == data
        );
    }
    let mut encoder = zstd::Encoder::new(Vec::new(), 5).expect("encoder");
    encoder.include_checksum(true).expect("checksum");
    for chunk in data.chunks(4096) {
        encoder.write_all(chunk).expect("write");
    }
    let stream = encoder.finish().expect("finish");
    let mut decoder = zstd::Decoder::new(stream.as_slice()).expect("decoder");
    let mut back = Vec::new();
    decoder.read_to_end(&mut back).expect("read");
    println!(
        "stream: {} bytes, round trip {}",
        stream.len(),
        back == data
    );
    let mut corrupt = stream.clone();
    let middle = corrupt.len() / 2;
    corrupt[middle] ^= 0xff;
    match zstd::decode_all(corrupt.as_slice()) {
        Ok(out) => println!("corrupt frame decoded?! {} bytes", out.len()),
        Err(e) => println!("corrupt frame: {e}"),
    }
}
