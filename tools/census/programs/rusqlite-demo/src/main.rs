//! SQLite (bundled, compiled from C) through rusqlite, on a file database.
fn main() -> rusqlite::Result<()> {
    let conn = rusqlite::Connection::open(std::env::temp_dir().join("census.db"))?;
    conn.execute(
        "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, name TEXT)",
        (),
    )?;
    conn.execute("INSERT INTO t (name) VALUES (?1)", ["kiln"])?;
    let n: i64 = conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?;
    println!("{n}");
    Ok(())
}
