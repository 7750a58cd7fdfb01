//! Compiles the C half of the test (`c/stdio.c`) against the host's
//! headers, as the `cc` crate builds C code for any crate.

fn main() {
    println!("cargo::rerun-if-changed=c/stdio.c");
    cc::Build::new()
        .file("c/stdio.c")
        .opt_level(2)
        .define("_FORTIFY_SOURCE", "2")
        .warnings(true)
        // The truncation the test asks for is what the warning is about.
        .flag("-Wno-format-truncation")
        .compile("stdio_c");
}
