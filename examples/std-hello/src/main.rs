//! An ordinary Rust program: `kiln build` links it against Kiln's C library.

fn main() {
    println!("Hello from std on Kiln!");
    for (i, arg) in std::env::args().enumerate().skip(1) {
        println!("arg {i}: {arg}");
    }
}
