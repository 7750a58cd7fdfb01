//! Prints a greeting and its arguments.
#![no_std]
#![no_main]

use kiln::println;

kiln::entry!(main);

fn main() {
    println!("Hello from Kiln!");
    for (i, arg) in kiln::env::args().enumerate().skip(1) {
        println!("arg {i}: {arg}");
    }
}
