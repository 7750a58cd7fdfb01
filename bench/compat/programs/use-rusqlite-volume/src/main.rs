//! rusqlite (bundled SQLite) on a file in the directory given as the first
//! argument, which the script mounts as a volume (`-v`): each run appends
//! to the database and prints what the earlier runs left; a journal-mode
//! switch to WAL exercises the shared-memory file beside it.
use rusqlite::{params, Connection};

fn main() {
    let dir = std::env::args()
        .nth(1)
        .expect("usage: use-rusqlite-volume DIR");
    let path = std::path::Path::new(&dir).join("visits.db");
    let db = Connection::open(&path).expect("open");
    let mode: String = db
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .expect("wal");
    println!("journal mode {mode}");
    db.execute_batch("CREATE TABLE IF NOT EXISTS visit (n INTEGER PRIMARY KEY, note TEXT)")
        .expect("create");
    let before: i64 = db
        .query_row("SELECT count(*) FROM visit", [], |r| r.get(0))
        .expect("count");
    println!("visits before {before}");
    for i in 0..50 {
        db.execute(
            "INSERT INTO visit (note) VALUES (?1)",
            params![format!("run {before} row {i}")],
        )
        .expect("insert");
    }
    let last: String = db
        .query_row("SELECT note FROM visit ORDER BY n DESC LIMIT 1", [], |r| {
            r.get(0)
        })
        .expect("last");
    println!("last note {last}");
    db.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .expect("checkpoint");
    let integrity: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity");
    println!("integrity {integrity}");
}
