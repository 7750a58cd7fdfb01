//! The user's standard directories.
fn main() {
    println!(
        "{:?} {:?} {:?}",
        dirs::home_dir(),
        dirs::config_dir(),
        dirs::cache_dir()
    );
}
