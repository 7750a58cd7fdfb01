//! An ordinary program that calls a C-library function Kiln does not
//! provide: `kiln build` must fail and name it.

use std::ffi::{c_char, c_void};

unsafe extern "C" {
    fn getspnam(name: *const c_char) -> *mut c_void;
}

fn main() {
    // SAFETY: a valid C string; the result is only compared with null.
    let entry = unsafe { getspnam(c"root".as_ptr()) };
    println!("shadow entry exists: {}", !entry.is_null());
}
