//! The redb embedded key-value store.
use redb::{Database, ReadableTable, TableDefinition};

const TABLE: TableDefinition<&str, u64> = TableDefinition::new("t");

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let db = Database::create(std::env::temp_dir().join("census.redb"))?;
    let write = db.begin_write()?;
    write.open_table(TABLE)?.insert("a", 1u64)?;
    write.commit()?;
    let read = db.begin_read()?;
    println!("{:?}", read.open_table(TABLE)?.get("a")?.map(|v| v.value()));
    Ok(())
}
