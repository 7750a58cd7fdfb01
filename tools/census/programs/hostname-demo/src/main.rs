//! The host name.
fn main() {
    println!("{:?}", hostname::get());
}
