//! A guest that breaks the hypercall ABI on purpose, one way per argument,
//! to show that the monitor ends it cleanly instead of trusting it.
#![no_std]
#![no_main]

use core::arch::asm;

use kiln_abi::GuestPtr;
use kiln_abi::hypercall::{
    CONSOLE_WRITE_MAX, ConsoleWriteArgs, Hypercall, PORT_BASE, PanicArgs, stream,
};

kiln::entry!(main);

fn main() -> i32 {
    let Some(case) = kiln::env::args().nth(1) else {
        kiln::eprintln!("usage: hostile CASE");
        return 2;
    };
    let memory = kiln::platform::boot_info().memory_size;
    let text = b"never printed\n";
    match case {
        "console-outside" => console(stream::STDOUT, 0xffff_0000, 16),
        "console-huge-length" => console(stream::STDOUT, text.as_ptr() as u64, u64::MAX),
        "console-wrapping" => console(stream::STDOUT, u64::MAX - 4, 16),
        "console-too-long" => console(stream::STDOUT, text.as_ptr() as u64, CONSOLE_WRITE_MAX + 1),
        "console-past-end" => console(stream::STDOUT, memory - 8, 16),
        "console-bad-stream" => console(7, text.as_ptr() as u64, text.len() as u64),
        "args-outside" => out32(Hypercall::ConsoleWrite.port(), 0xffff_fff0),
        "args-straddling-end" => out32(Hypercall::ConsoleWrite.port(), (memory - 8) as u32),
        "unknown-call" => out32(PORT_BASE + 9, 0x1000),
        "byte-access" => out8(Hypercall::ConsoleWrite.port(), 0),
        "panic-outside" => {
            let mut args = PanicArgs {
                message: GuestPtr::new(memory + 4096),
                len: 8,
            };
            call(Hypercall::Panic, &mut args);
        }
        "panic-huge" => {
            let mut args = PanicArgs {
                message: GuestPtr::from_ptr(text.as_ptr()),
                len: 1 << 40,
            };
            call(Hypercall::Panic, &mut args);
        }
        "foreign-port" => out32(0x80, 0),
        _ => {
            kiln::eprintln!("hostile: unknown case {case}");
            return 2;
        }
    }
    kiln::eprintln!("hostile: the monitor resumed after {case}");
    1
}

fn console(stream: u32, data: u64, len: u64) {
    let mut args = ConsoleWriteArgs {
        stream,
        reserved: 0,
        data: GuestPtr::new(data),
        len,
    };
    call(Hypercall::ConsoleWrite, &mut args);
}

fn call<T>(call: Hypercall, args: &mut T) {
    out32(call.port(), args as *mut T as u64 as u32);
}

fn out32(port: u16, value: u32) {
    // SAFETY: a port write only exits to the monitor (or faults, for ports
    // outside the hypercall range); that is what this guest is testing.
    unsafe { asm!("out dx, eax", in("dx") port, in("eax") value) };
}

fn out8(port: u16, value: u8) {
    // SAFETY: as for `out32`.
    unsafe { asm!("out dx, al", in("dx") port, in("al") value) };
}
