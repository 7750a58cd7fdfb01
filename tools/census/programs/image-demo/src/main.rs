//! Image decoding, resizing and encoding with the image crate.
use image::GenericImageView;

fn main() {
    let path = std::env::args().nth(1).unwrap_or_else(|| "in.png".into());
    match image::open(&path) {
        Ok(img) => {
            img.thumbnail(32, 32)
                .save(std::env::temp_dir().join("census-thumb.png"))
                .unwrap();
            println!("{}x{}", img.width(), img.height());
        }
        Err(e) => println!("{e}"),
    }
}
