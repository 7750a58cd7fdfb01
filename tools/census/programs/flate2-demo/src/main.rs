//! gzip through flate2.
use std::io::{Read, Write};

fn main() {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&[1u8; 1000]).unwrap();
    let packed = encoder.finish().unwrap();
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&packed[..])
        .read_to_end(&mut out)
        .unwrap();
    println!("{} {}", packed.len(), out.len());
}
