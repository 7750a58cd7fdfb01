//! parking_lot's locks and condition variables.
use parking_lot::{Condvar, Mutex, RwLock};
use std::sync::Arc;

fn main() {
    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let other = Arc::clone(&pair);
    let t = std::thread::spawn(move || {
        *other.0.lock() = true;
        other.1.notify_one();
    });
    let mut ready = pair.0.lock();
    while !*ready {
        pair.1.wait(&mut ready);
    }
    t.join().unwrap();
    let lock = RwLock::new(5);
    println!("{} {}", *ready, *lock.read());
}
