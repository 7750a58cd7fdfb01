//! image: encode a PNG made in the program, decode it, transform it.
use image::{imageops, ImageFormat, Rgba, RgbaImage};
use std::io::Cursor;

fn main() {
    let picture = RgbaImage::from_fn(64, 48, |x, y| {
        Rgba([(x * 4) as u8, (y * 5) as u8, ((x ^ y) * 3) as u8, 255])
    });
    let mut png = Vec::new();
    picture
        .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
        .expect("encode");
    println!("png {} bytes, signature {:?}", png.len(), &png[1..4]);
    let decoded = image::load_from_memory_with_format(&png, ImageFormat::Png)
        .expect("decode")
        .to_rgba8();
    println!(
        "decoded {}x{} identical {}",
        decoded.width(),
        decoded.height(),
        decoded == picture
    );
    let small = imageops::resize(&decoded, 16, 12, imageops::FilterType::Triangle);
    let gray = imageops::grayscale(&small);
    let sum: u64 = gray.pixels().map(|p| u64::from(p.0[0])).sum();
    println!("resized gray sum {sum}");
    println!(
        "{:?}",
        image::load_from_memory(b"not an image")
            .err()
            .map(|e| e.to_string())
    );
}
