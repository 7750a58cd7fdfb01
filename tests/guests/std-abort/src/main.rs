//! An ordinary program that panics in `main`: std prints its message and
//! aborts, and Kiln reports the crash.

fn main() {
    let values: Vec<u32> = std::env::args().skip(1).map(|a| a.len() as u32).collect();
    println!("checking {} values", values.len());
    check(&values);
}

#[inline(never)]
fn check(values: &[u32]) {
    assert!(!values.is_empty(), "no values were given");
}
