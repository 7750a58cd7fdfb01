//! crossbeam channels and scoped threads.
fn main() {
    let (tx, rx) = crossbeam::channel::bounded(4);
    crossbeam::scope(|s| {
        s.spawn(|_| {
            for i in 0..10 {
                tx.send(i).unwrap();
            }
            drop(tx);
        });
        let total: i32 = rx.iter().sum();
        println!("{total}");
    })
    .unwrap();
}
