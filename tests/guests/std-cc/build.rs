//! Compiles `c/probe.c` with the host's C compiler and glibc headers.

fn main() {
    println!("cargo:rerun-if-changed=c/probe.c");
    cc::Build::new()
        .file("c/probe.c")
        .opt_level(2)
        .define("_FORTIFY_SOURCE", "2")
        .flag("-fstack-protector-strong")
        .warnings(true)
        .compile("probe");
}
