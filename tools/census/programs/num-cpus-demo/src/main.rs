//! The number of CPUs.
fn main() {
    println!("{} {}", num_cpus::get(), num_cpus::get_physical());
}
