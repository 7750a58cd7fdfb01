//! A guest that breaks the hypercall ABI on purpose, one way per argument,
//! to show that the monitor ends it cleanly instead of trusting it.
#![no_std]
#![no_main]

use core::arch::asm;

use kiln_abi::GuestPtr;
use kiln_abi::errno::EFBIG;
use kiln_abi::file::{FileArgs, FileOp, IO_MAX, PATH_MAX, PENDING_MAX};
use kiln_abi::hypercall::{
    CONSOLE_RING_SIZE, CONSOLE_WRITE_MAX, ConsoleRing, ConsoleWriteArgs, GrowMemoryArgs, Hypercall,
    PORT_BASE, PORT_COUNT, PanicArgs, READ_IMAGE_MAX, ReadImageArgs, STDIN_READ_MAX, StdinReadArgs,
    stream,
};

mod files;

kiln::entry!(main);

fn main() -> i32 {
    let Some(case) = kiln::env::args().nth(1) else {
        kiln::eprintln!("usage: hostile CASE");
        return 2;
    };
    // The end of the memory mapped now: the limit is mapped only as the
    // heap grows.
    let memory = kiln::platform::boot_info()
        .regions()
        .iter()
        .map(|region| region.start + region.len)
        .max()
        .unwrap_or(0);
    let text = b"never printed\n";
    match case {
        "console-outside" => console(stream::STDOUT, 0xffff_0000, 16),
        "console-huge-length" => console(stream::STDOUT, text.as_ptr() as u64, u64::MAX),
        "console-wrapping" => console(stream::STDOUT, u64::MAX - 4, 16),
        "console-too-long" => console(stream::STDOUT, text.as_ptr() as u64, CONSOLE_WRITE_MAX + 1),
        "console-past-end" => console(stream::STDOUT, memory - 8, 16),
        "console-bad-stream" => console(7, text.as_ptr() as u64, text.len() as u64),
        // Rings the monitor empties on its own, here when the vCPU idles.
        "console-ring-outside" => idle_with_ring((memory - 8) as *mut ConsoleRing),
        "console-ring-overrun" => {
            let ring = RING.0.get();
            // SAFETY: this guest's own static, which nothing else uses.
            unsafe { (*ring).head = CONSOLE_RING_SIZE as u64 + 1 };
            idle_with_ring(ring);
        }
        "args-outside" => out32(Hypercall::ConsoleWrite.port(), 0xffff_fff0),
        "args-straddling-end" => out32(Hypercall::ConsoleWrite.port(), (memory - 8) as u32),
        // The last port a 4-byte `out` may use (it covers four ports).
        "unknown-call" => out32(PORT_BASE, 0x1000),
        "byte-access" => out8(Hypercall::ConsoleWrite.port(), 0),
        "panic-outside" => {
            let mut args = PanicArgs {
                message: GuestPtr::new(memory + 4096),
                len: 8,
            };
            call(Hypercall::Panic, &mut args);
        }
        "raw-syscall" => {
            // As rustix's default backend does: getpid with `syscall`.
            // SAFETY: a guest has no kernel; this faults, which is the test.
            unsafe { asm!("syscall", inout("rax") 39u64 => _, out("rcx") _, out("r11") _) };
        }
        "thread-name-escapes" => {
            // A thread name that would forge a report line and colour the
            // terminal, then a crash for the report to name it in.
            let name = b"\x1b[31mx\nkiln: forged\0";
            kiln::platform::set_current_thread(7, name.as_ptr());
            kiln::platform::report_panic(b"named thread");
        }
        "thread-name-outside" => {
            kiln::platform::set_current_thread(7, (memory + 4096) as *const u8);
            kiln::platform::report_panic(b"unnamed thread");
        }
        "panic-huge" => {
            let mut args = PanicArgs {
                message: GuestPtr::from_ptr(text.as_ptr()),
                len: 1 << 40,
            };
            call(Hypercall::Panic, &mut args);
        }
        "foreign-port" => out32(0x80, 0),
        "grow-args-outside" => out32(Hypercall::GrowMemory.port(), (memory - 8) as u32),
        "grow-until-refused" => {
            grow_until_refused();
            return 0;
        }
        "read-image-outside" => {
            read_image(0, memory + 0x1000, 16);
        }
        "read-image-too-long" => {
            read_image(0, text.as_ptr() as u64, READ_IMAGE_MAX + 1);
        }
        "read-image-past-its-end" => {
            let mut buf = [0u8; 16];
            let copied = read_image(u64::MAX - 4, buf.as_mut_ptr() as u64, 16);
            kiln::println!("read past the image's end: {copied} bytes");
            return 0;
        }
        "stdin-outside" => stdin_read(memory + 0x1000, 16),
        "stdin-past-end" => stdin_read(memory - 8, 16),
        "stdin-too-long" => stdin_read(text.as_ptr() as u64, STDIN_READ_MAX + 1),
        "file-unknown-op" => file(FileArgs {
            op: 99,
            ..FileArgs::default()
        }),
        "file-stat-wrong-size" => file(FileArgs {
            op: FileOp::Stat as u32,
            buf: GuestPtr::from_ptr(text.as_ptr()),
            len: 87,
            ..FileArgs::default()
        }),
        "file-read-outside" => file(FileArgs {
            op: FileOp::Read as u32,
            buf: GuestPtr::new(memory + 4096),
            len: 16,
            ..FileArgs::default()
        }),
        "file-read-too-long" => file(FileArgs {
            op: FileOp::Read as u32,
            buf: GuestPtr::from_ptr(text.as_ptr()),
            len: IO_MAX + 1,
            ..FileArgs::default()
        }),
        "file-path-too-long" => file(FileArgs {
            op: FileOp::Open as u32,
            path: GuestPtr::from_ptr(text.as_ptr()),
            path_len: PATH_MAX + 1,
            ..FileArgs::default()
        }),
        "file-pending-open" => {
            let pending = [FileArgs {
                op: FileOp::Open as u32,
                ..FileArgs::default()
            }];
            file(FileArgs {
                op: FileOp::Flush as u32,
                pending: GuestPtr::from_ptr(pending.as_ptr()),
                pending_count: 1,
                ..FileArgs::default()
            });
        }
        "file-pending-outside" => file(FileArgs {
            op: FileOp::Flush as u32,
            pending: GuestPtr::new(memory - 8),
            pending_count: 2,
            ..FileArgs::default()
        }),
        "file-pending-too-many" => file(FileArgs {
            op: FileOp::Flush as u32,
            pending: GuestPtr::from_ptr(text.as_ptr().cast()),
            pending_count: PENDING_MAX + 1,
            ..FileArgs::default()
        }),
        "file-every-op" => return files::every_op(memory),
        "file-past-size-limit" => return past_size_limit(),
        "file-fifo-writes" => {
            let name = kiln::env::args().nth(2).unwrap_or_default();
            fifo_writes(name.as_bytes());
        }
        "file-truncate-own-image" => {
            let name = kiln::env::args().nth(2).unwrap_or_default();
            truncate_own_image(name.as_bytes());
        }
        "random" => {
            let seed = kiln::env::args().nth(2).and_then(|s| s.parse().ok());
            random_calls(seed.unwrap_or(1), memory);
        }
        _ => {
            kiln::eprintln!("hostile: unknown case {case}");
            return 2;
        }
    }
    kiln::eprintln!("hostile: the monitor resumed after {case}");
    1
}

/// Random argument blocks for random hypercall ports: words that are
/// arbitrary, addresses inside guest memory, or small lengths, so that calls
/// get past some checks and fail deeper ones. The block sits in guest memory
/// most of the time; sometimes the pointer itself is random.
fn random_calls(seed: u64, memory: u64) {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut block = [0u64; 64];
    for _ in 0..64 {
        for word in block.iter_mut() {
            *word = match next() % 3 {
                0 => next(),
                1 => next() % memory,
                _ => next() % 64,
            };
        }
        let port = PORT_BASE + (next() % u64::from(PORT_COUNT)) as u16;
        let args = if next() % 4 == 0 {
            next() as u32
        } else {
            block.as_mut_ptr() as u64 as u32
        };
        out32(port, args);
    }
}

/// Run with the host's file-size limit (`ulimit -f`) under 1 MiB and a
/// read-write volume 0: writing or growing a file past the limit must fail
/// with `EFBIG`, as it does for a host program that ignores `SIGXFSZ`, and
/// must not kill the monitor with that signal.
fn past_size_limit() -> i32 {
    const O_RDWR: u32 = 0o2;
    const O_CREAT: u32 = 0o100;
    let name = b"big";
    let open = file_call(FileArgs {
        op: FileOp::Open as u32,
        path: GuestPtr::from_ptr(name.as_ptr()),
        path_len: name.len() as u64,
        flags: O_RDWR | O_CREAT,
        mode: 0o644,
        ..FileArgs::default()
    });
    if open.result != 0 {
        kiln::eprintln!("hostile: open failed: {}", open.result);
        return 1;
    }
    let byte = b"x";
    let write = file_call(FileArgs {
        op: FileOp::Write as u32,
        handle: open.handle,
        buf: GuestPtr::from_ptr(byte.as_ptr()),
        len: 1,
        offset: 1 << 20,
        ..FileArgs::default()
    });
    let truncate = file_call(FileArgs {
        op: FileOp::Truncate as u32,
        handle: open.handle,
        offset: 1 << 20,
        ..FileArgs::default()
    });
    let efbig = -i64::from(EFBIG);
    if write.result != efbig || truncate.result != efbig {
        kiln::eprintln!(
            "hostile: write {}, truncate {}; expected {efbig}",
            write.result,
            truncate.result
        );
        return 1;
    }
    kiln::println!("past the file-size limit: EFBIG");
    0
}

/// Run with a FIFO on the host, in read-write volume 0, named by `name`,
/// that nothing reads: opens it (read-write, which does not wait for a
/// peer) and then defers write after write of 64 KiB to it, so each call's
/// first write fills the pipe and every later one blocks in the monitor.
/// `--timeout` must still end the VM.
fn fifo_writes(name: &[u8]) {
    const O_RDWR: u32 = 0o2;
    let open = file_call(FileArgs {
        op: FileOp::Open as u32,
        path: GuestPtr::from_ptr(name.as_ptr()),
        path_len: name.len() as u64,
        flags: O_RDWR,
        ..FileArgs::default()
    });
    if open.result != 0 {
        kiln::eprintln!("hostile: open failed: {}", open.result);
        return;
    }
    // Any 64 KiB of guest memory will do as the data: the image's.
    let write = FileArgs {
        op: FileOp::Write as u32,
        handle: open.handle,
        buf: GuestPtr::new(kiln::platform::boot_info().image_start),
        len: 64 << 10,
        offset: kiln_abi::file::CURRENT_POSITION,
        ..FileArgs::default()
    };
    let writes = [write; PENDING_MAX as usize];
    loop {
        file(FileArgs {
            op: FileOp::Flush as u32,
            pending: GuestPtr::from_ptr(writes.as_ptr()),
            pending_count: PENDING_MAX,
            ..FileArgs::default()
        });
    }
}

/// Run with its own image file inside read-write volume 0, named by
/// `name`: tries to truncate and overwrite that file, then panics, so the
/// monitor reads the image's debug info for the crash report. The monitor
/// maps the image; had the file shrunk under it, that read would fault.
fn truncate_own_image(name: &[u8]) {
    const O_WRONLY: u32 = 0o1;
    const O_RDWR: u32 = 0o2;
    const O_TRUNC: u32 = 0o1000;
    for flags in [O_WRONLY | O_TRUNC, O_RDWR, O_TRUNC] {
        let open = file_call(FileArgs {
            op: FileOp::Open as u32,
            path: GuestPtr::from_ptr(name.as_ptr()),
            path_len: name.len() as u64,
            flags,
            ..FileArgs::default()
        });
        kiln::println!("open {flags:#o}: {}", open.result);
        if open.result == 0 {
            file_call(FileArgs {
                op: FileOp::Truncate as u32,
                handle: open.handle,
                ..FileArgs::default()
            });
        }
    }
    let message = b"after truncating the image";
    let mut args = PanicArgs {
        message: GuestPtr::from_ptr(message.as_ptr()),
        len: message.len() as u64,
    };
    call(Hypercall::Panic, &mut args);
}

/// A standard-output ring of this guest's own, to break.
struct Ring(core::cell::UnsafeCell<ConsoleRing>);

// SAFETY: only the one case that breaks it touches it, on one vCPU.
unsafe impl Sync for Ring {}

static RING: Ring = Ring(core::cell::UnsafeCell::new(ConsoleRing {
    head: 0,
    tail: 0,
    data: [0; CONSOLE_RING_SIZE],
}));

/// Names `ring` as the console's, then idles (up to 5 s of guest time),
/// which has the monitor empty it.
fn idle_with_ring(ring: *mut ConsoleRing) {
    kiln::platform::set_console_ring(ring);
    kiln::platform::block_until(5_000_000_000);
}

fn console(stream: u32, data: u64, len: u64) {
    let mut args = ConsoleWriteArgs {
        stream,
        reserved: 0,
        data: GuestPtr::new(data),
        len,
    };
    call(Hypercall::ConsoleWrite, &mut args);
}

fn grow(at_least: u64) -> (u64, u64) {
    let mut args = GrowMemoryArgs {
        at_least,
        ..GrowMemoryArgs::default()
    };
    call(Hypercall::GrowMemory, &mut args);
    (args.start, args.len)
}

/// Asks for impossible amounts, then grows block by block to the limit,
/// writing each block's last byte and printing from the block itself (the
/// monitor must accept a buffer there), until the limit refuses.
fn grow_until_refused() {
    let limit = kiln::platform::boot_info().memory_size;
    kiln::println!("u64::MAX: {:?}", grow(u64::MAX));
    kiln::println!("the limit: {:?}", grow(limit));
    loop {
        let (start, len) = grow(1);
        if len == 0 {
            kiln::println!("refused: {start} {len}");
            return;
        }
        let text = b"written in the new block\n";
        // SAFETY: the monitor just mapped `len` bytes at `start` for us.
        unsafe {
            let last = (start + len - 1) as *mut u8;
            last.write_volatile(0x5a);
            assert_eq!(last.read_volatile(), 0x5a);
            core::ptr::copy_nonoverlapping(text.as_ptr(), start as *mut u8, text.len());
        }
        kiln::println!("block ends at {} MiB", (start + len) >> 20);
        console(stream::STDOUT, start, text.len() as u64);
    }
}

fn read_image(offset: u64, data: u64, len: u64) -> u64 {
    let mut args = ReadImageArgs {
        offset,
        data: GuestPtr::new(data),
        len,
        copied: 0,
    };
    call(Hypercall::ReadImage, &mut args);
    args.copied
}

fn stdin_read(data: u64, len: u64) {
    let mut args = StdinReadArgs {
        data: GuestPtr::new(data),
        len,
        ..StdinReadArgs::default()
    };
    call(Hypercall::StdinRead, &mut args);
}

fn file(mut args: FileArgs) {
    call(Hypercall::File, &mut args);
}

/// Makes a `File` call and returns the block as the monitor left it.
fn file_call(mut args: FileArgs) -> FileArgs {
    call(Hypercall::File, &mut args);
    args
}

fn call<T>(call: Hypercall, args: &mut T) {
    out32(call.port(), args as *mut T as u64 as u32);
}

fn out32(port: u16, value: u32) {
    // SAFETY: a port write only exits to the monitor (or faults, for ports
    // outside the hypercall range); that is what this guest is testing.
    unsafe { asm!("out dx, eax", in("dx") port, in("eax") value) };
}

fn out8(port: u16, value: u8) {
    // SAFETY: as for `out32`.
    unsafe { asm!("out dx, al", in("dx") port, in("al") value) };
}
