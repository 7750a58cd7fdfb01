//! Calls the system zlib that `libz-sys` found: its version and a CRC-32.

fn main() {
    let data = b"The quick brown fox jumps over the lazy dog";
    // SAFETY: zlib's functions with a valid buffer and its length.
    let (version, crc) = unsafe {
        let version = std::ffi::CStr::from_ptr(libz_sys::zlibVersion());
        let crc = libz_sys::crc32(0, data.as_ptr(), data.len() as u32);
        (version.to_string_lossy().into_owned(), crc)
    };
    println!(
        "zlib {}: crc32 {crc:08x}",
        version.split('.').next().unwrap_or("?")
    );
}
