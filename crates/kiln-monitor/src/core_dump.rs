//! Core files: a crashed guest (or one `--timeout` stopped, to show where
//! it hung) written as an ELF core that `gdb IMAGE CORE` opens, with every
//! thread's registers and the memory the guest touched.
//!
//! The guest is identity-mapped (`crate::paging`), so a guest-physical
//! range is also the virtual range gdb looks for. Only pages the host has
//! backed go in (`mincore` on the monitor's mapping of guest memory): guest
//! memory is reserved lazily, so a page the guest never touched is not
//! resident and costs no bytes in the core. Code and read-only data come
//! from the image, which gdb reads itself.
//!
//! The ELF header and program headers are written by the `object` crate's
//! ELF writer. The `NT_PRSTATUS` notes are encoded here: no maintained
//! crate encodes Linux's `struct elf_prstatus` from registers it did not
//! read from a live process (`elfcore` reads them with ptrace).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use object::elf;
use object::write::StreamingBuffer;
use object::write::elf::{FileHeader, ProgramHeader, Writer};

use crate::crash::unwind::Registers;
use crate::memory::GuestMemory;

const PAGE: u64 = kiln_abi::layout::PAGE_SIZE;
/// Bytes of Linux's x86_64 `struct elf_prstatus`; its `pr_reg` (the
/// registers in `struct user_regs_struct` order) starts at [`PR_REG`].
const PRSTATUS_SIZE: usize = 336;
const PR_REG: usize = 112;
/// Offsets of `pr_cursig`, `pr_pid` and `pr_pgrp` in it.
const PR_CURSIG: usize = 12;
const PR_PID: usize = 32;
const PR_PGRP: usize = 40;
/// Bytes of Linux's x86_64 `struct elf_prpsinfo`, and the offsets of its
/// `pr_pid`, `pr_fname` and `pr_psargs`.
const PRPSINFO_SIZE: usize = 136;
const PSINFO_PID: usize = 24;
const PSINFO_FNAME: usize = 40;
const PSINFO_ARGS: usize = 56;
/// The process id the core gives the guest: gdb keeps it apart from the
/// thread ids, which count from 1.
const PROCESS_ID: u32 = 100_000;
/// The signal a faulting thread is reported with, as Linux would: SIGSEGV
/// for a fault, SIGABRT for a panic.
const SIGSEGV: u16 = 11;
const SIGABRT: u16 = 6;
const SIGALRM: u16 = 14;
/// The user code and data selectors the guest runs with (`crate::cpu`).
const USER_CODE: u64 = 0x23;
const USER_DATA: u64 = 0x1b;
/// Guest memory is copied to the file this many bytes at a time.
const CHUNK: usize = 1 << 20;

/// Where a crashed guest's core goes.
#[derive(Clone, Debug)]
pub struct CoreConfig {
    /// The core file; replaced only once a new core is complete.
    pub path: PathBuf,
    /// The most bytes the file may take: memory beyond it is left out
    /// (the highest addresses first), the notes always fit.
    pub limit: u64,
}

/// Where the ids of vCPUs' idle contexts start in a core (plus the vCPU's
/// index): above any id the guest gives its threads (at most 4096 are
/// listed), below `pid_t`'s limit.
pub const IDLE_CONTEXT_IDS: u64 = 1 << 30;

/// One guest thread as the core shows it.
#[derive(Clone, Debug, Default)]
pub struct CoreThread {
    /// Its id (gdb's "LWP"); the crashed thread is listed first.
    pub id: u64,
    /// Its name, if the guest keeps one: gdb shows it for a live guest (a
    /// core file has no place for it).
    pub name: Option<String>,
    /// Its general registers.
    pub registers: Registers,
    /// Its `%fs` base (its thread pointer).
    pub fs_base: u64,
}

/// Why the guest stopped, for the first thread's note.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoreSignal {
    /// A fault: reported as SIGSEGV.
    Fault,
    /// A panic or abort: reported as SIGABRT.
    Abort,
    /// `--timeout` stopped it: reported as SIGALRM, as `timeout(1)` would.
    Timeout,
}

/// What was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoreWritten {
    /// The core file's size in bytes.
    pub bytes: u64,
    /// Touched guest memory left out to respect the limit.
    pub left_out: u64,
}

/// Writes the core of a guest running `program` (its name and arguments)
/// whose threads are `threads` (the crashed one first) to `config.path`,
/// through a temporary file beside it.
pub fn write(
    config: &CoreConfig,
    memory: &GuestMemory,
    program: &str,
    threads: &[CoreThread],
    signal: CoreSignal,
) -> io::Result<CoreWritten> {
    let notes = notes(program, threads, signal);
    let touched = touched(memory)?;
    let headers = 64 + 56 * (touched.len() as u64 + 1);
    let budget = config
        .limit
        .saturating_sub(headers + notes.len() as u64 + PAGE);
    let (kept, left_out) = within(&touched, budget);
    let temporary = temporary_path(&config.path);
    let written = write_file(&temporary, memory, &notes, &kept).and_then(|bytes| {
        std::fs::rename(&temporary, &config.path)?;
        Ok(bytes)
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    Ok(CoreWritten {
        bytes: written?,
        left_out,
    })
}

fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

fn write_file(
    path: &Path,
    memory: &GuestMemory,
    notes: &[u8],
    ranges: &[Range<u64>],
) -> io::Result<u64> {
    let file = File::create(path)?;
    let mut buffer = StreamingBuffer::new(BufWriter::new(file));
    let mut writer = Writer::new(object::Endianness::Little, true, &mut buffer);
    writer.reserve_file_header();
    writer.reserve_program_headers(ranges.len() as u32 + 1);
    let notes_at = writer.reserve(notes.len() as u64, 4);
    let offsets: Vec<u64> = ranges
        .iter()
        .map(|r| writer.reserve(r.end - r.start, PAGE))
        .collect();
    writer
        .write_file_header(&FileHeader {
            os_abi: elf::ELFOSABI_SYSV,
            abi_version: 0,
            e_type: elf::ET_CORE,
            e_machine: elf::EM_X86_64,
            e_entry: 0,
            e_flags: Default::default(),
        })
        .map_err(io::Error::other)?;
    writer.write_align_program_headers();
    writer.write_program_header(&ProgramHeader {
        p_type: elf::PT_NOTE,
        p_flags: Default::default(),
        p_offset: notes_at,
        p_vaddr: 0,
        p_paddr: 0,
        p_filesz: notes.len() as u64,
        p_memsz: 0,
        p_align: 4,
    });
    for (range, &offset) in ranges.iter().zip(&offsets) {
        let len = range.end - range.start;
        writer.write_program_header(&ProgramHeader {
            p_type: elf::PT_LOAD,
            p_flags: elf::PF_R | elf::PF_W | elf::PF_X,
            p_offset: offset,
            p_vaddr: range.start,
            p_paddr: range.start,
            p_filesz: len,
            p_memsz: len,
            p_align: PAGE,
        });
    }
    writer.write_align(4);
    writer.write(notes);
    let mut chunk = vec![0u8; CHUNK];
    for range in ranges {
        writer.write_align(PAGE);
        let mut at = range.start;
        while at < range.end {
            let len = (range.end - at).min(CHUNK as u64) as usize;
            memory
                .read_exact(at, &mut chunk[..len])
                .map_err(io::Error::other)?;
            writer.write(&chunk[..len]);
            at += len as u64;
        }
    }
    let bytes = writer.len();
    buffer.result()?;
    buffer.into_inner().flush()?;
    Ok(bytes)
}

/// The page ranges of guest memory the host has backed, in address order.
fn touched(memory: &GuestMemory) -> io::Result<Vec<Range<u64>>> {
    let size = memory.size();
    let pages = usize::try_from(size / PAGE).map_err(io::Error::other)?;
    let mut resident = vec![0u8; pages];
    // SAFETY: the range is guest memory's own mapping, page-aligned (the
    // mapping starts at a page and its size is whole granules); `resident`
    // has one byte per page of it.
    let status = unsafe {
        libc::mincore(
            memory.host_base().cast(),
            size as usize,
            resident.as_mut_ptr(),
        )
    };
    if status != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut ranges: Vec<Range<u64>> = Vec::new();
    for (page, _) in resident.iter().enumerate().filter(|(_, r)| *r & 1 != 0) {
        let start = page as u64 * PAGE;
        match ranges.last_mut() {
            Some(last) if last.end == start => last.end += PAGE,
            _ => ranges.push(start..start + PAGE),
        }
    }
    Ok(ranges)
}

/// The ranges that fit in `budget` bytes, lowest first (the image, its
/// data and the main stack are there), and the bytes left out.
fn within(ranges: &[Range<u64>], budget: u64) -> (Vec<Range<u64>>, u64) {
    let mut left = budget;
    let mut kept = Vec::new();
    let mut left_out = 0;
    for range in ranges {
        let len = range.end - range.start;
        let take = len.min(left) / PAGE * PAGE;
        if take > 0 {
            kept.push(range.start..range.start + take);
        }
        left -= take;
        left_out += len - take;
    }
    (kept, left_out)
}

/// An `NT_PRPSINFO` note naming the program, then one `NT_PRSTATUS` note
/// per thread.
fn notes(program: &str, threads: &[CoreThread], signal: CoreSignal) -> Vec<u8> {
    let mut notes = Vec::new();
    note(&mut notes, elf::NT_PRPSINFO, &prpsinfo(program));
    for (i, thread) in threads.iter().enumerate() {
        let cursig = match (i, signal) {
            (0, CoreSignal::Fault) => SIGSEGV,
            (0, CoreSignal::Abort) => SIGABRT,
            (0, CoreSignal::Timeout) => SIGALRM,
            _ => 0,
        };
        note(&mut notes, elf::NT_PRSTATUS, &prstatus(thread, cursig));
    }
    notes
}

/// Appends an ELF note named "CORE", its name and data padded to 4 bytes.
fn note(out: &mut Vec<u8>, kind: elf::NoteType, desc: &[u8]) {
    const NAME: &[u8] = b"CORE\0";
    out.extend_from_slice(&(NAME.len() as u32).to_le_bytes());
    out.extend_from_slice(&(desc.len() as u32).to_le_bytes());
    out.extend_from_slice(&kind.0.to_le_bytes());
    out.extend_from_slice(NAME);
    out.resize(out.len().next_multiple_of(4), 0);
    out.extend_from_slice(desc);
    out.resize(out.len().next_multiple_of(4), 0);
}

/// Linux's x86_64 `struct elf_prpsinfo`: the process id (the guest is
/// process [`PROCESS_ID`]), the program's name (at most 15 bytes) and its
/// command line (at most 79).
fn prpsinfo(program: &str) -> [u8; PRPSINFO_SIZE] {
    let mut out = [0u8; PRPSINFO_SIZE];
    out[PSINFO_PID..PSINFO_PID + 4].copy_from_slice(&PROCESS_ID.to_le_bytes());
    let command = program.split(' ').next().unwrap_or_default();
    let name = command.rsplit('/').next().unwrap_or_default().as_bytes();
    let len = name.len().min(15);
    out[PSINFO_FNAME..PSINFO_FNAME + len].copy_from_slice(&name[..len]);
    let len = program.len().min(79);
    out[PSINFO_ARGS..PSINFO_ARGS + len].copy_from_slice(&program.as_bytes()[..len]);
    out
}

/// Linux's x86_64 `struct elf_prstatus` for `thread`: the signal, the
/// thread id (gdb's LWP; a guest without threads is thread 0, shown as 1)
/// and the registers; the times and signal masks stay zero.
fn prstatus(thread: &CoreThread, cursig: u16) -> [u8; PRSTATUS_SIZE] {
    let r = &thread.registers;
    // `struct user_regs_struct`, in its order.
    let regs: [u64; 27] = [
        r.r15,
        r.r14,
        r.r13,
        r.r12,
        r.rbp,
        r.rbx,
        r.r11,
        r.r10,
        r.r9,
        r.r8,
        r.rax,
        r.rcx,
        r.rdx,
        r.rsi,
        r.rdi,
        u64::MAX, // orig_rax: not in a system call
        r.rip,
        USER_CODE,
        0x202, // eflags: interrupts on, as at CPL3
        r.rsp,
        USER_DATA,
        thread.fs_base,
        0, // gs_base
        USER_DATA,
        USER_DATA,
        USER_DATA,
        USER_DATA,
    ];
    let mut out = [0u8; PRSTATUS_SIZE];
    out[PR_CURSIG..PR_CURSIG + 2].copy_from_slice(&cursig.to_le_bytes());
    let pid = u32::try_from(thread.id.max(1)).unwrap_or(u32::MAX);
    out[PR_PID..PR_PID + 4].copy_from_slice(&pid.to_le_bytes());
    out[PR_PGRP..PR_PGRP + 4].copy_from_slice(&PROCESS_ID.to_le_bytes());
    for (i, value) in regs.iter().enumerate() {
        let at = PR_REG + i * 8;
        out[at..at + 8].copy_from_slice(&value.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_kept_lowest_first_within_the_budget() {
        let ranges = [0x1000..0x3000, 0x10000..0x14000];
        assert_eq!(within(&ranges, u64::MAX), (ranges.to_vec(), 0));
        assert_eq!(
            within(&ranges, 0x3000),
            (vec![0x1000..0x3000, 0x10000..0x11000], 0x3000)
        );
        assert_eq!(within(&ranges, 0x800), (vec![], 0x6000));
    }

    #[test]
    fn a_prstatus_note_has_linux_layout() {
        let thread = CoreThread {
            id: 7,
            registers: Registers {
                rip: 0x1234,
                rsp: 0x5678,
                r15: 1,
                ..Default::default()
            },
            fs_base: 0x9000,
            ..CoreThread::default()
        };
        let mut out = Vec::new();
        note(&mut out, elf::NT_PRSTATUS, &prstatus(&thread, SIGSEGV));
        assert_eq!(out.len(), 12 + 8 + PRSTATUS_SIZE);
        let desc = &out[20..];
        let word =
            |i: usize| u64::from_le_bytes(desc[PR_REG + i * 8..][..8].try_into().expect("8 bytes"));
        assert_eq!(
            (word(0), word(16), word(19), word(21)),
            (1, 0x1234, 0x5678, 0x9000)
        );
        assert_eq!(desc[PR_CURSIG], 11);
        assert_eq!(desc[PR_PID], 7);
    }
}
