//! An ordinary program that fails in `main`: by default it panics (std
//! prints the message and exits 101, as on Linux); with the argument
//! `abort` it calls `std::process::abort()`, which Kiln reports as a crash.

fn main() {
    let abort = std::env::args().nth(1).is_some_and(|a| a == "abort");
    let values: Vec<u32> = std::env::args().skip(2).map(|a| a.len() as u32).collect();
    println!("checking {} values", values.len());
    check(&values, abort);
}

#[inline(never)]
fn check(values: &[u32], abort: bool) {
    if values.is_empty() {
        if abort {
            eprintln!("no values were given; aborting");
            std::process::abort();
        }
        panic!("no values were given");
    }
}
