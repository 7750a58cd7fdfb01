//! Empty: this package only pins crates for `cargo fetch` (see Cargo.toml).
