//! A memory-mapped file.
fn main() -> std::io::Result<()> {
    let path = std::env::temp_dir().join("census-mmap");
    std::fs::write(&path, b"mapped bytes")?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)?;
    // SAFETY: the file is this program's own and nothing else changes it while mapped.
    let mut map = unsafe { memmap2::MmapMut::map_mut(&file)? };
    map[0] = b'M';
    map.flush()?;
    println!("{}", String::from_utf8_lossy(&map));
    Ok(())
}
