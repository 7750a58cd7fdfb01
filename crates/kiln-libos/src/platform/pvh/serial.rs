//! The console: a 16550 UART at port 0x3f8, as QEMU, Firecracker and Cloud
//! Hypervisor all provide.
//!
//! On QEMU each write is one `rep outsb`: KVM hands a string port write to
//! the VMM in one exit, where a loop of `out`s would exit per byte. Other
//! VMMs get one `out` per byte: Firecracker drops a port write of more than
//! one byte (its serial device counts it as missed), so an image that
//! cannot tell QEMU is there (its `isa-debugcon`, see
//! [`super::probe_debug_console`]) takes the slow way that works
//! everywhere. The UART is not initialised and its line status is not
//! polled: these VMMs accept every byte written to the transmit register,
//! and reading the status costs an exit per byte.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use kiln_abi::hypercall::{CONSOLE_RING_SIZE, ConsoleRing};

/// COM1's transmit register.
const COM1: u16 = 0x3f8;

/// Set at boot when the VMM is known to take string writes whole (QEMU).
pub static STRING_WRITES: AtomicBool = AtomicBool::new(false);

/// Writes `bytes` to the serial port.
pub fn write(bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    if !STRING_WRITES.load(Ordering::Relaxed) {
        for &byte in bytes {
            super::outb(COM1, byte);
        }
        return;
    }
    // SAFETY: a string write to the UART's port (IOPL=3 lets CPL3 do port
    // I/O); it reads `bytes` and changes only rsi and rcx.
    unsafe {
        core::arch::asm!(
            "rep outsb",
            in("dx") COM1,
            inout("rsi") bytes.as_ptr() => _,
            inout("rcx") bytes.len() => _,
            options(nostack, readonly, preserves_flags),
        );
    }
}

/// Writes out what the guest's standard-output ring holds (this platform
/// is its consumer, as the Kiln monitor is on its own).
pub fn drain(ring: *mut ConsoleRing) {
    if ring.is_null() {
        return;
    }
    // SAFETY: the library OS named its ring, a static; `head` is its to
    // write, `tail` ours, both aligned words read and written whole.
    let (head, tail) = unsafe {
        (
            AtomicU64::from_ptr(&raw mut (*ring).head),
            AtomicU64::from_ptr(&raw mut (*ring).tail),
        )
    };
    let end = head.load(Ordering::Acquire);
    let mut at = tail.load(Ordering::Relaxed);
    while at < end {
        let start = at as usize % CONSOLE_RING_SIZE;
        let len = ((end - at) as usize).min(CONSOLE_RING_SIZE - start);
        // SAFETY: `start..start + len` lies inside `data`, bytes the guest
        // appended before advancing `head`.
        write(unsafe {
            core::slice::from_raw_parts((&raw const (*ring).data).cast::<u8>().add(start), len)
        });
        at += len as u64;
    }
    tail.store(end, Ordering::Release);
}
