//! Random and time-ordered UUIDs.
fn main() {
    println!("{} {}", uuid::Uuid::new_v4(), uuid::Uuid::now_v7());
}
