//! Calls the shared library its build script made.

unsafe extern "C" {
    fn kiln_shared_answer() -> i32;
}

fn main() {
    // SAFETY: a C function without arguments.
    println!("answer {}", unsafe { kiln_shared_answer() });
}
