//! `ByteValued` for the ABI structs, so the monitor reads and writes them in
//! guest memory with `vm-memory`'s checked accessors.

use vm_memory::ByteValued;

use crate::boot::{BootInfo, GuestStatus, MemoryRegion, Preemption, ThreadTable, TlsTemplate};
use crate::file::{FileArgs, FileLock, FileStat, Volume};
use crate::hypercall::{
    BlockArgs, ConsoleWriteArgs, ExitArgs, GrowMemoryArgs, OutOfMemoryArgs, PanicArgs,
    ReadImageArgs, StartVcpuArgs, StdinReadArgs, WakeVcpuArgs,
};
use crate::net::NetConfig;
use crate::trap::TrapFrame;

// SAFETY: each type is `#[repr(C)]`, made only of integers (and `GuestPtr`,
// a transparent `u64`), with explicit padding fields and no implicit padding
// (checked by the size asserts beside each type), so every byte pattern is a
// valid value.
unsafe impl ByteValued for BootInfo {}
// SAFETY: as above.
unsafe impl ByteValued for MemoryRegion {}
// SAFETY: as above.
unsafe impl ByteValued for GuestStatus {}
// SAFETY: as above.
unsafe impl ByteValued for TlsTemplate {}
// SAFETY: as above.
unsafe impl ByteValued for Preemption {}
// SAFETY: as above.
unsafe impl ByteValued for ConsoleWriteArgs {}
// SAFETY: as above.
unsafe impl ByteValued for ExitArgs {}
// SAFETY: as above.
unsafe impl ByteValued for BlockArgs {}
// SAFETY: as above.
unsafe impl ByteValued for PanicArgs {}
// SAFETY: as above.
unsafe impl ByteValued for OutOfMemoryArgs {}
// SAFETY: as above.
unsafe impl ByteValued for StdinReadArgs {}
// SAFETY: as above.
unsafe impl ByteValued for GrowMemoryArgs {}
// SAFETY: as above.
unsafe impl ByteValued for StartVcpuArgs {}
// SAFETY: as above.
unsafe impl ByteValued for WakeVcpuArgs {}
// SAFETY: as above.
unsafe impl ByteValued for ReadImageArgs {}
// SAFETY: as above.
unsafe impl ByteValued for TrapFrame {}
// SAFETY: as above.
unsafe impl ByteValued for FileArgs {}
// SAFETY: as above.
unsafe impl ByteValued for FileStat {}
// SAFETY: as above.
unsafe impl ByteValued for FileLock {}
// SAFETY: as above.
unsafe impl ByteValued for Volume {}
// SAFETY: as above.
unsafe impl ByteValued for NetConfig {}
// SAFETY: as above.
unsafe impl ByteValued for ThreadTable {}
