//! The library OS with no optional services: the native runtime, console
//! and exit only.
#![no_std]
#![no_main]

kiln::entry!(main);

fn main() {
    kiln::println!("minimal");
}
