//! The C half (`c/stdio.c`), built by the `cc` crate against glibc's
//! headers: fortified printf, inline unlocked getc/putc, a C `va_list`.

use std::ffi::{CString, c_char, c_int};

unsafe extern "C" {
    fn kiln_c_stdio(path: *const c_char) -> c_int;
}

pub fn run() {
    // SAFETY: getpid cannot fail.
    let pid = unsafe { crate::c::getpid() };
    let path = CString::new(format!("/tmp/std-stdio-{pid}-from-c")).expect("no NUL");
    // SAFETY: a valid path string.
    let status = unsafe { kiln_c_stdio(path.as_ptr()) };
    println!("C half returned {status}");
}
