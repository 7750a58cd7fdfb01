//! Stack unwinding for a crashed guest, driven by the image's `.eh_frame` call-frame information.
//!
//! Everything the walk reads — registers, stack contents, even the image's CFI — comes from the
//! guest and may be garbage or hostile. The walker therefore never trusts a value: all address
//! arithmetic is checked, every failure simply ends the walk, and the walk is bounded both by
//! `max_frames` and by the requirement that each frame's CFA lies strictly above the previous one.

use gimli::{
    BaseAddresses, CfaRule, CieOrFde, EhFrame, EndianSlice, FrameDescriptionEntry, Register,
    RegisterRule, RunTimeEndian, UnwindContext, UnwindSection, UnwindTableRow, X86_64,
};
use object::read::elf::ElfFile64;
use object::{Object, ObjectSection};

/// The general registers of x86_64 plus rip, as DWARF numbers them (0 rax, 1 rdx, 2 rcx, 3 rbx,
/// 4 rsi, 5 rdi, 6 rbp, 7 rsp, 8..=15 r8..r15, 16 = return address/rip).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Registers {
    /// `rax`.
    pub rax: u64,
    /// `rbx`.
    pub rbx: u64,
    /// `rcx`.
    pub rcx: u64,
    /// `rdx`.
    pub rdx: u64,
    /// `rsi`.
    pub rsi: u64,
    /// `rdi`.
    pub rdi: u64,
    /// `rbp`.
    pub rbp: u64,
    /// `rsp`.
    pub rsp: u64,
    /// `r8`.
    pub r8: u64,
    /// `r9`.
    pub r9: u64,
    /// `r10`.
    pub r10: u64,
    /// `r11`.
    pub r11: u64,
    /// `r12`.
    pub r12: u64,
    /// `r13`.
    pub r13: u64,
    /// `r14`.
    pub r14: u64,
    /// `r15`.
    pub r15: u64,
    /// The instruction pointer: the faulting instruction in the crash frame.
    pub rip: u64,
}

/// Reads guest memory for the unwinder. Returns None when the address is outside guest memory.
pub trait StackMemory {
    /// Reads the little-endian 64-bit word at guest address `addr`.
    fn read_u64(&self, addr: u64) -> Option<u64>;
}

/// Walks the guest stack from `regs` using the image's `.eh_frame` (CFI), returning return
/// addresses: the first element is `regs.rip` itself, then each caller's return address.
///
/// The walk stops at a frame with no FDE (after one frame-pointer step has been tried for it), a
/// return address of 0, an undefined return-address rule (the entry point marks itself with
/// `.cfi_undefined rip`), a memory read failure, a CFA that does not increase, a CFA given by a
/// DWARF expression, or after `max_frames` addresses.
pub fn unwind(
    image: &ElfFile64<'_>,
    regs: &Registers,
    memory: &dyn StackMemory,
    max_frames: usize,
) -> Vec<u64> {
    Unwinder::new(image).unwind(regs, memory, max_frames)
}

/// An unwinder for one image, for many walks (a profiler's samples): its
/// CFI is indexed once.
pub struct Unwinder<'data> {
    cfi: Option<CallFrameInfo<'data>>,
    /// Reused between steps to avoid reallocating the CFI evaluation stack.
    context: UnwindContext<usize>,
    load_bias: u64,
}

impl<'data> Unwinder<'data> {
    /// Indexes `image`'s `.eh_frame`.
    pub fn new(image: &ElfFile64<'data>) -> Self {
        // The guest is linked at the address it runs at, so image and runtime addresses coincide.
        Self::with_bias(image, 0)
    }

    /// An unwinder for an image loaded `load_bias` bytes above its link address.
    ///
    /// Only the tests need a non-zero bias: they unwind the (position-independent) test binary
    /// itself. Reported addresses are runtime addresses; the bias is removed only to look up the
    /// CFI.
    fn with_bias(image: &ElfFile64<'data>, load_bias: u64) -> Self {
        Self {
            cfi: CallFrameInfo::new(image),
            context: UnwindContext::new(),
            load_bias,
        }
    }

    /// Walks the stack from `regs`, as [`unwind`] does.
    pub fn unwind(
        &mut self,
        regs: &Registers,
        memory: &dyn StackMemory,
        max_frames: usize,
    ) -> Vec<u64> {
        walk(self, regs, memory, max_frames)
    }
}

fn walk(
    unwinder: &mut Unwinder<'_>,
    regs: &Registers,
    memory: &dyn StackMemory,
    max_frames: usize,
) -> Vec<u64> {
    let mut addresses = Vec::new();
    if max_frames == 0 {
        return addresses;
    }
    addresses.push(regs.rip);

    let mut walker = Walker {
        cfi: unwinder.cfi.as_ref(),
        context: &mut unwinder.context,
        memory,
        load_bias: unwinder.load_bias,
    };
    let mut frame = RegisterFile::from_registers(regs);
    let mut is_first_frame = true;
    while addresses.len() < max_frames {
        let Some(caller) = walker.step(&frame, is_first_frame) else {
            break;
        };
        // A CFA at or below the current stack pointer means a loop or a corrupted stack; refusing
        // it is also what guarantees that the walk terminates.
        let Some(sp) = frame.get(X86_64::RSP) else {
            break;
        };
        if caller.cfa <= sp {
            break;
        }
        match caller.registers.get(X86_64::RA) {
            Some(ra) if ra != 0 => addresses.push(ra),
            _ => break,
        }
        frame = caller.registers;
        is_first_frame = false;
    }
    addresses
}

/// The DWARF register numbers of the registers the System V ABI makes callee-saved (besides rsp):
/// only these have meaningful values in a caller's frame.
const CALLEE_SAVED: [Register; 6] = [
    X86_64::RBX,
    X86_64::RBP,
    X86_64::R12,
    X86_64::R13,
    X86_64::R14,
    X86_64::R15,
];

/// Number of DWARF registers tracked: rax..r15 and the return address.
const TRACKED_REGISTERS: usize = 17;

/// Register values indexed by DWARF number; `None` marks a value the unwinder cannot recover.
#[derive(Clone, Copy, Debug)]
struct RegisterFile([Option<u64>; TRACKED_REGISTERS]);

impl RegisterFile {
    /// The crash frame, where every register is known.
    fn from_registers(r: &Registers) -> Self {
        Self(
            [
                r.rax, r.rdx, r.rcx, r.rbx, r.rsi, r.rdi, r.rbp, r.rsp, r.r8, r.r9, r.r10, r.r11,
                r.r12, r.r13, r.r14, r.r15, r.rip,
            ]
            .map(Some),
        )
    }

    /// The starting point for a caller's frame: the call clobbered every caller-saved register,
    /// so only the callee-saved ones carry over (until a CFI rule says otherwise).
    fn for_caller(&self) -> Self {
        let mut caller = Self([None; TRACKED_REGISTERS]);
        for register in CALLEE_SAVED {
            caller.set(register, self.get(register));
        }
        caller
    }

    fn get(&self, register: Register) -> Option<u64> {
        self.0.get(usize::from(register.0)).copied().flatten()
    }

    fn set(&mut self, register: Register, value: Option<u64>) {
        if let Some(slot) = self.0.get_mut(usize::from(register.0)) {
            *slot = value;
        }
    }
}

/// The state of the calling frame produced by one unwinding step.
struct Caller {
    /// The canonical frame address of the frame just unwound: the caller's stack pointer.
    cfa: u64,
    /// The caller's registers; the return address sits in the RA slot.
    registers: RegisterFile,
}

type Section<'data> = EndianSlice<'data, RunTimeEndian>;

/// The image's parsed `.eh_frame` together with the addresses its pointers are relative to, and
/// its FDEs sorted by address. Images carry no `.eh_frame_hdr` search table, and gimli's own
/// lookup without one scans every entry: a profiler's samples cannot pay that per frame.
struct CallFrameInfo<'data> {
    eh_frame: EhFrame<Section<'data>>,
    bases: BaseAddresses,
    /// (start, end, FDE), sorted by start.
    fdes: Vec<(u64, u64, FrameDescriptionEntry<Section<'data>>)>,
}

impl<'data> CallFrameInfo<'data> {
    /// `None` when the image has no `.eh_frame`: then only frame pointers can be followed.
    fn new(image: &ElfFile64<'data>) -> Option<Self> {
        let section = image.section_by_name(".eh_frame")?;
        let data = section.data().ok()?;
        let endian = if image.is_little_endian() {
            RunTimeEndian::Little
        } else {
            RunTimeEndian::Big
        };
        let mut eh_frame = EhFrame::new(data, endian);
        // The image is always x86_64, whatever the monitor happens to be built for.
        eh_frame.set_address_size(8);
        let mut bases = BaseAddresses::default().set_eh_frame(section.address());
        if let Some(text) = image.section_by_name(".text") {
            bases = bases.set_text(text.address());
        }
        let mut fdes = Vec::new();
        let mut entries = eh_frame.entries(&bases);
        // A malformed entry ends the index: the CFI before it is still used.
        while let Ok(Some(entry)) = entries.next() {
            if let CieOrFde::Fde(partial) = entry
                && let Ok(fde) = partial.parse(EhFrame::cie_from_offset)
            {
                let start = fde.initial_address();
                fdes.push((start, start.saturating_add(fde.len()), fde));
            }
        }
        fdes.sort_by_key(|(start, _, _)| *start);
        Some(Self {
            eh_frame,
            bases,
            fdes,
        })
    }

    /// The unwind row covering `address`, or `None` when there is no (parseable) FDE for it.
    fn row<'ctx>(
        &self,
        context: &'ctx mut UnwindContext<usize>,
        address: u64,
    ) -> Option<&'ctx UnwindTableRow<usize>> {
        let after = self.fdes.partition_point(|(start, _, _)| *start <= address);
        let (_, end, fde) = self.fdes.get(after.checked_sub(1)?)?;
        if address >= *end {
            return None;
        }
        fde.unwind_info_for_address(&self.eh_frame, &self.bases, context, address)
            .ok()
    }
}

/// Marks a step that must end the walk (a failed read, an unsupported rule, an overflow).
struct EndOfWalk;

/// The unwinder's state shared across steps.
struct Walker<'a, 'data> {
    cfi: Option<&'a CallFrameInfo<'data>>,
    context: &'a mut UnwindContext<usize>,
    memory: &'a dyn StackMemory,
    load_bias: u64,
}

impl Walker<'_, '_> {
    /// Recovers the caller of `frame`, or `None` when the walk must stop.
    fn step(&mut self, frame: &RegisterFile, is_first_frame: bool) -> Option<Caller> {
        let pc = frame.get(X86_64::RA)?;
        // A return address points after the call, possibly at the first instruction of the next
        // function (after a call to a noreturn function); the call itself is one byte earlier.
        // The crash frame's pc is exact: it is the faulting instruction.
        let lookup = if is_first_frame {
            pc
        } else {
            pc.checked_sub(1)?
        };
        let image_address = lookup.wrapping_sub(self.load_bias);
        let row = match self.cfi {
            Some(cfi) => cfi.row(self.context, image_address),
            None => None,
        };
        match row {
            Some(row) => step_with_cfi(row, frame, self.memory),
            None => step_with_frame_pointer(frame, self.memory),
        }
    }
}

/// Applies one CFI row to `frame`. `None` means the walk ends here.
fn step_with_cfi(
    row: &UnwindTableRow<usize>,
    frame: &RegisterFile,
    memory: &dyn StackMemory,
) -> Option<Caller> {
    let cfa = match row.cfa() {
        CfaRule::RegisterAndOffset { register, offset } => {
            frame.get(*register)?.checked_add_signed(*offset)?
        }
        // Evaluating DWARF expressions against guest memory is not supported (they only appear
        // in hand-written or PLT code, which a crash backtrace can live without).
        CfaRule::Expression(_) => return None,
    };
    let recover =
        |register| recover_register(row.register(register), register, cfa, frame, memory).ok();

    // No rule for the return address is as hopeless as an explicitly undefined one.
    row.register(X86_64::RA)?;
    let return_address = recover(X86_64::RA)??;
    let mut caller = frame.for_caller();
    for register in CALLEE_SAVED {
        caller.set(register, recover(register)?);
    }
    caller.set(X86_64::RSP, Some(cfa));
    caller.set(X86_64::RA, Some(return_address));
    Some(Caller {
        cfa,
        registers: caller,
    })
}

/// The caller's value of `register` under `rule`: `Ok(None)` when it is not recoverable but the
/// walk may go on, `Err` when reading the stack failed.
fn recover_register(
    rule: Option<RegisterRule<usize>>,
    register: Register,
    cfa: u64,
    frame: &RegisterFile,
    memory: &dyn StackMemory,
) -> Result<Option<u64>, EndOfWalk> {
    Ok(match rule {
        // An unmentioned register keeps its value across the call, by the x86_64 convention.
        None | Some(RegisterRule::SameValue) => frame.get(register),
        Some(RegisterRule::Offset(offset)) => {
            let address = cfa.checked_add_signed(offset).ok_or(EndOfWalk)?;
            Some(memory.read_u64(address).ok_or(EndOfWalk)?)
        }
        Some(RegisterRule::ValOffset(offset)) => cfa.checked_add_signed(offset),
        Some(RegisterRule::Register(other)) => frame.get(other),
        Some(RegisterRule::Constant(value)) => Some(value),
        Some(
            RegisterRule::Undefined
            | RegisterRule::Expression(_)
            | RegisterRule::ValExpression(_)
            | RegisterRule::Architectural,
        ) => None,
    })
}

/// Follows the conventional `push rbp; mov rbp, rsp` frame layout: used for code without CFI.
fn step_with_frame_pointer(frame: &RegisterFile, memory: &dyn StackMemory) -> Option<Caller> {
    let rbp = frame.get(X86_64::RBP).filter(|&rbp| rbp != 0)?;
    let return_address = memory.read_u64(rbp.checked_add(8)?)?;
    let saved_rbp = memory.read_u64(rbp)?;
    let cfa = rbp.checked_add(16)?;
    let mut caller = frame.for_caller();
    caller.set(X86_64::RBP, Some(saved_rbp));
    caller.set(X86_64::RSP, Some(cfa));
    caller.set(X86_64::RA, Some(return_address));
    Some(Caller {
        cfa,
        registers: caller,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crash::symbolize::Symbolizer;
    use crate::crash::symbolize::tests::{load_bias, own_image};
    use std::collections::HashMap;
    use std::hint::black_box;

    /// Reads this thread's own stack, refusing anything outside the mapping that holds it so a
    /// wrong step cannot crash the test process.
    struct OwnStack {
        start: u64,
        end: u64,
    }

    impl OwnStack {
        /// The `/proc/self/maps` region containing `sp`.
        fn containing(sp: u64) -> Self {
            let maps = std::fs::read_to_string("/proc/self/maps").expect("read /proc/self/maps");
            maps.lines()
                .filter_map(|line| {
                    let range = line.split_whitespace().next()?;
                    let (start, end) = range.split_once('-')?;
                    let start = u64::from_str_radix(start, 16).ok()?;
                    let end = u64::from_str_radix(end, 16).ok()?;
                    (start..end).contains(&sp).then_some(Self { start, end })
                })
                .next()
                .expect("the stack pointer lies in a mapping")
        }
    }

    impl StackMemory for OwnStack {
        fn read_u64(&self, addr: u64) -> Option<u64> {
            let in_bounds = addr >= self.start && addr.checked_add(8)? <= self.end;
            if !in_bounds || !addr.is_multiple_of(8) {
                return None;
            }
            let pointer = usize::try_from(addr).ok()? as *const u64;
            // SAFETY: the address is aligned and lies inside this thread's own stack mapping
            // (checked above), which stays mapped and readable while the thread runs; the frames
            // read belong to callers that are still live, so nothing writes them concurrently.
            Some(unsafe { pointer.read_volatile() })
        }
    }

    /// The running test binary, parsed.
    fn own_elf() -> ElfFile64<'static> {
        ElfFile64::parse(own_image()).expect("the test binary is a 64-bit ELF")
    }

    /// Sparse fake memory for hand-built stacks.
    struct FakeMemory(HashMap<u64, u64>);

    impl StackMemory for FakeMemory {
        fn read_u64(&self, addr: u64) -> Option<u64> {
            self.0.get(&addr).copied()
        }
    }

    /// Snapshot of the registers at a point inside this function, taken by the `lea` below.
    #[inline(never)]
    fn kiln_unwind_capture() -> Registers {
        let mut saved = [0u64; 17];
        let base = saved.as_mut_ptr();
        // SAFETY: the block only stores into the 17-word `saved` array through `base` and
        // touches no other memory, stack or flags the compiler relies on.
        unsafe {
            std::arch::asm!(
                "mov [{base}], rax",
                "mov [{base} + 8], rbx",
                "mov [{base} + 16], rcx",
                "mov [{base} + 24], rdx",
                "mov [{base} + 32], rsi",
                "mov [{base} + 40], rdi",
                "mov [{base} + 48], rbp",
                "mov [{base} + 56], rsp",
                "mov [{base} + 64], r8",
                "mov [{base} + 72], r9",
                "mov [{base} + 80], r10",
                "mov [{base} + 88], r11",
                "mov [{base} + 96], r12",
                "mov [{base} + 104], r13",
                "mov [{base} + 112], r14",
                "mov [{base} + 120], r15",
                "lea {scratch}, [rip]",
                "mov [{base} + 128], {scratch}",
                base = in(reg) base,
                scratch = out(reg) _,
                options(nostack, preserves_flags),
            );
        }
        let [
            rax,
            rbx,
            rcx,
            rdx,
            rsi,
            rdi,
            rbp,
            rsp,
            r8,
            r9,
            r10,
            r11,
            r12,
            r13,
            r14,
            r15,
            rip,
        ] = saved;
        Registers {
            rax,
            rbx,
            rcx,
            rdx,
            rsi,
            rdi,
            rbp,
            rsp,
            r8,
            r9,
            r10,
            r11,
            r12,
            r13,
            r14,
            r15,
            rip,
        }
    }

    /// Captures the registers and unwinds while this frame and its callers are still live.
    #[inline(never)]
    fn kiln_unwind_walk(max_frames: usize) -> Vec<u64> {
        let registers = kiln_unwind_capture();
        let image = own_elf();
        let memory = OwnStack::containing(registers.rsp);
        let bias = load_bias(own_image());
        let addresses = Unwinder::with_bias(&image, bias).unwind(&registers, &memory, max_frames);
        black_box(addresses)
    }

    // The probes use `black_box` after each call so that no call becomes a tail call, which would
    // remove the caller's frame from the stack.

    #[inline(never)]
    fn kiln_unwind_probe_inner(max_frames: usize) -> Vec<u64> {
        black_box(kiln_unwind_walk(black_box(max_frames)))
    }

    #[inline(never)]
    fn kiln_unwind_probe_middle(max_frames: usize) -> Vec<u64> {
        black_box(kiln_unwind_probe_inner(black_box(max_frames)))
    }

    #[inline(never)]
    fn kiln_unwind_probe_outer(max_frames: usize) -> Vec<u64> {
        black_box(kiln_unwind_probe_middle(black_box(max_frames)))
    }

    // Two hand-written frames that, unlike the Rust code, compute their CFA from rbp: the outer
    // one uses rbp as a frame pointer, the inner one saves rbp and then clobbers it. Unwinding
    // through them only works if the saved rbp is restored for the outer frame.
    std::arch::global_asm!(
        ".pushsection .text.kiln_unwind_fp_frames, \"ax\", @progbits",
        ".globl kiln_unwind_fp_outer",
        ".hidden kiln_unwind_fp_outer",
        ".type kiln_unwind_fp_outer, @function",
        "kiln_unwind_fp_outer:",
        ".cfi_startproc",
        "push rbp",
        ".cfi_def_cfa_offset 16",
        ".cfi_offset rbp, -16",
        "mov rbp, rsp",
        ".cfi_def_cfa_register rbp",
        "sub rsp, 32",
        "call kiln_unwind_fp_inner",
        "mov rsp, rbp",
        "pop rbp",
        ".cfi_def_cfa rsp, 8",
        "ret",
        ".cfi_endproc",
        ".size kiln_unwind_fp_outer, . - kiln_unwind_fp_outer",
        "",
        ".type kiln_unwind_fp_inner, @function",
        "kiln_unwind_fp_inner:",
        ".cfi_startproc",
        "push rbp",
        ".cfi_def_cfa_offset 16",
        ".cfi_offset rbp, -16",
        "lea rbp, [rsp - 512]",
        "call {callback}",
        "pop rbp",
        ".cfi_def_cfa_offset 8",
        "ret",
        ".cfi_endproc",
        ".size kiln_unwind_fp_inner, . - kiln_unwind_fp_inner",
        ".popsection",
        callback = sym kiln_unwind_fp_callback,
    );

    unsafe extern "C" {
        /// Calls [`kiln_unwind_fp_callback`] through the two hand-written frames, passing `out`.
        fn kiln_unwind_fp_outer(out: *mut std::ffi::c_void);
    }

    /// Unwinds from below the hand-written frames into `out` (a `Vec<u64>`).
    extern "C" fn kiln_unwind_fp_callback(out: *mut std::ffi::c_void) {
        let addresses = kiln_unwind_walk(64);
        // SAFETY: `out` is the `&mut Vec<u64>` that `unwinds_through_frame_pointer_cfi` passed
        // down through the assembly frames, which leave rdi untouched.
        unsafe { *out.cast::<Vec<u64>>() = addresses };
    }

    /// The last path component of each frame's function, looked up like a backtrace would.
    fn function_names(addresses: &[u64]) -> Vec<String> {
        let image = own_image();
        let bias = load_bias(image);
        let symbolizer = Symbolizer::new(image);
        addresses
            .iter()
            .enumerate()
            .map(|(index, &address)| {
                let lookup = address - bias - u64::from(index != 0);
                let name = symbolizer.function_name(lookup).unwrap_or_default();
                name.rsplit("::").next().unwrap_or_default().to_owned()
            })
            .collect()
    }

    #[test]
    fn unwinds_through_nested_functions_in_order() {
        let addresses = kiln_unwind_probe_outer(64);
        let names = function_names(&addresses);
        assert!(names.len() >= 6, "backtrace too short: {names:?}");
        assert_eq!(
            names[..5],
            [
                "kiln_unwind_capture",
                "kiln_unwind_walk",
                "kiln_unwind_probe_inner",
                "kiln_unwind_probe_middle",
                "kiln_unwind_probe_outer",
            ],
            "full backtrace: {names:?}"
        );
        assert_eq!(names[5], "unwinds_through_nested_functions_in_order");
    }

    #[test]
    fn unwinds_through_frame_pointer_cfi() {
        let mut addresses: Vec<u64> = Vec::new();
        // SAFETY: the assembly keeps the System V calling convention and only passes the pointer
        // on to `kiln_unwind_fp_callback`, which stores a `Vec<u64>` through it.
        unsafe { kiln_unwind_fp_outer((&raw mut addresses).cast()) };
        let names = function_names(&addresses);
        assert!(names.len() >= 6, "backtrace too short: {names:?}");
        assert_eq!(
            names[..6],
            [
                "kiln_unwind_capture",
                "kiln_unwind_walk",
                "kiln_unwind_fp_callback",
                "kiln_unwind_fp_inner",
                "kiln_unwind_fp_outer",
                "unwinds_through_frame_pointer_cfi",
            ],
            "full backtrace: {names:?}"
        );
    }

    #[test]
    fn walk_ends_at_thread_entry_before_the_frame_limit() {
        // The thread's outermost frame (glibc's clone) marks its return address undefined, and
        // every frame on the way must unwind cleanly for the walk to get there.
        let addresses = kiln_unwind_probe_outer(512);
        assert!(
            addresses.len() > 6 && addresses.len() < 512,
            "{addresses:x?}"
        );
        assert!(addresses.iter().all(|&address| address != 0));
    }

    #[test]
    fn max_frames_bounds_the_walk() {
        assert_eq!(kiln_unwind_probe_outer(3).len(), 3);
        assert_eq!(kiln_unwind_probe_outer(1).len(), 1);
        assert!(kiln_unwind_probe_outer(0).is_empty());
    }

    #[test]
    fn garbage_registers_give_a_short_backtrace() {
        let image = own_elf();
        let registers = Registers {
            rip: 0x1234,
            rsp: 0,
            ..Registers::default()
        };
        let memory = FakeMemory(HashMap::new());
        assert_eq!(unwind(&image, &registers, &memory, 64), [0x1234]);

        let hostile = Registers {
            rip: u64::MAX,
            rsp: u64::MAX,
            rbp: u64::MAX - 3,
            ..Registers::default()
        };
        assert_eq!(unwind(&image, &hostile, &memory, 64), [u64::MAX]);
    }

    #[test]
    fn follows_frame_pointers_where_there_is_no_cfi() {
        let image = own_elf();
        // Two frames chained through rbp, the outer one terminating the chain with rbp = 0.
        let memory = FakeMemory(HashMap::from([
            (0x7000, 0x7100),
            (0x7008, 0x40),
            (0x7100, 0),
            (0x7108, 0x50),
        ]));
        let registers = Registers {
            rip: 0x30,
            rsp: 0x6ff0,
            rbp: 0x7000,
            ..Registers::default()
        };
        assert_eq!(unwind(&image, &registers, &memory, 64), [0x30, 0x40, 0x50]);
    }

    #[test]
    fn a_frame_pointer_loop_ends_the_walk() {
        let image = own_elf();
        // The saved rbp points at itself: the second step would not move the CFA up.
        let memory = FakeMemory(HashMap::from([(0x7000, 0x7000), (0x7008, 0x40)]));
        let registers = Registers {
            rip: 0x30,
            rsp: 0x6ff0,
            rbp: 0x7000,
            ..Registers::default()
        };
        assert_eq!(unwind(&image, &registers, &memory, 64), [0x30, 0x40]);
    }

    #[test]
    fn a_zero_return_address_ends_the_walk() {
        let image = own_elf();
        let memory = FakeMemory(HashMap::from([(0x7000, 0x7100), (0x7008, 0)]));
        let registers = Registers {
            rip: 0x30,
            rsp: 0x6ff0,
            rbp: 0x7000,
            ..Registers::default()
        };
        assert_eq!(unwind(&image, &registers, &memory, 64), [0x30]);
    }
}
