//! Commits a CPU fault, to show Kiln's crash report. The first argument
//! picks which: `invalid-pointer` (default), `null`, `write-code`,
//! `invalid-opcode`, `general-protection` or `stack-overflow`.
#![no_std]
#![no_main]

use core::ptr;

use kiln::eprintln;

kiln::entry!(main);

fn main() -> i32 {
    let mode = kiln::env::args().nth(1).unwrap_or("invalid-pointer");
    match mode {
        "invalid-pointer" => read_invalid_pointer(),
        "null" => read_null(),
        "write-code" => write_code(),
        "invalid-opcode" => invalid_opcode(),
        "general-protection" => general_protection(),
        "stack-overflow" => kiln::println!("{}", recurse(1)),
        other => {
            eprintln!("fault: unknown mode {other}");
            return 2;
        }
    }
    eprintln!("fault: survived {mode}?");
    1
}

/// Reads memory far past the end of guest memory.
#[inline(never)]
fn read_invalid_pointer() {
    // SAFETY: none; this fault is the point of the example.
    let value = unsafe { ptr::read_volatile(0x7fff_dead_0000 as *const u64) };
    eprintln!("read {value}");
}

#[inline(never)]
fn read_null() {
    let null = core::hint::black_box(ptr::null::<u64>());
    // SAFETY: none; this fault is the point of the example.
    let value = unsafe { ptr::read_volatile(null) };
    eprintln!("read {value}");
}

/// Writes into its own code, which is mapped read-only and executable.
#[inline(never)]
fn write_code() {
    let code = write_code as *const () as *mut u8;
    // SAFETY: none; this fault is the point of the example.
    unsafe { ptr::write_volatile(code, 0xcc) };
}

#[inline(never)]
fn invalid_opcode() {
    // SAFETY: none; `ud2` raises #UD by design.
    unsafe { core::arch::asm!("ud2") };
}

/// Dereferences a non-canonical address, which raises #GP rather than #PF.
#[inline(never)]
fn general_protection() {
    // SAFETY: none; this fault is the point of the example.
    let value = unsafe { ptr::read_volatile(0x8000_0000_0000_0000u64 as *const u64) };
    eprintln!("read {value}");
}

/// Recurses until the stack runs into its guard page.
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let frame = core::hint::black_box([depth; 64]);
    if depth == u64::MAX {
        return frame[0];
    }
    recurse(depth + 1) + frame[1]
}
