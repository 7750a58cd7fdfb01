//! redb: write and read transactions, range scans, reopening the file.
use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};

const SCORES: TableDefinition<&str, u64> = TableDefinition::new("scores");

fn main() {
    let path = std::env::temp_dir().join(format!("compat-{}.redb", std::process::id()));
    let _ = std::fs::remove_file(&path);
    {
        let db = Database::create(&path).expect("create");
        let tx = db.begin_write().expect("write");
        {
            let mut table = tx.open_table(SCORES).expect("table");
            for i in 0..1000u64 {
                table
                    .insert(format!("key-{i:04}").as_str(), i * i)
                    .expect("insert");
            }
        }
        tx.commit().expect("commit");
        let tx = db.begin_write().expect("write");
        {
            let mut table = tx.open_table(SCORES).expect("table");
            table.remove("key-0500").expect("remove");
        }
        tx.abort().expect("abort");
    }
    let db = Database::create(&path).expect("reopen");
    let tx = db.begin_read().expect("read");
    let table = tx.open_table(SCORES).expect("table");
    println!("len {}", table.len().expect("len"));
    println!(
        "key-0500 = {:?}",
        table.get("key-0500").expect("get").map(|v| v.value())
    );
    for entry in table.range("key-0997".."key-9999").expect("range") {
        let (key, value) = entry.expect("entry");
        println!("{} = {}", key.value(), value.value());
    }
    std::fs::remove_file(&path).expect("remove");
}
