//! `fs-demo`: the three kinds of files a Kiln program sees, through plain
//! `std::fs`.
//!
//! - `/etc/fs-demo` and `/srv/assets` were baked into the image by
//!   `kiln build` (see `[package.metadata.kiln]` in Cargo.toml): read-only;
//! - `/tmp` is memory: gone when the program ends;
//! - `/data`, when run with `-v HOST_DIR:/data`, is a host directory: the
//!   visit log written there survives the program.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

fn main() -> std::io::Result<()> {
    let config = fs::read_to_string("/etc/fs-demo/config.toml")?;
    let setting = |key: &str| {
        config
            .lines()
            .find_map(|line| line.strip_prefix(key)?.trim().strip_prefix('='))
            .map(|value| value.trim().trim_matches('"').to_string())
            .unwrap_or_default()
    };
    println!("{}", setting("greeting"));

    let mut assets = Vec::new();
    list(Path::new("/srv/assets"), &mut assets)?;
    assets.sort();
    for (path, size) in &assets {
        println!("asset {path} ({size} bytes)");
    }

    fs::write("/tmp/scratch.txt", "kept in memory\n")?;
    print!(
        "/tmp/scratch.txt: {}",
        fs::read_to_string("/tmp/scratch.txt")?
    );

    let log = setting("log");
    let log = Path::new(&log);
    if !log.parent().is_some_and(Path::is_dir) {
        println!(
            "no volume at {} (run with -v DIR:/data)",
            log.parent().unwrap_or(log).display()
        );
        return Ok(());
    }
    // Append by writing a new version next to the log and renaming it over
    // the old one, after an fsync: a crash leaves one whole log or the other.
    let next = log.with_extension("new");
    let previous = fs::read_to_string(log).unwrap_or_default();
    let visits = previous.lines().count() + 1;
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&next)?;
    file.write_all(previous.as_bytes())?;
    writeln!(file, "visit {visits}")?;
    file.sync_all()?;
    drop(file);
    fs::rename(&next, log)?;
    let back = fs::read_to_string(log)?;
    println!(
        "{}: {} visits, last: {}",
        log.display(),
        back.lines().count(),
        back.lines().last().unwrap_or("")
    );
    Ok(())
}

/// Every file under `dir`, with its size.
fn list(dir: &Path, out: &mut Vec<(String, u64)>) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        if meta.is_dir() {
            list(&entry.path(), out)?;
        } else {
            out.push((entry.path().display().to_string(), meta.len()));
        }
    }
    Ok(())
}
