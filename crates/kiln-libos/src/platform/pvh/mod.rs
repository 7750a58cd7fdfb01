//! The PVH platform: the same image on QEMU (`-M microvm`), Firecracker and
//! Cloud Hypervisor, entered through the Xen PVH boot protocol.
//!
//! The image's `XEN_ELFNOTE_PHYS32_ENTRY` note names [`entry`]'s 32-bit
//! `kiln_pvh_start`, which does at CPL0 the little only CPL0 can do and
//! drops to CPL3, where [`boot`] reads the loader's start info and builds
//! the same [`kiln_abi::boot::BootInfo`] the Kiln monitor hands over. From
//! there the library OS runs unchanged: its hypercalls, which on Kiln's
//! monitor exit to the host, are served here in the guest by [`serve`]
//! (console on the 16550 serial port, exit through QEMU's `isa-debug-exit`,
//! time from the TSC), and a crash prints its report on the serial port
//! ([`crash`]).
//!
//! A virtio network device is found from the command line ([`net`]) and
//! polled: no interrupt is taken.
//!
//! What this platform does not have (yet): more than one vCPU, preemption
//! (threads switch when they block), volumes, stdin.

mod boot;
mod clock;
mod crash;
mod entry;
#[cfg(feature = "net")]
mod net;
mod serial;

use core::sync::atomic::{AtomicBool, Ordering};

use kiln_abi::hypercall::{
    BlockArgs, ConsoleWriteArgs, ExitArgs, GrowMemoryArgs, Hypercall, PanicArgs, ReadImageArgs,
    StdinReadArgs,
};

/// Set by the PVH boot: the image runs on this platform, not Kiln's monitor.
/// Read by the trap stubs (`kiln/traps.rs`) too, as a byte.
pub static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Whether the image was booted through PVH.
#[inline]
pub fn active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

/// The network stack's check for received frames, once it has a device:
/// nothing here can interrupt a `Block`, so it looks while it waits.
#[cfg(feature = "net")]
static FRAMES_WAITING: core::sync::atomic::AtomicPtr<fn() -> bool> =
    core::sync::atomic::AtomicPtr::new(core::ptr::null_mut());

/// Has a `Block` that waits for the network call `check`, which says
/// whether received frames wait.
#[cfg(feature = "net")]
pub fn watch_network(check: &'static fn() -> bool) {
    FRAMES_WAITING.store(core::ptr::from_ref(check).cast_mut(), Ordering::Release);
}

/// The sources in `wait` that a `Block` can end for: received frames.
fn ready(wait: u32) -> u32 {
    #[cfg(feature = "net")]
    {
        use kiln_abi::hypercall::wait::NETWORK;
        if wait & NETWORK != 0
            // SAFETY: null, or from `watch_network`'s `&'static`.
            && let Some(check) = unsafe { FRAMES_WAITING.load(Ordering::Acquire).as_ref() }
            && check()
        {
            return NETWORK;
        }
    }
    let _ = wait;
    0
}

/// QEMU's `isa-debug-exit` device (`-device isa-debug-exit,iobase=0xf4`):
/// a write ends QEMU with status `(value << 1) | 1`.
const DEBUG_EXIT: u16 = 0xf4;
/// QEMU's `isa-debugcon` port (`-device isa-debugcon,iobase=0x402`), where
/// `kiln run --hypervisor qemu` reads the full exit status: `isa-debug-exit`
/// can only carry its low seven bits.
const DEBUG_CONSOLE: u16 = 0x402;
/// What QEMU's `isa-debugcon` answers a read with (its default `readback`).
const DEBUG_CONSOLE_READBACK: u8 = 0xe9;

/// Set at boot when QEMU's `isa-debugcon` answers: the status goes there.
static DEBUG_CONSOLE_PRESENT: AtomicBool = AtomicBool::new(false);
/// Set at boot when the command line holds [`STATUS_LINE_WORD`]: the exit
/// status is also printed on the console, as `kiln-exit: NNN`, for VMMs
/// that cannot carry it (Firecracker's own exit code is 0 whatever the
/// guest's status: a reset through the i8042 is its clean stop).
pub static STATUS_LINE: AtomicBool = AtomicBool::new(false);
/// The command-line word that asks for the status line
/// (`kiln run --hypervisor firecracker` passes it).
pub const STATUS_LINE_WORD: &[u8] = b"kiln.status-line";

/// Looks for QEMU's `isa-debugcon` (one port read, one exit): where it
/// answers, the VMM is QEMU, whose UART takes string writes whole.
fn probe_debug_console() {
    let present = inb(DEBUG_CONSOLE) == DEBUG_CONSOLE_READBACK;
    DEBUG_CONSOLE_PRESENT.store(present, Ordering::Relaxed);
    serial::STRING_WRITES.store(present, Ordering::Relaxed);
}

/// One byte to an I/O port (the serial port, the PIT, the RTC, the
/// debug and exit ports, the i8042).
fn outb(port: u16, value: u8) {
    // SAFETY: IOPL=3 allows port I/O at CPL3; unclaimed ports are ignored.
    unsafe {
        core::arch::asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack, preserves_flags))
    };
}

/// One byte from an I/O port.
fn inb(port: u16) -> u8 {
    let value: u8;
    // SAFETY: as `outb`; an unclaimed port reads as some byte.
    unsafe {
        core::arch::asm!("in al, dx", in("dx") port, out("al") value, options(nomem, nostack, preserves_flags))
    };
    value
}

/// Set when the guest powers off: the trap path (`entry`) then halts.
pub static STOPPING: AtomicBool = AtomicBool::new(false);

/// Ends the VM with `status`: the status in decimal on the debug console
/// (where QEMU's answers) and on the serial console (when asked), then
/// `isa-debug-exit`, else a reset through the i8042 (Firecracker's way to
/// stop), then halting (a `ud2` into the trap path, as a CPL3 `hlt`
/// faults): a vCPU spinning here would hold a CPU the VMM's own thread
/// needs to carry the stop out (3.5-4.5 ms from the reset to the vCPU's
/// end in 3 of 4 traced Firecracker runs on a loaded host; ~0 halted).
pub fn power_off(status: i32) -> ! {
    let status = status as u8;
    let mut line = *b"kiln-exit: 000\n";
    for (at, digit) in [status / 100, status / 10 % 10, status % 10]
        .into_iter()
        .enumerate()
    {
        line[11 + at] += digit;
    }
    if DEBUG_CONSOLE_PRESENT.load(Ordering::Relaxed) {
        for &byte in &line[11..] {
            outb(DEBUG_CONSOLE, byte);
        }
    }
    if STATUS_LINE.load(Ordering::Relaxed) {
        serial::write(&line);
    }
    outb(DEBUG_EXIT, status);
    outb(0x64, 0xfe);
    STOPPING.store(true, Ordering::Relaxed);
    // SAFETY: the trap path halts for good once `STOPPING` is set.
    unsafe { core::arch::asm!("ud2", options(noreturn, nostack)) }
}

/// The top of guest RAM (the boot info's memory size).
fn memory_top() -> u64 {
    crate::platform::boot_info().memory_size
}

/// Writes out the standard-output ring, before anything else reaches the
/// console, as the Kiln monitor does.
fn flush_console() {
    let info = crate::platform::kiln::boot_info_block();
    // SAFETY: our own boot info (`boot`); the guest writes this field with
    // a volatile store, so it is read with one.
    let ring = unsafe { (&raw const (*info).console_ring).read_volatile() };
    serial::drain(ring.addr() as *mut _);
}

/// Serves hypercall `call` with its argument block at `args`, as Kiln's
/// monitor would.
///
/// # Safety
/// `args` points at the argument block of `call`, writable.
pub unsafe fn serve(call: Hypercall, args: *mut u8) {
    match call {
        Hypercall::ConsoleWrite => {
            flush_console();
            // SAFETY: per the caller, the block is this call's.
            let args = unsafe { &*args.cast::<ConsoleWriteArgs>() };
            // SAFETY: the library OS passes one of its own buffers.
            serial::write(unsafe {
                core::slice::from_raw_parts(args.data.addr() as *const u8, args.len as usize)
            });
        }
        Hypercall::Exit => {
            flush_console();
            // SAFETY: per the caller, the block is this call's.
            power_off(unsafe { &*args.cast::<ExitArgs>() }.status)
        }
        Hypercall::Block => {
            flush_console();
            // SAFETY: per the caller, the block is this call's.
            let args = unsafe { &mut *args.cast::<BlockArgs>() };
            let info = crate::platform::boot_info();
            // In u64 without overflow: the frequency is below 2^34 Hz.
            let (seconds, ns) = (
                args.deadline_ns / 1_000_000_000,
                args.deadline_ns % 1_000_000_000,
            );
            let ticks = seconds
                .saturating_mul(info.tsc_hz)
                .saturating_add(ns * info.tsc_hz / 1_000_000_000);
            let deadline = info.tsc_base.saturating_add(ticks);
            // No timer interrupt to sleep until, nor a device's: the vCPU
            // waits here, looking at the network device's queue.
            args.ready = 0;
            while super::rdtsc() < deadline {
                args.ready = ready(args.wait);
                if args.ready != 0 {
                    break;
                }
                core::hint::spin_loop();
            }
        }
        Hypercall::Panic => {
            // SAFETY: per the caller, the block is this call's.
            let args = unsafe { &*args.cast::<PanicArgs>() };
            // SAFETY: the library OS passes its own message buffer.
            crash::panic(unsafe {
                core::slice::from_raw_parts(args.message.addr() as *const u8, args.len as usize)
            })
        }
        Hypercall::OutOfMemory => {
            flush_console();
            serial::write(b"kiln: out of guest memory\n");
            power_off(137)
        }
        // No stdin on this platform: at once at its end.
        // SAFETY: per the caller, the block is this call's.
        Hypercall::StdinRead => unsafe { &mut *args.cast::<StdinReadArgs>() }.result = 0,
        // All RAM is mapped at boot.
        // SAFETY: per the caller, the block is this call's.
        Hypercall::GrowMemory => unsafe { &mut *args.cast::<GrowMemoryArgs>() }.len = 0,
        // No image file to read (`image_file_size` is 0).
        // SAFETY: per the caller, the block is this call's.
        Hypercall::ReadImage => unsafe { &mut *args.cast::<ReadImageArgs>() }.copied = 0,
        // One vCPU (`vcpu_count` is 1) and no volumes: never made.
        _ => {
            serial::write(b"kiln: a hypercall this platform does not serve\n");
            power_off(125)
        }
    }
}
