//! The ELF notes that mark a file as a Kiln image.
//!
//! All notes have the owner name [`NAME`] and live in one `PT_NOTE` segment.
//! The monitor refuses an image without an [`ABI_VERSION`] note equal to
//! [`crate::ABI_VERSION`].

/// Owner name of every Kiln note (without the terminating NUL).
pub const NAME: &str = "Kiln";

/// Descriptor: the image's ABI version as a little-endian `u32`.
pub const ABI_VERSION: u32 = 1;

/// Descriptor: the NUL-terminated name of one library-OS service compiled
/// into the image (`alloc`, `time`, ...). One note per service.
pub const SERVICE: u32 = 2;

/// Descriptor: the little-endian `u64` address of the trap stub table
/// (see [`crate::trap`]).
pub const TRAP_TABLE: u32 = 3;

/// Descriptor: the little-endian `u64` address of the preemption upcall
/// entry, where the monitor sends a thread whose time slice ended (CPL3
/// code; the interrupted RFLAGS and RIP are on the stack, 128 bytes below
/// the interrupted stack pointer, see [`crate::boot::Preemption`]).
pub const UPCALL: u32 = 4;
