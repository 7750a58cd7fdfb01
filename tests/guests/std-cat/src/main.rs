//! Prints each file named by its arguments, then tries to create a file in
//! the first one's directory and says how that went (a ConfigMap's volume
//! is read-only). Exits 1 if a file cannot be read.

use std::path::Path;

fn main() {
    let files: Vec<String> = std::env::args().skip(1).collect();
    for file in &files {
        match std::fs::read_to_string(file) {
            Ok(text) => print!("{file}: {text}"),
            Err(e) => {
                eprintln!("std-cat: {file}: {e}");
                std::process::exit(1);
            }
        }
    }
    if let Some(dir) = files.first().and_then(|f| Path::new(f).parent()) {
        let probe = dir.join("written-by-std-cat");
        match std::fs::write(&probe, "x") {
            Ok(()) => println!("writing {}: allowed", probe.display()),
            Err(e) => println!("writing {}: {:?}", probe.display(), e.kind()),
        }
    }
}
