//! The baseline: what every std program imports before any crate adds to it.
fn main() {
    println!("hello from std");
}
