//! An ordinary program whose spawned thread recurses past the end of its
//! stack: its guard page must stop it, and Kiln must name the thread. A
//! buffer allocated first lies below the stack, so without the guard page
//! the overflow would silently overwrite it; at 16 MiB it is larger than
//! the memory a guest starts with, so the stack is in memory the guest
//! grew into, whose page tables the monitor wrote then.

use std::hint::black_box;
use std::thread;

#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let frame = black_box([depth; 128]);
    if depth == 0 {
        thread::yield_now();
        return frame[0];
    }
    recurse(depth - 1) + frame[1]
}

fn main() {
    let below = black_box(vec![0u8; 16 << 20]);
    let worker = thread::Builder::new()
        .name("deep".into())
        .stack_size(64 * 1024)
        .spawn(|| recurse(200))
        .expect("spawned");
    println!("worker returned {:?}", worker.join().is_ok());
    drop(below);
}
