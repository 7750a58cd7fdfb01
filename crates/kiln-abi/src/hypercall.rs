//! Hypercalls: how a guest asks the monitor for something.
//!
//! A hypercall is one 32-bit `out` instruction: the port is
//! [`PORT_BASE`]` + `the call number, and the value written is the
//! guest-physical address of the call's argument block. Guest code runs at
//! CPL3 with IOPL=3, so the `out` needs no privilege change; the vCPU exits to
//! the monitor, which reads the block, validates every field against guest
//! memory, acts, writes any "out" fields back and resumes the guest.
//!
//! A call the monitor cannot accept (unknown number, wrong access size, an
//! address or length outside guest memory) ends the VM: a guest that breaks
//! the ABI is broken or hostile, and no answer could be trusted to help it.

use crate::GuestPtr;

/// The port of call number 0. Port `PORT_BASE + n` is call `n`.
pub const PORT_BASE: u16 = 0x500;

/// Ports `PORT_BASE .. PORT_BASE + PORT_COUNT` are reserved for hypercalls
/// and open to guest CPL3 code; every other port faults.
pub const PORT_COUNT: u16 = 16;

/// The longest buffer one [`ConsoleWriteArgs`] may carry.
pub const CONSOLE_WRITE_MAX: u64 = 64 * 1024;

/// The most bytes one [`StdinReadArgs`] may ask for.
pub const STDIN_READ_MAX: u64 = 1024 * 1024;

/// The most bytes one [`ReadImageArgs`] may ask for.
pub const READ_IMAGE_MAX: u64 = 1024 * 1024;

/// The longest message one [`PanicArgs`] may carry.
pub const PANIC_MESSAGE_MAX: u64 = 4096;

/// Hypercall numbers. 0 is reserved so that a zeroed port offset is never a call.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Hypercall {
    /// Write bytes to the console: [`ConsoleWriteArgs`].
    ConsoleWrite = 1,
    /// End the program with a status: [`ExitArgs`].
    Exit = 2,
    /// Idle until a deadline: [`BlockArgs`].
    Block = 3,
    /// Report a panic and end the program: [`PanicArgs`].
    Panic = 4,
    /// Report a CPU exception and end the program: [`crate::trap::TrapFrame`].
    Trap = 5,
    /// A file operation on a host volume: [`crate::file::FileArgs`].
    File = 6,
    /// The program cannot go on without memory it could not get:
    /// [`OutOfMemoryArgs`].
    OutOfMemory = 7,
    /// Read what the host's stdin holds now, without waiting: [`StdinReadArgs`].
    StdinRead = 8,
    /// Map more guest memory, up to the VM's limit: [`GrowMemoryArgs`].
    GrowMemory = 9,
    /// Start one of the VM's other vCPUs: [`StartVcpuArgs`].
    StartVcpu = 10,
    /// End another vCPU's idling in `Block`, now or at its next: [`WakeVcpuArgs`].
    WakeVcpu = 11,
    /// Read bytes of the image file the VM booted: [`ReadImageArgs`].
    ReadImage = 12,
}

impl Hypercall {
    /// All calls, for dispatch tables and documentation.
    pub const ALL: [Hypercall; 12] = [
        Self::ConsoleWrite,
        Self::Exit,
        Self::Block,
        Self::Panic,
        Self::Trap,
        Self::File,
        Self::OutOfMemory,
        Self::StdinRead,
        Self::GrowMemory,
        Self::StartVcpu,
        Self::WakeVcpu,
        Self::ReadImage,
    ];

    /// The call whose port this is, if any.
    pub fn from_port(port: u16) -> Option<Self> {
        let number = u32::from(port.checked_sub(PORT_BASE)?);
        Self::ALL.into_iter().find(|call| *call as u32 == number)
    }

    /// The port this call is made on.
    pub const fn port(self) -> u16 {
        PORT_BASE + self as u16
    }
}

/// Console streams.
pub mod stream {
    /// Standard output.
    pub const STDOUT: u32 = 1;
    /// Standard error.
    pub const STDERR: u32 = 2;
}

/// [`Hypercall::ConsoleWrite`]: write `len` bytes at `data` to a stream.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ConsoleWriteArgs {
    /// in: [`stream::STDOUT`] or [`stream::STDERR`].
    pub stream: u32,
    /// Zero.
    pub reserved: u32,
    /// in: the bytes.
    pub data: GuestPtr<u8>,
    /// in: how many, at most [`CONSOLE_WRITE_MAX`].
    pub len: u64,
}

/// Bytes in the guest's standard-output ring ([`ConsoleRing`]).
pub const CONSOLE_RING_SIZE: usize = 64 * 1024;

/// Standard output on its way to the host, without a VM exit per write:
/// the guest appends to this ring in its own memory and names it in the
/// boot info (`BootInfo::console_ring`); the monitor writes what it holds
/// to the host whenever it looks (at the guest's other console writes,
/// before a vCPU idles, every few milliseconds from a thread of its own,
/// and when the VM ends, whatever ended it), and advances `tail`. Byte `n`
/// of the stream is at `data[n % CONSOLE_RING_SIZE]`; the bytes from
/// `tail` to `head` wait. The guest writes the bytes before it advances
/// `head`, and only where the monitor is done (`head - tail` never exceeds
/// the size: the monitor refuses a ring that says otherwise).
#[repr(C)]
pub struct ConsoleRing {
    /// out (guest): bytes ever appended.
    pub head: u64,
    /// in (monitor): bytes ever written to the host (or dropped by it, when
    /// the host's stream is gone).
    pub tail: u64,
    /// The bytes.
    pub data: [u8; CONSOLE_RING_SIZE],
}

/// [`Hypercall::Exit`]: end the program.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ExitArgs {
    /// in: the exit status; the host sees its low 8 bits, as on Linux.
    pub status: i32,
    /// Zero.
    pub reserved: u32,
}

/// [`BlockArgs::wait`] and [`BlockArgs::ready`] bits.
pub mod wait {
    /// Stdin: wake when the host's stdin is readable (data, end of file
    /// or an error), so a guest thread reading it does not stop the others.
    pub const STDIN: u32 = 1 << 0;
    /// The network: wake when the monitor puts a frame in a receive buffer.
    /// A guest with several vCPUs sets it on the one that idles last: while
    /// another vCPU runs threads, that vCPU takes in frames at its own
    /// exits and socket calls, and an idle one woken for each few frames
    /// would only add exits.
    pub const NETWORK: u32 = 1 << 1;
}

/// [`Hypercall::Block`]: idle until guest monotonic time reaches a deadline.
///
/// The monitor returns when the deadline has passed, when a source in
/// `wait` became ready (stdin, or the network device put a frame in a
/// receive buffer: see [`crate::net`]), or when another vCPU woke this one
/// ([`Hypercall::WakeVcpu`]); the guest re-checks its clock and its queues
/// on return. Every vCPU may block at once.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct BlockArgs {
    /// in: guest monotonic time in nanoseconds (see [`crate::boot::BootInfo::tsc_base`]).
    pub deadline_ns: u64,
    /// in: [`wait`] bits, other sources that end the wait.
    pub wait: u32,
    /// out: the [`wait`] bits found ready (the monitor always writes it).
    pub ready: u32,
}

/// [`Hypercall::StdinRead`]: copy what the host's stdin holds now into a
/// guest buffer. Never waits: with nothing to read yet the answer is
/// `-EAGAIN`, and the guest waits in [`Hypercall::Block`] with [`wait::STDIN`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct StdinReadArgs {
    /// in: where the bytes go.
    pub data: GuestPtr<u8>,
    /// in: room at `data`, at most [`STDIN_READ_MAX`].
    pub len: u64,
    /// out: bytes read, 0 at end of file, or `-errno` (`-EAGAIN`: nothing yet).
    pub result: i64,
    /// out: the host's `poll` bits for its stdin before the read (`POLLIN`
    /// 0x1, `POLLERR` 0x8, `POLLHUP` 0x10), for the guest's own `poll`.
    pub revents: u32,
    /// Zero.
    pub reserved: u32,
}

/// [`Hypercall::Panic`]: the program panicked. The monitor reads the vCPU's
/// registers at the call to unwind the guest stack for the report.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct PanicArgs {
    /// in: the panic message (UTF-8, may be truncated).
    pub message: GuestPtr<u8>,
    /// in: its length, at most [`PANIC_MESSAGE_MAX`].
    pub len: u64,
}

/// [`Hypercall::OutOfMemory`]: an allocation the program cannot do without
/// failed (its runtime gave up: Rust's `handle_alloc_error`). The monitor
/// ends the VM with one line naming the guest memory and `-m`, instead of a
/// crash report: nothing in the program's code is at fault.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct OutOfMemoryArgs {
    /// in: the size of the allocation that failed, in bytes.
    pub requested: u64,
}

/// [`Hypercall::GrowMemory`]: the guest's memory is the boot info's free
/// region at first; the heap asks for more when it runs out, and the
/// monitor maps a new block above what is mapped, up to the memory limit
/// (the boot info's `memory_size`), as an operating system's `brk` does.
/// Memory is never unmapped again.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct GrowMemoryArgs {
    /// in: the least number of usable bytes the guest needs.
    pub at_least: u64,
    /// out: the first usable byte of the new memory (0 when refused).
    pub start: u64,
    /// out: usable bytes from `start`, at least `at_least`; 0 when the
    /// limit leaves no room for `at_least` more.
    pub len: u64,
}

/// [`Hypercall::StartVcpu`]: start vCPU `index` (1 to the boot info's
/// `vcpu_count` - 1, each once) at CPL3 at `rip` with `rsp` and `rdi` =
/// `arg`, its GS base at its [`crate::boot::VcpuArea`], and the boot vCPU's
/// page tables, descriptor tables and control registers (its own TSS and
/// trap stack). The guest starts vCPUs when it first has threads to run
/// on them, so a single-threaded program never pays for them.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct StartVcpuArgs {
    /// in: which vCPU.
    pub index: u32,
    /// Zero.
    pub reserved: u32,
    /// in: its first instruction.
    pub rip: u64,
    /// in: its stack pointer (8 mod 16, as after a `call`).
    pub rsp: u64,
    /// in: its first argument register.
    pub arg: u64,
}

/// [`Hypercall::WakeVcpu`]: vCPU `index` has work. If it idles in `Block`
/// that call returns now; if not, its next `Block` returns at once (wakes
/// are latched, so one sent just before the target blocks is not lost).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct WakeVcpuArgs {
    /// in: which vCPU (0 to `vcpu_count` - 1).
    pub index: u32,
    /// Zero.
    pub reserved: u32,
}

/// [`Hypercall::ReadImage`]: copy bytes of the image file the VM booted
/// (all of it, sections the loader skips included: the symbols and debug
/// information a program's own backtraces read through `/proc/self/exe`)
/// into a guest buffer. Its size is the boot info's `image_file_size`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ReadImageArgs {
    /// in: where in the file to start.
    pub offset: u64,
    /// in: where the bytes go.
    pub data: GuestPtr<u8>,
    /// in: room at `data`, at most [`READ_IMAGE_MAX`].
    pub len: u64,
    /// out: bytes copied; fewer than `len` only at the file's end.
    pub copied: u64,
}

const _: () = {
    assert!(core::mem::size_of::<ReadImageArgs>() == 32);
    assert!(core::mem::size_of::<StartVcpuArgs>() == 32);
    assert!(core::mem::size_of::<WakeVcpuArgs>() == 8);
    assert!(core::mem::size_of::<GrowMemoryArgs>() == 24);
    assert!(core::mem::size_of::<OutOfMemoryArgs>() == 8);
    assert!(core::mem::size_of::<ConsoleWriteArgs>() == 24);
    assert!(core::mem::offset_of!(ConsoleRing, head) == 0);
    assert!(core::mem::offset_of!(ConsoleRing, tail) == 8);
    assert!(core::mem::offset_of!(ConsoleRing, data) == 16);
    assert!(core::mem::size_of::<ExitArgs>() == 8);
    assert!(core::mem::size_of::<BlockArgs>() == 16);
    assert!(core::mem::size_of::<StdinReadArgs>() == 32);
    assert!(core::mem::size_of::<PanicArgs>() == 16);
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_call_round_trips_through_its_port() {
        for call in Hypercall::ALL {
            assert_eq!(Hypercall::from_port(call.port()), Some(call));
            assert!(
                call.port() < PORT_BASE + PORT_COUNT,
                "{call:?} outside the reserved ports"
            );
        }
    }

    #[test]
    fn other_ports_are_no_calls() {
        for port in [
            0,
            PORT_BASE - 1,
            PORT_BASE,
            // Calls are numbered from 1 with no gaps: the next number is none.
            PORT_BASE + Hypercall::ALL.len() as u16 + 1,
            PORT_BASE + PORT_COUNT,
            u16::MAX,
        ] {
            assert_eq!(Hypercall::from_port(port), None, "port {port:#x}");
        }
    }
}
