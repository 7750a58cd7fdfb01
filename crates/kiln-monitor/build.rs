//! Compiles the monitor's seccomp allowlist (`seccomp/x86_64.json`) to BPF
//! at build time, so applying it at boot costs no parsing.

use std::io::Write;

fn main() {
    let source = "seccomp/x86_64.json";
    println!("cargo:rerun-if-changed={source}");
    let json = std::fs::File::open(source).expect("the seccomp allowlist is part of the crate");
    let filters = seccompiler::compile_from_json(json, seccompiler::TargetArch::x86_64)
        .expect("seccomp/x86_64.json is a valid seccompiler filter");
    let program = &filters["run_loop"];
    let out = std::path::Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("run_loop.bpf");
    let mut file = std::fs::File::create(out).expect("OUT_DIR is writable");
    for insn in program {
        file.write_all(&insn.code.to_le_bytes())
            .and_then(|()| file.write_all(&[insn.jt, insn.jf]))
            .and_then(|()| file.write_all(&insn.k.to_le_bytes()))
            .expect("OUT_DIR is writable");
    }
}
