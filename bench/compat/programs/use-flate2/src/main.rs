//! flate2: gzip round trip of generated text.
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use std::io::{Read, Write};

fn main() {
    let text: String = (0..2000)
        .map(|i| format!("line {i} of some repetitive text\n"))
        .collect();
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(text.as_bytes()).expect("compress");
    let compressed = encoder.finish().expect("finish");
    println!("{} -> {} bytes", text.len(), compressed.len());
    let mut back = String::new();
    GzDecoder::new(&compressed[..])
        .read_to_string(&mut back)
        .expect("decompress");
    println!("round trip {}", back == text);
    let mut junk = String::new();
    println!(
        "{:?}",
        GzDecoder::new(&b"junk"[..])
            .read_to_string(&mut junk)
            .map_err(|e| e.kind())
    );
}
