//! The Kiln monitor platform.
//!
//! The monitor enters [`entry`]'s `_start` at CPL3 with `rdi` pointing at the
//! boot info; the library OS talks back only through [`hypercall`]s. CPU
//! exceptions go to the CPL0 stubs in [`traps`]; time-slice ends arrive as
//! upcalls at CPL3 ([`preempt`]).

mod entry;
pub(crate) use entry::kiln_entry;
mod hypercall;
pub mod preempt;
mod traps;

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicPtr, Ordering};

use kiln_abi::GuestPtr;
use kiln_abi::boot::BootInfo;
#[cfg(feature = "fs")]
use kiln_abi::hypercall::ReadImageArgs;
#[cfg(feature = "fs")]
use kiln_abi::hypercall::StdinReadArgs;
use kiln_abi::hypercall::{
    BlockArgs, ConsoleWriteArgs, ExitArgs, GrowMemoryArgs, Hypercall, OutOfMemoryArgs, PanicArgs,
    StartVcpuArgs, WakeVcpuArgs,
};

use hypercall::hypercall;

/// The monitor's boot-info block, where the guest writes its status back.
/// Only ever accessed through raw pointers.
static BOOT_INFO: AtomicPtr<BootInfo> = AtomicPtr::new(core::ptr::null_mut());

/// The guest's own copy of the boot info, which [`boot_info`] hands out:
/// references into the monitor's block would see the status writes change
/// memory behind a shared reference.
struct BootCopy(UnsafeCell<MaybeUninit<BootInfo>>);

// SAFETY: written once, in `entry`, before any other guest code runs; only
// read after that.
unsafe impl Sync for BootCopy {}

static BOOT_COPY: BootCopy = BootCopy(UnsafeCell::new(MaybeUninit::uninit()));

/// The boot info the monitor handed over.
pub fn boot_info() -> &'static BootInfo {
    // SAFETY: initialised in `entry` before any other code runs, and never
    // written again.
    unsafe { (*BOOT_COPY.0.get()).assume_init_ref() }
}

/// The boot-info block the guest writes its status into (the monitor's,
/// or on PVH the platform's own).
pub(crate) fn boot_info_block() -> *mut BootInfo {
    BOOT_INFO.load(Ordering::Relaxed)
}

/// Records when the program's `main` starts, for `kiln run --verbose`.
pub fn stamp_main() {
    let info = BOOT_INFO.load(Ordering::Relaxed);
    // SAFETY: `info` is the monitor's boot-info block (see `BOOT_INFO`); the field is
    // plain data the guest owns.
    unsafe { (&raw mut (*info).guest.main_tsc).write_volatile(super::rdtsc()) };
}

/// Names the guest's standard-output ring to the monitor, which empties it
/// from then on ([`kiln_abi::hypercall::ConsoleRing`]).
pub fn set_console_ring(ring: *mut kiln_abi::hypercall::ConsoleRing) {
    let info = BOOT_INFO.load(Ordering::Relaxed);
    // SAFETY: `info` is the monitor's boot-info block (see `BOOT_INFO`); the
    // field is plain data the guest owns.
    unsafe { (&raw mut (*info).console_ring).write_volatile(GuestPtr::from_ptr(ring)) };
}

/// Tells the monitor where the scheduler keeps its threads, for core files.
pub fn publish_threads(table: kiln_abi::boot::ThreadTable) {
    let info = BOOT_INFO.load(Ordering::Relaxed);
    // SAFETY: `info` is the monitor's boot-info block (see `BOOT_INFO`); the field is
    // plain data the guest owns.
    unsafe { (&raw mut (*info).threads).write_volatile(table) };
}

/// This vCPU's record, shared with the monitor: GS points at it, and its
/// first word is its address.
#[inline]
pub(crate) fn vcpu_area() -> *mut kiln_abi::boot::VcpuArea {
    let area: u64;
    // SAFETY: the monitor sets every vCPU's GS base to its record before
    // the vCPU's first instruction; the load has no other effect.
    unsafe {
        core::arch::asm!("mov {}, gs:[0]", out(reg) area, options(nostack, readonly, preserves_flags))
    };
    area as *mut kiln_abi::boot::VcpuArea
}

/// The number of the vCPU this code runs on (0 for the boot vCPU). Only
/// meaningful while preemption is disabled: a thread may move between vCPUs
/// at any other time.
#[inline]
pub fn vcpu_index() -> usize {
    // SAFETY: this vCPU's record (see `vcpu_area`); `index` is the monitor's.
    unsafe { (*vcpu_area()).index as usize }
}

/// The vCPUs the VM has (`kiln run --cpus`), of which only the boot vCPU
/// runs until [`start_vcpu`].
pub fn vcpu_count() -> usize {
    (boot_info().vcpu_count as usize).clamp(1, kiln_abi::boot::MAX_VCPUS)
}

/// Starts vCPU `index` (once each) running `entry(arg)` on the stack whose
/// top is `stack_top` (16-byte aligned). `entry` must never return.
pub fn start_vcpu(index: usize, entry: extern "C" fn(usize) -> !, stack_top: u64, arg: usize) {
    let mut args = StartVcpuArgs {
        index: index as u32,
        reserved: 0,
        rip: entry as usize as u64,
        // As after a `call`: the entry is an ordinary function.
        rsp: stack_top - 8,
        arg: arg as u64,
    };
    hypercall(Hypercall::StartVcpu, &mut args);
}

/// Ends vCPU `index`'s idling in [`block`], now or at its next.
pub fn wake_vcpu(index: usize) {
    let mut args = WakeVcpuArgs {
        index: index as u32,
        reserved: 0,
    };
    hypercall(Hypercall::WakeVcpu, &mut args);
}

/// Records the thread running on this vCPU, and where its name is (or
/// null), for the monitor's crash reports. Called with preemption disabled.
pub fn set_current_thread(id: u64, name: *const u8) {
    let area = vcpu_area();
    // SAFETY: this vCPU's record; the fields are plain data the guest owns.
    unsafe {
        (&raw mut (*area).thread).write_volatile(id);
        (&raw mut (*area).thread_name).write_volatile(GuestPtr::from_ptr(name));
    }
}

/// Marks the 4 KiB page at `page` present or not present, through the
/// kernel call (see `traps`; the only change guest CPL3 code makes to its
/// page tables: thread-stack guard pages). Returns false if the page is not
/// mapped with 4 KiB pages, which leaves it as it was.
pub fn set_page_present(page: u64, present: bool) -> bool {
    // SAFETY: the kernel call only rewrites the present bit of this page's
    // own entry, and the caller owns the page (a thread stack it allocated).
    unsafe { kiln_kernel_call_site(page, u64::from(present)) == 0 }
}

// SAFETY: defined in `traps` with the C calling convention.
unsafe extern "C" {
    fn kiln_kernel_call_site(page: u64, present: u64) -> u64;
}

/// Writes bytes to a console stream, split into calls the monitor accepts.
pub fn console_write(stream: u32, bytes: &[u8]) {
    for chunk in bytes.chunks(kiln_abi::hypercall::CONSOLE_WRITE_MAX as usize) {
        let mut args = ConsoleWriteArgs {
            stream,
            reserved: 0,
            data: GuestPtr::from_ptr(chunk.as_ptr()),
            len: chunk.len() as u64,
        };
        hypercall(Hypercall::ConsoleWrite, &mut args);
    }
}

/// Ends the VM with `status`.
pub fn exit(status: i32) -> ! {
    let mut args = ExitArgs {
        status,
        reserved: 0,
    };
    hypercall(Hypercall::Exit, &mut args);
    unreachable_after_stop()
}

/// Idles the vCPU until guest monotonic time reaches `deadline_ns` (or the
/// monitor wakes it earlier; callers re-check their clock).
pub fn block_until(deadline_ns: u64) {
    block(deadline_ns, 0);
}

/// As [`block_until`], also ending the wait when a source in `wait`
/// (`kiln_abi::hypercall::wait` bits) is ready; returns the ready ones.
pub fn block(deadline_ns: u64, wait: u32) -> u32 {
    let mut args = BlockArgs {
        deadline_ns,
        wait,
        ready: 0,
    };
    hypercall(Hypercall::Block, &mut args);
    args.ready
}

/// Reads what the host's stdin holds now into `buf` (at most
/// `STDIN_READ_MAX` bytes), never waiting: the byte count (0 at end of
/// file) or `-errno` (`-EAGAIN`: nothing yet), and the host's `poll` bits.
#[cfg(feature = "fs")]
pub fn stdin_read(buf: &mut [u8]) -> (i64, u32) {
    let len = buf.len().min(kiln_abi::hypercall::STDIN_READ_MAX as usize);
    let mut args = StdinReadArgs {
        data: GuestPtr::from_ptr(buf.as_mut_ptr().cast_const()),
        len: len as u64,
        ..StdinReadArgs::default()
    };
    hypercall(Hypercall::StdinRead, &mut args);
    (args.result, args.revents)
}

/// As [`stdin_read`], into the spare capacity of `into` (at most `max`
/// bytes), which grows by the bytes read. The capacity is not zeroed first:
/// its pages are touched only by the bytes that come.
#[cfg(feature = "fs")]
pub fn stdin_read_append(into: &mut alloc::vec::Vec<u8>, max: usize) -> (i64, u32) {
    into.reserve_exact(max);
    let spare = into.spare_capacity_mut();
    let len = max
        .min(spare.len())
        .min(kiln_abi::hypercall::STDIN_READ_MAX as usize);
    let mut args = StdinReadArgs {
        data: GuestPtr::from_ptr(spare.as_mut_ptr().cast::<u8>().cast_const()),
        len: len as u64,
        ..StdinReadArgs::default()
    };
    hypercall(Hypercall::StdinRead, &mut args);
    if let Ok(n) = usize::try_from(args.result) {
        // SAFETY: the monitor wrote the first `n` bytes of the spare
        // capacity (`n` is at most the `len` it was given, enforced here).
        unsafe { into.set_len(into.len() + n.min(len)) };
    }
    (args.result, args.revents)
}

/// Whether the guest's stdin is a terminal on the host.
pub fn stdin_is_terminal() -> bool {
    boot_info().flags & kiln_abi::boot::FLAG_STDIN_TTY != 0
}

/// Reports a panic; the monitor unwinds the stack from here and ends the VM.
pub fn report_panic(message: &[u8]) -> ! {
    let len = message
        .len()
        .min(kiln_abi::hypercall::PANIC_MESSAGE_MAX as usize);
    let mut args = PanicArgs {
        message: GuestPtr::from_ptr(message.as_ptr()),
        len: len as u64,
    };
    hypercall(Hypercall::Panic, &mut args);
    unreachable_after_stop()
}

/// Ends the program for want of memory: an allocation of `requested` bytes
/// it cannot do without failed. The monitor says so in one line.
pub fn report_out_of_memory(requested: usize) -> ! {
    let mut args = OutOfMemoryArgs {
        requested: requested as u64,
    };
    hypercall(Hypercall::OutOfMemory, &mut args);
    unreachable_after_stop()
}

/// Asks the monitor for at least `at_least` more bytes of memory: the
/// usable block it mapped (address and length), or `None` at the limit.
pub fn grow_memory(at_least: usize) -> Option<(usize, usize)> {
    let mut args = GrowMemoryArgs {
        at_least: at_least as u64,
        ..GrowMemoryArgs::default()
    };
    hypercall(Hypercall::GrowMemory, &mut args);
    (args.len != 0).then_some((args.start as usize, args.len as usize))
}

/// Reads the image file the VM booted into `buf`, from `offset`: the bytes
/// copied (fewer than asked only at its end, whose size is
/// [`image_file_size`]).
#[cfg(feature = "fs")]
pub fn read_image(offset: u64, buf: &mut [u8]) -> usize {
    let mut copied = 0;
    for chunk in buf.chunks_mut(kiln_abi::hypercall::READ_IMAGE_MAX as usize) {
        let mut args = ReadImageArgs {
            offset: offset + copied as u64,
            data: GuestPtr::from_ptr(chunk.as_mut_ptr().cast_const()),
            len: chunk.len() as u64,
            copied: 0,
        };
        hypercall(Hypercall::ReadImage, &mut args);
        let got = (args.copied as usize).min(chunk.len());
        copied += got;
        if got < chunk.len() {
            break;
        }
    }
    copied
}

/// The size of the image file the VM booted (0 if the monitor has none).
#[cfg(feature = "fs")]
pub fn image_file_size() -> u64 {
    boot_info().image_file_size
}

/// Makes a `File` hypercall (host volumes); the monitor fills in the
/// block's "out" fields.
#[cfg(feature = "fs")]
pub fn file_call(args: &mut kiln_abi::file::FileArgs) {
    hypercall(Hypercall::File, args);
}

/// The host volumes the monitor serves, with their guest mount points.
#[cfg(feature = "fs")]
pub fn volumes() -> impl Iterator<Item = (&'static [u8], bool)> {
    let info = boot_info();
    let count = (info.volume_count as usize).min(kiln_abi::file::MAX_VOLUMES);
    let list = if count == 0 {
        &[][..]
    } else {
        // SAFETY: the monitor writes `count` volume records at `volumes`, in
        // the boot-info region, which nothing writes after boot.
        unsafe {
            core::slice::from_raw_parts(info.volumes.addr() as *const kiln_abi::file::Volume, count)
        }
    };
    list.iter().map(|volume| {
        // SAFETY: each record points at its path's bytes in the same region.
        let path = unsafe {
            core::slice::from_raw_parts(
                volume.guest_path.addr() as *const u8,
                volume.guest_path_len as usize,
            )
        };
        (path, volume.flags & kiln_abi::file::VOLUME_READ_ONLY != 0)
    })
}

/// The host name the monitor gave the guest (`kiln run --hostname`), at
/// most `HOST_NAME_MAX` bytes.
pub fn hostname() -> &'static [u8] {
    let info = boot_info();
    let len = (info.hostname_len as usize).min(kiln_abi::boot::HOST_NAME_MAX);
    if len == 0 {
        return &[];
    }
    // SAFETY: the monitor writes the name's bytes in the boot-info region,
    // which nothing writes after boot.
    unsafe { core::slice::from_raw_parts(info.hostname.addr() as *const u8, len) }
}

/// The program's starting working directory (`kiln run --workdir`): an
/// absolute path, `/` when none was given.
#[cfg(feature = "fs")]
pub fn workdir() -> &'static [u8] {
    let info = boot_info();
    let len = (info.workdir_len as usize).min(kiln_abi::boot::WORKDIR_MAX);
    if len == 0 || info.workdir.is_null() {
        return b"/";
    }
    // SAFETY: the monitor writes the path's bytes in the boot-info region,
    // which nothing writes after boot.
    unsafe { core::slice::from_raw_parts(info.workdir.addr() as *const u8, len) }
}

/// The filesystem `kiln build` baked into the image (empty if none).
#[cfg(feature = "fs")]
pub fn baked_files() -> &'static [u8] {
    // SAFETY: Kiln's linker script defines both symbols around the
    // `.kiln.fs` section, in the image's read-only segment.
    unsafe extern "C" {
        static __kiln_fs_start: u8;
        static __kiln_fs_end: u8;
    }
    let start = &raw const __kiln_fs_start;
    let end = &raw const __kiln_fs_end;
    // SAFETY: the section's bytes lie between the two symbols, loaded with
    // the image and never written.
    unsafe { core::slice::from_raw_parts(start, end as usize - start as usize) }
}

/// The monitor never resumes a guest after `Exit` or `Panic`; if one ever
/// did, spinning here is the only safe thing left.
fn unreachable_after_stop() -> ! {
    loop {
        core::hint::spin_loop();
    }
}
