//! Calls C code compiled by the `cc` crate against the host's glibc
//! headers (see `build.rs`) and prints what it answers; with the argument
//! "assert", a C `assert` fails.

use std::ffi::{CStr, c_char, c_int};

unsafe extern "C" {
    fn probe_ctype(text: *const c_char, out: *mut c_char, size: usize);
    fn probe_numbers(out: *mut c_char, size: usize);
    fn probe_strings(out: *mut c_char, size: usize, word: *const c_char);
    fn probe_math(out: *mut c_char, size: usize);
    fn probe_assert(value: c_int);
}

/// Runs one probe with a fresh output buffer and prints what it wrote.
fn show(name: &str, probe: impl FnOnce(*mut c_char, usize)) {
    let mut out = [0 as c_char; 512];
    probe(out.as_mut_ptr(), out.len());
    // SAFETY: the probes keep the buffer NUL-terminated.
    let text = unsafe { CStr::from_ptr(out.as_ptr()) };
    println!("{name}: {}", text.to_string_lossy());
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("assert") {
        // SAFETY: a C function taking an int.
        unsafe { probe_assert(7) };
    }
    // SAFETY: each probe writes at most `size` bytes to `out`; the inputs
    // are C strings.
    unsafe {
        show("ctype", |out, size| {
            probe_ctype(c"Hi, 7 Zebras!\t\u{e9}".as_ptr(), out, size)
        });
        show("numbers", |out, size| probe_numbers(out, size));
        show("strings", |out, size| {
            probe_strings(out, size, c"kiln".as_ptr())
        });
        show("math", |out, size| probe_math(out, size));
    }
}
