//! Compiles the monitor's seccomp allowlist (`seccomp/x86_64.json`) to BPF
//! at build time, so applying it at boot costs no parsing.
//!
//! The file holds two lists: `run_loop`, what every VM's run loop needs,
//! and `volumes`, what serving host volumes adds. Two programs come out:
//! `run_loop.bpf`, and `run_loop_volumes.bpf` with both lists, where a
//! syscall that `volumes` allows outright (such as `write`) replaces the
//! narrower `run_loop` rules for it. VMs without volumes keep the tight one.

use std::io::Write;
use std::path::Path;

use serde_json::Value;

fn main() {
    let source = "seccomp/x86_64.json";
    println!("cargo:rerun-if-changed={source}");
    let text = std::fs::read_to_string(source).expect("the seccomp allowlist is part of the crate");
    let lists: Value = serde_json::from_str(&text).expect("seccomp/x86_64.json is JSON");
    let mut combined = lists["run_loop"].clone();
    let extra = lists["volumes"]["filter"]
        .as_array()
        .expect("the volumes list has a filter array");
    let unconditional: Vec<&Value> = extra
        .iter()
        .filter(|rule| rule.get("args").is_none())
        .map(|rule| &rule["syscall"])
        .collect();
    let rules = combined["filter"]
        .as_array_mut()
        .expect("the run_loop list has a filter array");
    // seccompiler drops an argument-less rule for a syscall that also has
    // conditional rules, so the narrower rules must go.
    rules.retain(|rule| !unconditional.contains(&&rule["syscall"]));
    rules.extend(extra.iter().cloned());
    let filters = serde_json::json!({
        "run_loop": lists["run_loop"],
        "run_loop_volumes": combined,
    });
    let compiled = seccompiler::compile_from_json(
        filters.to_string().as_bytes(),
        seccompiler::TargetArch::x86_64,
    )
    .expect("seccomp/x86_64.json is a valid seccompiler filter");
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    for (name, program) in compiled {
        write_program(&Path::new(&out_dir).join(format!("{name}.bpf")), &program);
    }
}

/// Writes BPF instructions as 8-byte little-endian records.
fn write_program(path: &Path, program: &[seccompiler::sock_filter]) {
    let mut file = std::fs::File::create(path).expect("OUT_DIR is writable");
    for insn in program {
        file.write_all(&insn.code.to_le_bytes())
            .and_then(|()| file.write_all(&[insn.jt, insn.jf]))
            .and_then(|()| file.write_all(&insn.k.to_le_bytes()))
            .expect("OUT_DIR is writable");
    }
}
