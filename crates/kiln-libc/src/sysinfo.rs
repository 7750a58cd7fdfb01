//! `<sys/sysinfo.h>`: the machine as the program sees it: guest memory,
//! what the heap has left, uptime, threads, and the CPUs the scheduler
//! runs threads on.

use kiln_libos::platform;
use kiln_libos::time::Instant;

use crate::CInt;

/// glibc's `struct sysinfo` on x86_64.
#[repr(C)]
pub struct Sysinfo {
    uptime: i64,
    loads: [u64; 3],
    total_ram: u64,
    free_ram: u64,
    shared_ram: u64,
    buffer_ram: u64,
    total_swap: u64,
    free_swap: u64,
    procs: u16,
    pad: u16,
    total_high: u64,
    free_high: u64,
    mem_unit: u32,
    reserved: [u8; 4],
}

/// `sysinfo(2)`: total RAM is the guest's memory, free RAM what the heap
/// has not allocated (`/proc/meminfo`'s `MemFree`), `procs` the threads
/// (each a task, as Linux counts them). No swap, no load averages.
///
/// # Safety
/// `out` must be valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sysinfo(out: *mut Sysinfo) -> CInt {
    traced!("sysinfo"(out) {
    let boot = platform::boot_info();
    let uptime = Instant::now().as_nanos_since_boot() / 1_000_000_000;
    // SAFETY: per the caller.
    unsafe {
        out.write(Sysinfo {
            uptime: uptime as i64,
            loads: [0; 3],
            total_ram: boot.memory_size,
            free_ram: kiln_libos::heap::free(),
            shared_ram: 0,
            buffer_ram: 0,
            total_swap: 0,
            free_swap: 0,
            procs: u16::try_from(kiln_libos::sched::thread_count()).unwrap_or(u16::MAX),
            pad: 0,
            total_high: 0,
            free_high: 0,
            mem_unit: 1,
            reserved: [0; 4],
        })
    };
    0
    })
}

/// `get_nprocs(3)`: the CPUs threads run on.
#[unsafe(no_mangle)]
pub extern "C" fn get_nprocs() -> CInt {
    kiln_libos::sched::cpus() as CInt
}

/// `get_nprocs_conf(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn get_nprocs_conf() -> CInt {
    get_nprocs()
}
