//! Crash reports on the serial console, for `kiln symbolize` to finish.
//!
//! The guest cannot symbolize itself (the image keeps no DWARF in memory),
//! so it prints what the Kiln monitor would read from guest memory: what
//! happened, the registers, and the stack from the stack pointer up, as
//! `kiln-crash:` lines. `kiln symbolize IMAGE` unwinds that stack with the
//! monitor's own unwinder and prints the monitor's report.

use kiln_abi::trap::TrapFrame;

use super::serial;

/// The line prefix `kiln symbolize` looks for.
const PREFIX: &[u8] = b"kiln-crash: ";
/// Bytes of stack printed above the stack pointer: enough for the frames of
/// a panic through `std` and the program's own.
const STACK_DUMP: u64 = 16 * 1024;
/// The exit statuses of Kiln's monitor: a panic, a fault.
const PANIC_STATUS: i32 = 134;
const FAULT_STATUS: i32 = 139;

/// Registers in the order the report prints them: rip, rsp, rbp, rax, rbx,
/// rcx, rdx, rsi, rdi, r8 to r15.
type Registers = [u64; 17];

/// Where a CPU exception ends up (from `kiln_pvh_trap`, at CPL3 on the boot
/// stack): `frame` is the trap stub's frame, `cr2` the fault address.
pub extern "C" fn trap(frame: *const TrapFrame, cr2: u64) -> ! {
    // SAFETY: the stub's frame on the trap stack, which nothing else uses now.
    let f = unsafe { &*frame };
    super::flush_console();
    let mut line = Line::new();
    let guard = super::boot::STACK_GUARD.load(core::sync::atomic::Ordering::Relaxed);
    let overflow = guard != 0 && cr2 & !0xfff == guard;
    line.text(PREFIX)
        .text(b"trap")
        .hex(f.vector)
        .hex(f.error_code)
        .hex(cr2);
    line.hex(u64::from(overflow)).end();
    line.flush();
    let registers = [
        f.rip, f.rsp, f.rbp, f.rax, f.rbx, f.rcx, f.rdx, f.rsi, f.rdi, f.r8, f.r9, f.r10, f.r11,
        f.r12, f.r13, f.r14, f.r15,
    ];
    finish(&registers, FAULT_STATUS)
}

/// Reports a panic with `message`; the registers are the caller's.
#[inline(never)]
pub fn panic(message: &[u8]) -> ! {
    let mut registers = [0u64; 17];
    // SAFETY: `kiln_pvh_registers` writes 17 words to its argument.
    unsafe { kiln_pvh_registers(&mut registers) };
    super::flush_console();
    serial::write(PREFIX);
    serial::write(b"panic ");
    // One line: line breaks and backslashes escaped, in runs between them.
    let mut rest = message;
    while !rest.is_empty() {
        let run = rest
            .iter()
            .position(|&b| b == b'\n' || b == b'\\')
            .unwrap_or(rest.len());
        serial::write(&rest[..run]);
        if let Some(&special) = rest.get(run) {
            serial::write(if special == b'\n' { b"\\n" } else { b"\\\\" });
            rest = &rest[run + 1..];
        } else {
            rest = &[];
        }
    }
    serial::write(b"\n");
    finish(&registers, PANIC_STATUS)
}

unsafe extern "C" {
    /// Stores the registers as its caller sees them (rip: the return address).
    fn kiln_pvh_registers(out: *mut Registers);
}

core::arch::global_asm!(
    ".section .text.kiln_pvh,\"ax\",@progbits",
    "kiln_pvh_registers:",
    "mov rax, [rsp]",
    "mov [rdi], rax",
    "lea rax, [rsp + 8]",
    "mov [rdi + 8], rax",
    "mov [rdi + 16], rbp",
    "mov [rdi + 32], rbx",
    "mov [rdi + 40], rcx",
    "mov [rdi + 48], rdx",
    "mov [rdi + 56], rsi",
    "mov [rdi + 64], rdi",
    "mov [rdi + 72], r8",
    "mov [rdi + 80], r9",
    "mov [rdi + 88], r10",
    "mov [rdi + 96], r11",
    "mov [rdi + 104], r12",
    "mov [rdi + 112], r13",
    "mov [rdi + 120], r14",
    "mov [rdi + 128], r15",
    "ret",
);

/// A line of text built without `core::fmt` (kept small: this code is in
/// every image), written out when it fills up or ends.
struct Line {
    buf: [u8; 1024],
    len: usize,
}

impl Line {
    fn new() -> Self {
        Self {
            buf: [0; 1024],
            len: 0,
        }
    }

    #[inline(never)]
    fn text(&mut self, bytes: &[u8]) -> &mut Self {
        if self.len + bytes.len() > self.buf.len() {
            self.flush();
        }
        let take = bytes.len().min(self.buf.len());
        self.buf[self.len..self.len + take].copy_from_slice(&bytes[..take]);
        self.len += take;
        self
    }

    /// A space, then `value` in hexadecimal (no leading zeros).
    #[inline(never)]
    fn hex(&mut self, value: u64) -> &mut Self {
        let mut digits = [b' '; 17];
        let mut len = 1;
        // An opaque start keeps the loop a loop (this code is in every image).
        let mut shift = core::hint::black_box(64u32);
        while shift > 0 {
            shift -= 4;
            let digit = (value >> shift) as usize & 15;
            if digit != 0 || len > 1 || shift == 0 {
                digits[len] = b"0123456789abcdef"[digit];
                len += 1;
            }
        }
        self.text(&digits[..len])
    }

    #[inline(never)]
    fn end(&mut self) {
        self.text(b"\n");
    }

    #[inline(never)]
    fn flush(&mut self) {
        serial::write(&self.buf[..self.len]);
        self.len = 0;
    }
}

/// Prints the registers, the thread, the stack, and ends the VM.
fn finish(registers: &Registers, status: i32) -> ! {
    let mut line = Line::new();
    line.text(PREFIX).text(b"registers");
    for &value in registers {
        line.hex(value);
    }
    line.end();
    let area = crate::platform::kiln::vcpu_area();
    // SAFETY: this vCPU's record; the thread id is plain data.
    let thread = unsafe { (*area).thread };
    line.text(PREFIX).text(b"thread").hex(thread).end();
    let rsp = registers[1] & !7;
    let end = rsp.saturating_add(STACK_DUMP).min(super::memory_top());
    if rsp < end {
        line.text(PREFIX).text(b"stack").hex(rsp).hex(end).end();
    }
    let mut at = rsp;
    let guard = super::boot::STACK_GUARD.load(core::sync::atomic::Ordering::Relaxed);
    while at < end {
        // The unmapped pages (an overflowed stack pointer is in the guard).
        if at < 4096 || (guard != 0 && at & !0xfff == guard) {
            at = (at | 0xfff) + 1;
            continue;
        }
        // SAFETY: `at` is 8-byte aligned, below the top of RAM and on a
        // mapped page.
        let word = unsafe { (at as *const u64).read_volatile() };
        // Zero words are left out: the reader takes missing words as zero.
        if word != 0 {
            line.text(PREFIX).text(b"words").hex(at).hex(word).end();
        }
        at += 8;
    }
    line.text(PREFIX).text(b"end").hex(status as u64).end();
    line.flush();
    super::power_off(status)
}
