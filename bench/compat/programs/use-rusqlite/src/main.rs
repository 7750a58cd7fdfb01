//! rusqlite with the bundled SQLite: a file database, a transaction,
//! aggregates, and SQLite's own error messages.
use rusqlite::{params, Connection};

fn main() {
    let path = std::env::temp_dir().join(format!("compat-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let mut db = Connection::open(&path).expect("open");
    db.execute_batch("CREATE TABLE person (id INTEGER PRIMARY KEY, name TEXT NOT NULL, age INTEGER, score REAL);")
        .expect("create");
    let tx = db.transaction().expect("begin");
    for i in 0..500 {
        tx.execute(
            "INSERT INTO person (name, age, score) VALUES (?1, ?2, ?3)",
            params![format!("person-{i}"), 18 + i % 60, f64::from(i) / 7.0],
        )
        .expect("insert");
    }
    tx.commit().expect("commit");
    let (count, avg, max): (i64, f64, String) = db
        .query_row(
            "SELECT count(*), avg(age), max(name) FROM person",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("aggregate");
    println!("count {count} avg age {avg:.3} max name {max}");
    let mut stmt = db
        .prepare("SELECT name, score FROM person WHERE age = ?1 ORDER BY score DESC LIMIT 3")
        .expect("prepare");
    for row in stmt
        .query_map([42], |r| Ok((r.get::<_, String>(0)?, r.get::<_, f64>(1)?)))
        .expect("query")
    {
        let (name, score) = row.expect("row");
        println!("{name} {score:.4}");
    }
    drop(stmt);
    println!(
        "{:?}",
        db.execute("INSERT INTO nowhere VALUES (1)", [])
            .err()
            .map(|e| e.to_string())
    );
    println!(
        "{:?}",
        db.execute("INSERT INTO person (id, name) VALUES (1, 'dup')", [])
            .err()
            .map(|e| e.to_string())
    );
    println!("sqlite {}", rusqlite::version());
    drop(db);
    let reopened = Connection::open(&path).expect("reopen");
    let total: f64 = reopened
        .query_row("SELECT sum(score) FROM person", [], |r| r.get(0))
        .expect("sum");
    println!("after reopen sum {total:.3}");
    std::fs::remove_file(&path).expect("remove");
}
