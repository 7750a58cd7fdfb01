//! A dependency with a `cdylib` crate type: its code has unwind tables and
//! calls into `std`, so its shared-library link needs position-independent
//! code.

/// The greeting for `name`.
pub fn greet(name: &str) -> String {
    format!("hello, {name}, from a cdylib crate")
}
