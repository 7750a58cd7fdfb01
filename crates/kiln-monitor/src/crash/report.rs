//! Turning a guest's death into a report a person can act on.

use std::fmt;

use kiln_abi::trap::{self, TrapFrame};
use kvm_bindings::kvm_regs;

use super::printable::Printable;
use super::symbolize::{Frame, Symbolizer};
use super::unwind::{Registers, StackMemory, unwind};
use crate::image::Image;
use crate::layout::Layout;
use crate::memory::GuestMemory;

/// Deepest stack walked: enough for a whole overflowed main stack of small
/// recursive frames, which the report then folds.
const MAX_FRAMES: usize = 4096;

/// How far below the stack pointer a faulting access still counts as the
/// stack growing (large frames and stack probes reach this far).
const STACK_REACH: u64 = 64 * 1024;

/// Runs of identical frames longer than this are folded in the report.
const FOLD_AFTER: usize = 3;

/// Frames of the panic machinery, left out of panic backtraces so the first
/// frame shown is the code that panicked.
const PANIC_MACHINERY: [&str; 12] = [
    "kiln_libos::",
    "kiln_libc::",
    "__rustc::",
    "core::panicking::",
    "core::option::",
    "core::result::",
    "std::panicking::",
    "std::process::abort",
    "std::sys::pal::unix::abort_internal",
    "std::sys::backtrace::__rust_end_short_backtrace",
    // The C library's own entry points, by their C names.
    "abort",
    "__kiln_libc_start",
];

/// Crates whose frames are never "where" a crash happened, only "how".
const STANDARD_LIBRARIES: [&str; 8] = [
    "core::",
    "alloc::",
    "std::",
    "<core::",
    "<std::",
    "kiln_libos::",
    "kiln_libc::",
    "__rustc::",
];

/// Whether a frame belongs to the libraries under the program rather than
/// the program: the standard libraries, Kiln's, and C-ABI entry points (a
/// name without a Rust path, such as `syscall` or `abort`).
fn is_library(name: &str) -> bool {
    STANDARD_LIBRARIES.iter().any(|p| name.starts_with(p)) || !name.contains("::")
}

/// What killed the guest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CrashKind {
    /// The program panicked.
    Panic {
        /// The panic message, with its location.
        message: String,
    },
    /// A CPU exception reached the guest's trap stubs.
    Exception {
        /// Exception vector.
        vector: u64,
        /// The CPU's error code.
        error_code: u64,
        /// For page faults: the address accessed.
        fault_address: Option<u64>,
        /// The fault hit the main stack's guard page.
        stack_overflow: bool,
    },
    /// The program made a Linux system call itself, with the `syscall`
    /// instruction (a guest has no kernel: it jumps to address 0).
    SystemCall {
        /// The call's number (`rax`).
        number: u64,
        /// The `syscall` instruction's address.
        at: u64,
    },
    /// An exception with no usable handler: the CPU shut down.
    TripleFault,
    /// The hypervisor could not execute a guest instruction (on kvm_pvm,
    /// typically SSE in CPL0 code).
    EmulationFailure,
}

/// The names of the Linux x86_64 system calls programs most often make
/// themselves, for the report.
fn system_call_name(number: u64) -> Option<&'static str> {
    Some(match number {
        0 => "read",
        1 => "write",
        3 => "close",
        4 => "stat",
        5 => "fstat",
        8 => "lseek",
        9 => "mmap",
        16 => "ioctl",
        20 => "writev",
        39 => "getpid",
        60 => "exit",
        72 => "fcntl",
        202 => "futex",
        228 => "clock_gettime",
        231 => "exit_group",
        257 => "openat",
        262 => "newfstatat",
        318 => "getrandom",
        332 => "statx",
        _ => return None,
    })
}

impl CrashKind {
    /// A fault at address 0 reached by a `syscall` instruction: the CPU
    /// jumped to the unset system-call entry (`IA32_LSTAR` is 0) and left
    /// the return address in `rcx`, right after the two-byte instruction.
    /// The registers, rewound to that instruction, for the report.
    pub fn system_call(frame: &TrapFrame, cr2: u64, memory: &GuestMemory) -> Option<(Self, u64)> {
        let at = frame.rcx.checked_sub(2)?;
        let mut opcode = [0u8; 2];
        let fault_at_zero = frame.vector == trap::PAGE_FAULT && cr2 == 0 && frame.rip == 0;
        (fault_at_zero && memory.read_exact(at, &mut opcode).is_ok() && opcode == [0x0f, 0x05])
            .then_some((
                Self::SystemCall {
                    number: frame.rax,
                    at,
                },
                at,
            ))
    }

    /// Classifies a trap frame; `cr2` is the vCPU's CR2 at the trap.
    ///
    /// A stack overflow is a fault in the main stack's guard page, or a
    /// not-present page fault within [`STACK_REACH`] of the stack pointer (a
    /// thread's guard page: a frame being pushed past the end of its stack).
    pub fn exception(frame: &TrapFrame, cr2: u64, layout: &Layout) -> Self {
        let fault_address = (frame.vector == trap::PAGE_FAULT).then_some(cr2);
        let guard = layout.stack_guard();
        let not_present = frame.error_code & 1 == 0;
        // The guest's rsp is anything a hostile guest makes it: saturate.
        let near_stack_pointer = |a: u64| {
            not_present
                && a.abs_diff(frame.rsp) <= STACK_REACH
                && a < frame.rsp.saturating_add(4096)
        };
        let stack_overflow = fault_address
            .is_some_and(|a| guard.contains(&a) || near_stack_pointer(a))
            || (frame.vector == trap::DOUBLE_FAULT && guard.contains(&frame.rsp));
        Self::Exception {
            vector: frame.vector,
            error_code: frame.error_code,
            fault_address,
            stack_overflow,
        }
    }

    /// Whether this is a panic (as opposed to a fault).
    pub fn is_panic(&self) -> bool {
        matches!(self, Self::Panic { .. })
    }
}

impl fmt::Display for CrashKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Panic { message } => match message.strip_prefix("panicked ") {
                Some(rest) => write!(f, "guest panicked {}", Printable::text(rest)),
                None => write!(f, "guest panicked: {}", Printable::text(message)),
            },
            Self::Exception {
                stack_overflow: true,
                fault_address,
                ..
            } => write!(
                f,
                "guest stack overflow (guard page hit at {:#x})",
                fault_address.unwrap_or_default()
            ),
            Self::Exception {
                vector,
                error_code,
                fault_address: Some(addr),
                ..
            } => {
                let access = if error_code & 0x10 != 0 {
                    "instruction fetch from"
                } else if error_code & 0x2 != 0 {
                    "write to"
                } else {
                    "read of"
                };
                let state = if error_code & 0x1 != 0 {
                    "protected"
                } else {
                    "unmapped"
                };
                write!(
                    f,
                    "guest {}: {access} {state} address {addr:#x}",
                    trap::vector_name(*vector)
                )?;
                if *addr < 0x1000 {
                    write!(f, " (null pointer dereference)")?;
                }
                Ok(())
            }
            Self::Exception {
                vector, error_code, ..
            } => {
                write!(f, "guest {}", trap::vector_name(*vector))?;
                if trap::has_error_code(*vector) && *error_code != 0 {
                    write!(f, " (error code {error_code:#x})")?;
                }
                Ok(())
            }
            Self::SystemCall { number, at } => {
                write!(
                    f,
                    "guest made a Linux system call itself (syscall instruction at {at:#x}, "
                )?;
                match system_call_name(*number) {
                    Some(name) => write!(f, "call {number}, {name})")?,
                    None => write!(f, "call {number})")?,
                }
                write!(
                    f,
                    "; a Kiln guest has no kernel to take it: the code must call the C library \
                     (rustix does when built with --cfg=rustix_use_libc, as kiln build builds it)"
                )
            }
            Self::TripleFault => write!(f, "guest triple fault: an exception had no handler"),
            Self::EmulationFailure => write!(
                f,
                "the hypervisor could not emulate a guest instruction (SSE in CPL0 code?)"
            ),
        }
    }
}

/// A complete crash report.
#[derive(Clone, Debug)]
pub struct CrashReport {
    /// What happened.
    pub kind: CrashKind,
    /// Registers at the crash.
    pub registers: Registers,
    /// The symbolized backtrace, innermost frame first.
    pub backtrace: Vec<Frame>,
    /// The guest thread that crashed.
    pub thread: CrashedThread,
}

/// The guest thread a crash happened on, as the guest last recorded it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CrashedThread {
    /// Its id (0 when the guest has no threads).
    pub id: u64,
    /// Its name, if it has one (`pthread_setname_np`; std names its threads).
    pub name: Option<String>,
    /// The vCPU it ran on, named when the guest runs on more than one.
    pub vcpu: Option<u32>,
    /// The vCPU it ran on, named or not (for the core file).
    pub vcpu_index: u32,
}

impl fmt::Display for CrashedThread {
    /// " (thread 3 'worker' on vCPU 1)", or as much of it as is known;
    /// nothing for a program without threads on one vCPU.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let on = |f: &mut fmt::Formatter<'_>| match self.vcpu {
            Some(vcpu) => write!(f, " on vCPU {vcpu}"),
            None => Ok(()),
        };
        match (&self.name, self.id, self.vcpu) {
            (_, 0, None) => Ok(()),
            (_, 0, Some(vcpu)) => write!(f, " (vCPU {vcpu})"),
            (Some(name), id, _) => {
                write!(f, " (thread {id} '{}'", Printable::line(name))?;
                on(f)?;
                write!(f, ")")
            }
            (None, id, _) => {
                write!(f, " (thread {id}")?;
                on(f)?;
                write!(f, ")")
            }
        }
    }
}

impl CrashReport {
    /// Unwinds and symbolizes from `registers`. `exact_pc` says whether
    /// `registers.rip` is the faulting instruction itself (a trap) rather
    /// than a point inside the reporting code (a panic hypercall); `thread`
    /// is the guest thread that crashed.
    pub fn build(
        kind: CrashKind,
        registers: Registers,
        exact_pc: bool,
        image: &Image<'_>,
        memory: &GuestMemory,
        thread: CrashedThread,
    ) -> Self {
        Self::from_stack(kind, registers, exact_pc, image.bytes, memory, thread)
    }

    /// As [`CrashReport::build`], from the image file's bytes and any view
    /// of the crashed stack (`kiln symbolize` has only the words a PVH
    /// guest printed).
    pub fn from_stack(
        kind: CrashKind,
        registers: Registers,
        exact_pc: bool,
        image: &[u8],
        memory: &dyn StackMemory,
        thread: CrashedThread,
    ) -> Self {
        // The image was validated before boot, so it parses; if it somehow
        // does not, the report goes out without a backtrace.
        let pcs = object::read::elf::ElfFile64::parse(image)
            .map(|elf| unwind(&elf, &registers, memory, MAX_FRAMES))
            .unwrap_or_default();
        let symbolizer = Symbolizer::new(image);
        let mut backtrace: Vec<Frame> = pcs
            .iter()
            .enumerate()
            .flat_map(|(i, pc)| symbolizer.symbolize(*pc, i > 0 || !exact_pc))
            .collect();
        if kind.is_panic() {
            trim_panic_machinery(&mut backtrace);
        }
        Self {
            kind,
            registers,
            backtrace,
            thread,
        }
    }

    /// The innermost function of the program itself: the first named frame
    /// outside the libraries (else the innermost named frame).
    pub fn function(&self) -> Option<&str> {
        let mut named = self.backtrace.iter().filter_map(|f| f.function.as_deref());
        let innermost = named.clone().next();
        named.find(|name| !is_library(name)).or(innermost)
    }
}

/// Drops the frames above the code that panicked: the hypercall, the panic
/// handler and `core`'s panic functions form the top of every panic's stack.
fn trim_panic_machinery(backtrace: &mut Vec<Frame>) {
    let in_machinery = |f: &Frame| {
        f.function.as_deref().is_some_and(|name| {
            PANIC_MACHINERY.iter().any(|p| {
                name.starts_with(p)
                    && (p.ends_with("::")
                        || name.len() == p.len()
                        || name[p.len()..].starts_with("::"))
            })
        })
    };
    let leading = backtrace.iter().take_while(|f| in_machinery(f)).count();
    // Keep everything if the machinery is all there is (a panic inside the library OS).
    if leading < backtrace.len() {
        backtrace.drain(..leading);
    }
}

impl fmt::Display for CrashReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.kind)?;
        if let Some(function) = self.function() {
            writeln!(f, "  in {}{}", Printable::line(function), self.thread)?;
        }
        let r = &self.registers;
        writeln!(f, "registers:")?;
        let rows = [
            [("rip", r.rip), ("rsp", r.rsp), ("rbp", r.rbp)],
            [("rax", r.rax), ("rbx", r.rbx), ("rcx", r.rcx)],
            [("rdx", r.rdx), ("rsi", r.rsi), ("rdi", r.rdi)],
            [("r8", r.r8), ("r9", r.r9), ("r10", r.r10)],
            [("r11", r.r11), ("r12", r.r12), ("r13", r.r13)],
            [("r14", r.r14), ("r15", r.r15), ("", 0)],
        ];
        for row in rows {
            write!(f, " ")?;
            for (name, value) in row.iter().filter(|(name, _)| !name.is_empty()) {
                write!(f, " {name:>3} {value:#018x}")?;
            }
            writeln!(f)?;
        }
        writeln!(f, "backtrace:")?;
        if self.backtrace.is_empty() {
            writeln!(f, "  (no frames)")?;
        }
        let mut i = 0;
        while i < self.backtrace.len() {
            let frame = &self.backtrace[i];
            write_frame(f, i, frame)?;
            let repeats = self.backtrace[i + 1..]
                .iter()
                .take_while(|next| next.pc == frame.pc && next.function == frame.function)
                .count();
            if repeats > FOLD_AFTER {
                writeln!(f, "      ... the frame above repeats {repeats} more times")?;
                i += repeats;
            }
            i += 1;
        }
        Ok(())
    }
}

fn write_frame(f: &mut fmt::Formatter<'_>, index: usize, frame: &Frame) -> fmt::Result {
    let name = Printable::line(frame.function.as_deref().unwrap_or("<unknown>"));
    let inlined = if frame.inlined { " (inlined)" } else { "" };
    writeln!(f, "  {index:>2}: {:#010x} {name}{inlined}", frame.pc)?;
    if let (Some(file), Some(line)) = (&frame.file, frame.line) {
        writeln!(f, "          at {}:{line}", Printable::line(file))?;
    }
    Ok(())
}

impl From<&kvm_regs> for Registers {
    fn from(r: &kvm_regs) -> Self {
        Self {
            rax: r.rax,
            rbx: r.rbx,
            rcx: r.rcx,
            rdx: r.rdx,
            rsi: r.rsi,
            rdi: r.rdi,
            rbp: r.rbp,
            rsp: r.rsp,
            r8: r.r8,
            r9: r.r9,
            r10: r.r10,
            r11: r.r11,
            r12: r.r12,
            r13: r.r13,
            r14: r.r14,
            r15: r.r15,
            rip: r.rip,
        }
    }
}

impl From<&TrapFrame> for Registers {
    fn from(t: &TrapFrame) -> Self {
        Self {
            rax: t.rax,
            rbx: t.rbx,
            rcx: t.rcx,
            rdx: t.rdx,
            rsi: t.rsi,
            rdi: t.rdi,
            rbp: t.rbp,
            rsp: t.rsp,
            r8: t.r8,
            r9: t.r9,
            r10: t.r10,
            r11: t.r11,
            r12: t.r12,
            r13: t.r13,
            r14: t.r14,
            r15: t.r15,
            rip: t.rip,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hostile guest's stack pointer at the top of the address space is
    /// classified, not an overflow in the monitor (a debug build panicked).
    #[test]
    fn a_fault_at_the_top_of_the_address_space_is_classified() {
        let image = kiln_abi::layout::IMAGE_BASE..kiln_abi::layout::IMAGE_BASE + 0x9000;
        let layout = Layout::plan(64 << 20, image, 4096, true, false, 1).expect("fits");
        let frame = TrapFrame {
            vector: trap::PAGE_FAULT,
            rsp: u64::MAX - 7,
            ..Default::default()
        };
        let kind = CrashKind::exception(&frame, u64::MAX - 7, &layout);
        assert!(
            matches!(
                kind,
                CrashKind::Exception {
                    stack_overflow: true,
                    ..
                }
            ),
            "{kind:?}"
        );
    }

    #[test]
    fn the_crashed_thread_is_named_with_its_vcpu_when_there_are_several() {
        let thread = |id, name: Option<&str>, vcpu| {
            CrashedThread {
                id,
                name: name.map(Into::into),
                vcpu,
                vcpu_index: vcpu.unwrap_or_default(),
            }
            .to_string()
        };
        assert_eq!(thread(0, None, None), "");
        assert_eq!(thread(2, None, None), " (thread 2)");
        assert_eq!(thread(2, Some("worker"), None), " (thread 2 'worker')");
        assert_eq!(
            thread(3, Some("worker"), Some(1)),
            " (thread 3 'worker' on vCPU 1)"
        );
        assert_eq!(thread(1, None, Some(0)), " (thread 1 on vCPU 0)");
        assert_eq!(thread(0, None, Some(2)), " (vCPU 2)");
        assert_eq!(
            thread(4, Some("\x1b[2Jx"), Some(1)),
            " (thread 4 '\\u{1b}[2Jx' on vCPU 1)",
            "guest text is escaped"
        );
    }
}
