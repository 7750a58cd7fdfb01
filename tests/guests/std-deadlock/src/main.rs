//! An ordinary program that deadlocks: the main thread joins a thread that
//! waits for a message only the main thread could send.

use std::sync::mpsc;
use std::thread;

fn main() {
    let (tx, rx) = mpsc::channel::<u32>();
    let waiter = thread::spawn(move || rx.recv().expect("a message"));
    println!("joining a thread that can never finish");
    let value = waiter.join().expect("no panic");
    drop(tx);
    println!("unreachable: {value}");
}
