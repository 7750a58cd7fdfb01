//! anyhow: errors with context, the cause chain, downcasting, and a
//! captured backtrace that must name `main` (so symbols are resolved from
//! the running program, as on Linux).
use anyhow::{anyhow, bail, Context, Result};
use std::backtrace::BacktraceStatus;

#[inline(never)]
fn parse_port(text: &str) -> Result<u16> {
    let port: u16 = text
        .trim()
        .parse()
        .with_context(|| format!("port {text:?} is not a number"))?;
    if port < 1024 {
        bail!("port {port} is privileged");
    }
    Ok(port)
}

#[inline(never)]
fn read_config(path: &str) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {path}"))
}

fn main() {
    for text in ["8080", "80", "http", "99999"] {
        match parse_port(text) {
            Ok(port) => println!("port {port}"),
            Err(e) => println!("error: {e:#}"),
        }
    }
    let error = read_config("/nonexistent/kiln.toml").unwrap_err();
    println!("{error}");
    for cause in error.chain() {
        println!("  caused by: {cause}");
    }
    let io = error.downcast_ref::<std::io::Error>().expect("io error");
    println!("io kind {:?} errno {:?}", io.kind(), io.raw_os_error());
    let plain = anyhow!("plain message {}", 7);
    println!("{plain:#}");

    // Not anyhow's own capture: whether it captures depends on
    // RUST_BACKTRACE, which the host may set and the guest does not get.
    let captured = std::backtrace::Backtrace::force_capture();
    println!(
        "backtrace captured: {}",
        captured.status() == BacktraceStatus::Captured
    );
    println!(
        "backtrace names main: {}",
        captured.to_string().contains("use_anyhow::main")
    );
}
