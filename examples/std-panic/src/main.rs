//! An ordinary Rust program whose spawned thread panics: the panic is
//! reported, `join` returns the error, and the program carries on.

use std::panic;
use std::thread;

fn main() {
    let worker = thread::Builder::new()
        .name("worker".into())
        .spawn(|| {
            let divisor = std::env::args().count() - 1;
            if divisor == 0 {
                panic!("the worker was given nothing to divide by");
            }
            100 / divisor
        })
        .expect("spawned");
    match worker.join() {
        Ok(value) => println!("worker returned {value}"),
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("?");
            println!("worker panicked: {message}");
        }
    }
    let caught = panic::catch_unwind(|| {
        let v: Vec<u8> = Vec::new();
        v[3]
    });
    println!("catch_unwind caught an index panic: {}", caught.is_err());
    println!("still running");
}
