//! Exits with the status given as its first argument.
#![no_std]
#![no_main]

use kiln::eprintln;

kiln::entry!(main);

fn main() -> i32 {
    match kiln::env::args().nth(1).map(str::parse::<i32>) {
        Some(Ok(status)) => status,
        _ => {
            eprintln!("usage: exit-code STATUS");
            2
        }
    }
}
