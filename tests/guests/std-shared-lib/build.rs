//! Builds a tiny shared library and links the program against it, as a
//! -sys crate that names a system library's shared object does.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let source = out.join("answer.c");
    std::fs::write(&source, "int kiln_shared_answer(void) { return 42; }\n").expect("write");
    let status = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args(["-shared", "-fPIC", "-o"])
        .arg(out.join("libkilnanswer.so"))
        .arg(&source)
        .status()
        .expect("run the C compiler");
    assert!(status.success(), "cc -shared failed");
    println!("cargo:rustc-link-search=native={}", out.display());
    println!("cargo:rustc-link-lib=dylib=kilnanswer");
}
