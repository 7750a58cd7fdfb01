//! The C-library paths ordinary Rust code runs through most: slice
//! comparison and copies (memcmp, memcpy, memset), allocation, formatting,
//! and a panic caught by `catch_unwind`. One line per operation: its name
//! and nanoseconds per call.

use std::hint::black_box;
use std::time::Instant;

fn time(name: &str, iterations: u32, mut operation: impl FnMut()) {
    let start = Instant::now();
    for _ in 0..iterations {
        operation();
    }
    let nanos = start.elapsed().as_nanos() as f64 / f64::from(iterations);
    println!("{name}\t{nanos:.1}");
}

fn deep(n: u32) -> u32 {
    if n == 0 {
        panic!("deep")
    }
    black_box(deep(n - 1)) + 1
}

fn main() {
    let a = vec![7u8; 1 << 20];
    let b = a.clone();
    time("compare 1 MiB", 200, || {
        black_box(black_box(&a[..]) == black_box(&b[..]));
    });
    let (x, y) = (vec![1u8; 64], vec![1u8; 64]);
    time("compare 64 B", 1_000_000, || {
        black_box(black_box(&x[..]) == black_box(&y[..]));
    });
    let mut target = vec![0u8; 1 << 20];
    time("copy 1 MiB", 200, || {
        black_box(&mut target[..]).copy_from_slice(black_box(&a[..]));
    });
    let mut small = [0u8; 200];
    time("copy 24 B", 5_000_000, || {
        black_box(&mut small[..24]).copy_from_slice(black_box(&a[..24]));
    });
    time("copy 200 B", 5_000_000, || {
        black_box(&mut small[..]).copy_from_slice(black_box(&a[..200]));
    });
    time("fill 4 KiB", 100_000, || {
        black_box(&mut target[..4096]).fill(black_box(3));
    });
    time("push 1000 u64 into a Vec", 20_000, || {
        let mut v = Vec::new();
        for i in 0..1000u64 {
            v.push(i);
        }
        black_box(v);
    });
    time("format a short String", 200_000, || {
        black_box(format!("{} {}", black_box(12345), black_box("abc")));
    });
    std::panic::set_hook(Box::new(|_| {}));
    time("catch a panic", 2_000, || {
        black_box(std::panic::catch_unwind(|| {
            if black_box(true) {
                panic!("caught")
            }
        }))
        .ok();
    });
    time("catch a panic 20 frames deep", 1_000, || {
        black_box(std::panic::catch_unwind(|| deep(black_box(20)))).ok();
    });
}
