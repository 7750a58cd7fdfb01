//! sled: inserts, prefix scans, compare-and-swap, flush and reopen.
fn main() {
    let path = std::env::temp_dir().join(format!("compat-{}.sled", std::process::id()));
    let _ = std::fs::remove_dir_all(&path);
    {
        let db = sled::open(&path).expect("open");
        for i in 0..500u32 {
            db.insert(format!("user/{i:03}"), i.to_be_bytes().to_vec())
                .expect("insert");
        }
        db.insert("config/mode", "fast").expect("insert");
        let cas = db
            .compare_and_swap("config/mode", Some("fast"), Some("safe"))
            .expect("cas");
        println!("cas ok {}", cas.is_ok());
        let stale = db
            .compare_and_swap("config/mode", Some("fast"), Some("x"))
            .expect("cas");
        println!("stale cas ok {}", stale.is_ok());
        db.flush().expect("flush");
    }
    let db = sled::open(&path).expect("reopen");
    println!("len {}", db.len());
    let keys: Vec<String> = db
        .scan_prefix("user/49")
        .keys()
        .map(|k| String::from_utf8(k.expect("key").to_vec()).expect("utf8"))
        .collect();
    println!("{keys:?}");
    println!(
        "{:?}",
        db.get("config/mode")
            .expect("get")
            .map(|v| String::from_utf8(v.to_vec()).expect("utf8"))
    );
    drop(db);
    std::fs::remove_dir_all(&path).expect("remove");
}
