//! brotli (pure Rust): compression at several qualities through the
//! writer API, decompression through the reader API, round trips.
use std::io::{Read, Write};

fn main() {
    let mut data = Vec::new();
    for i in 0..15_000u32 {
        data.extend_from_slice(
            format!("{{\"id\":{i},\"name\":\"item-{}\",\"ok\":true}}\n", i % 53).as_bytes(),
        );
    }
    println!("input {} bytes", data.len());
    for quality in [1, 5, 9, 11] {
        let mut packed = Vec::new();
        {
            let mut writer = brotli::CompressorWriter::new(&mut packed, 4096, quality, 22);
            writer.write_all(&data).expect("compress");
        }
        let mut back = Vec::new();
        brotli::Decompressor::new(packed.as_slice(), 4096)
            .read_to_end(&mut back)
            .expect("decompress");
        println!(
            "quality {quality}: {} bytes, round trip {}",
            packed.len(),
            back == data
        );
    }
    let mut truncated = Vec::new();
    brotli::CompressorWriter::new(&mut truncated, 4096, 5, 22)
        .write_all(&data)
        .expect("compress");
    truncated.truncate(truncated.len() / 3);
    let mut out = Vec::new();
    let result = brotli::Decompressor::new(truncated.as_slice(), 4096).read_to_end(&mut out);
    println!("truncated stream: {:?}", result.map_err(|e| e.kind()));
}
