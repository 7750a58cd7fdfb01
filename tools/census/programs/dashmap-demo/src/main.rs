//! dashmap's concurrent map.
fn main() {
    let map = std::sync::Arc::new(dashmap::DashMap::new());
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let map = std::sync::Arc::clone(&map);
            std::thread::spawn(move || {
                map.insert(i, i * 2);
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    println!("{}", map.len());
}
