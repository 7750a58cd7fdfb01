//! An ordinary Rust program that reads its arguments and environment, asks
//! for its own path, and exits with status 7.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    println!("args: {args:?}");
    match std::env::var("GREETING") {
        Ok(value) => println!("GREETING={value}"),
        Err(e) => println!("GREETING is not set: {e}"),
    }
    let mut keys: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
    keys.sort();
    println!("env keys: {keys:?}");
    match std::env::current_exe() {
        Ok(path) => println!("current_exe: {}", path.display()),
        Err(e) => println!("current_exe failed: {e}"),
    }
    println!(
        "cwd: {:?}",
        std::env::current_dir().map(|p| p.display().to_string())
    );
    std::process::exit(7);
}
