//! An ordinary program whose spawned thread recurses past the end of its
//! stack, then yields: Kiln must report the overflow and name the thread.
//! A buffer allocated first lies below the thread's stack, so the overflow
//! lands in it (not in read-only memory, which would fault at once).

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
    let below = black_box(vec![0u8; 1 << 20]);
    let worker = thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(|| recurse(200))
        .expect("spawned");
    println!("worker returned {:?}", worker.join().is_ok());
    drop(below);
}
