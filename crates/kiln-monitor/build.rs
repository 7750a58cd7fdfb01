//! Compiles the monitor's seccomp allowlist (`seccomp/x86_64.json`) to BPF
//! at build time, so applying it at boot costs no parsing.
//!
//! The file holds five lists: `run_loop`, what every VM's run loop needs;
//! `volumes`, what serving host volumes adds; `net`, what the network
//! device's backend adds; `forwarder`, what the `--net ports` thread needs,
//! and `forwarder_refused`, what it may try but must not do.
//! Four run-loop programs come out, one per combination: `run_loop.bpf`,
//! `run_loop_volumes.bpf`, `run_loop_net.bpf` and `run_loop_volumes_net.bpf`;
//! where an added list allows a syscall outright (such as `write`), that
//! replaces the narrower `run_loop` rules for it. VMs without volumes or
//! network keep the tight one. The forwarder's thread gets `forwarder.bpf`,
//! its list alone, stacked with `forwarder_refused.bpf`, which fails the
//! calls it lists with an errno instead of killing (the kernel applies the
//! stricter answer of the two). `file_writer` is the core writer's thread's:
//! creating, writing and renaming one file, and memory; `gdb` is the gdb
//! session's thread's: its socket, the eventfds, the kick and the timeout's
//! clock.

use std::io::Write;
use std::path::Path;

use serde_json::Value;

fn main() {
    let source = "seccomp/x86_64.json";
    println!("cargo:rerun-if-changed={source}");
    let text = std::fs::read_to_string(source).expect("the seccomp allowlist is part of the crate");
    let lists: Value = serde_json::from_str(&text).expect("seccomp/x86_64.json is JSON");
    let filters = serde_json::json!({
        "run_loop": lists["run_loop"],
        "run_loop_volumes": combine(&lists, &["volumes"]),
        "run_loop_net": combine(&lists, &["net"]),
        "run_loop_volumes_net": combine(&lists, &["volumes", "net"]),
        "forwarder": lists["forwarder"],
        "forwarder_refused": lists["forwarder_refused"],
        "file_writer": lists["file_writer"],
        "gdb": lists["gdb"],
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

/// `run_loop` with the rules of the `extra` lists added.
fn combine(lists: &Value, extra: &[&str]) -> Value {
    let mut combined = lists["run_loop"].clone();
    let mut added: Vec<Value> = Vec::new();
    for name in extra {
        let rules = lists[name]["filter"]
            .as_array()
            .expect("each added list has a filter array");
        for rule in rules {
            // Two lists may both allow a syscall outright; once is enough.
            let unconditional = |r: &Value| r.get("args").is_none();
            if unconditional(rule)
                && added
                    .iter()
                    .any(|r| unconditional(r) && r["syscall"] == rule["syscall"])
            {
                continue;
            }
            added.push(rule.clone());
        }
    }
    let unconditional: Vec<&Value> = added
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
    rules.extend(added.iter().cloned());
    combined
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
