//! An ordinary program that tries to start another process, which a
//! unikernel cannot do: the errors must come back cleanly at run time.

use std::process::Command;

fn main() {
    match Command::new("ls").arg("/").status() {
        Ok(status) => println!("status: ls ran?! {status}"),
        Err(e) => println!("status: {e} ({:?})", e.kind()),
    }
    match Command::new("ls").arg("/").output() {
        Ok(output) => println!("output: ls ran?! {}", output.status),
        Err(e) => println!("output: {e} ({:?})", e.kind()),
    }
    println!("still running");
}
