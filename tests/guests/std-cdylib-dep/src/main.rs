//! Prints what a dependency that is also a `cdylib` returns.

fn main() {
    println!("{}", greeting::greet("Kiln"));
}
