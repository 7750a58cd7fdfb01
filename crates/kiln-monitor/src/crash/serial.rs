//! Crash reports a guest printed on a serial console (booted through PVH on
//! another hypervisor, with no Kiln monitor to read its memory): the
//! `kiln-crash:` lines of `kiln-libos`'s `platform/pvh/crash.rs`, turned
//! into the report the monitor itself would have written.
//!
//! The lines are: `panic MESSAGE` (`\n` and `\\` escaped) or `trap VECTOR
//! ERROR CR2 OVERFLOW` (1: the fault hit the main stack's guard page), then `registers` (rip, rsp, rbp, rax, rbx, rcx, rdx, rsi,
//! rdi, r8 to r15), `thread ID`, `stack FROM TO` and `words ADDRESS WORD...`
//! (up to four consecutive words; zero words left out), and `end STATUS`;
//! numbers in hex.

use std::collections::HashMap;

use super::report::{CrashKind, CrashReport, CrashedThread};
use super::unwind::{Registers, StackMemory};

/// The prefix of every crash line.
pub const PREFIX: &str = "kiln-crash: ";

/// A crash report being read, line by line.
#[derive(Debug, Default)]
pub struct SerialCrash {
    kind: Option<CrashKind>,
    registers: Registers,
    thread: u64,
    stack: (u64, u64),
    words: HashMap<u64, u64>,
}

/// A finished crash: the report and the exit status the guest gave.
#[derive(Debug)]
pub struct SerialReport {
    /// The symbolized report.
    pub report: CrashReport,
    /// The guest's exit status (134 for a panic, 139 for a fault).
    pub status: u8,
}

impl StackMemory for SerialCrash {
    fn read_u64(&self, addr: u64) -> Option<u64> {
        if addr < self.stack.0 || addr.checked_add(8)? > self.stack.1 || !addr.is_multiple_of(8) {
            return None;
        }
        // Words the guest left out were zero.
        Some(self.words.get(&addr).copied().unwrap_or(0))
    }
}

fn hex(field: Option<&str>) -> Option<u64> {
    u64::from_str_radix(field?, 16).ok()
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (c, c == '\\') {
            (_, true) => match chars.next() {
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            },
            (c, false) => out.push(c),
        }
    }
    out
}

impl SerialCrash {
    /// Takes one console line. Returns false for a line that is not part
    /// of a crash report (the caller passes it through).
    pub fn feed(&mut self, line: &str) -> bool {
        let Some(rest) = line.strip_prefix(PREFIX) else {
            return false;
        };
        let (word, rest) = rest.split_once(' ').unwrap_or((rest, ""));
        let mut fields = rest.split(' ');
        match word {
            "panic" => {
                *self = Self::default();
                self.kind = Some(CrashKind::Panic {
                    message: unescape(rest),
                });
            }
            "trap" => {
                *self = Self::default();
                let vector = hex(fields.next()).unwrap_or_default();
                let error_code = hex(fields.next()).unwrap_or_default();
                let cr2 = hex(fields.next()).unwrap_or_default();
                let stack_overflow = hex(fields.next()) == Some(1);
                self.kind = Some(CrashKind::Exception {
                    vector,
                    error_code,
                    fault_address: (vector == kiln_abi::trap::PAGE_FAULT).then_some(cr2),
                    stack_overflow,
                });
            }
            "registers" => {
                let mut next = || hex(fields.next()).unwrap_or_default();
                let r = &mut self.registers;
                for slot in [
                    &mut r.rip, &mut r.rsp, &mut r.rbp, &mut r.rax, &mut r.rbx, &mut r.rcx,
                    &mut r.rdx, &mut r.rsi, &mut r.rdi, &mut r.r8, &mut r.r9, &mut r.r10,
                    &mut r.r11, &mut r.r12, &mut r.r13, &mut r.r14, &mut r.r15,
                ] {
                    *slot = next();
                }
            }
            "thread" => self.thread = hex(fields.next()).unwrap_or_default(),
            "stack" => {
                self.stack = (
                    hex(fields.next()).unwrap_or_default(),
                    hex(fields.next()).unwrap_or_default(),
                );
            }
            "words" => {
                if let Some(address) = hex(fields.next()) {
                    for (i, value) in fields.take(4).enumerate() {
                        if let (Some(value), Some(at)) =
                            (hex(Some(value)), address.checked_add(8 * i as u64))
                        {
                            self.words.insert(at, value);
                        }
                    }
                }
            }
            _ => {}
        }
        true
    }

    /// The report, once `line` (just fed) was the `end` line of a report
    /// whose kind was seen; `image` is the image file's bytes.
    pub fn finish(&mut self, line: &str, image: &[u8]) -> Option<SerialReport> {
        let status = line.strip_prefix(PREFIX)?.strip_prefix("end ")?;
        let status = hex(Some(status.trim())).unwrap_or(1) as u8;
        let crash = std::mem::take(self);
        let kind = crash.kind.clone()?;
        let exact_pc = !kind.is_panic();
        let thread = CrashedThread {
            id: crash.thread,
            ..CrashedThread::default()
        };
        let report =
            CrashReport::from_stack(kind, crash.registers, exact_pc, image, &crash, thread);
        Some(SerialReport { report, status })
    }
}
