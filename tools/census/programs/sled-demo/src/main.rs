//! The sled embedded database.
fn main() -> sled::Result<()> {
    let db = sled::open(std::env::temp_dir().join("census.sled"))?;
    db.insert(b"k", b"v")?;
    println!("{:?}", db.get(b"k")?);
    db.flush()?;
    Ok(())
}
