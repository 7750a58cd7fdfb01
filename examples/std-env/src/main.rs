//! An ordinary Rust program that reads its arguments and environment,
//! changes the environment, asks for its own path, and exits with status 7.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    println!("args: {args:?}");
    match std::env::var("GREETING") {
        Ok(value) => println!("GREETING={value}"),
        Err(e) => println!("GREETING is not set: {e}"),
    }
    // SAFETY: single-threaded; nothing else reads the environment meanwhile.
    unsafe {
        std::env::set_var("ADDED", "by the program");
        std::env::set_var("GREETING", "changed");
        std::env::remove_var("REMOVED");
    }
    let mut vars: Vec<(String, String)> = std::env::vars().collect();
    vars.sort();
    println!("env: {vars:?}");
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
