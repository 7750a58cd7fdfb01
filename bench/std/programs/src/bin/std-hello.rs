fn main() { println!("Hello from std on Kiln!"); }
