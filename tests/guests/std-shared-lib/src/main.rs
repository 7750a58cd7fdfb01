//! Calls the shared zlib its build script linked.

unsafe extern "C" {
    fn zlibVersion() -> *const std::ffi::c_char;
}

fn main() {
    // SAFETY: zlib's version string is static and NUL-terminated.
    let version = unsafe { std::ffi::CStr::from_ptr(zlibVersion()) };
    println!("zlib {}", version.to_string_lossy());
}
