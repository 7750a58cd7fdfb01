//! The platform: the one place that talks to the hypervisor.
//!
//! The rest of the library OS uses only the functions re-exported here.
//! Every image boots on two platforms: the Kiln monitor ([`kiln`]: CPL3
//! entry, port hypercalls, a boot-info block), and standard hypervisors
//! through PVH ([`pvh`]), whose boot builds the same boot info and which
//! serves the same hypercalls inside the guest, so the functions here are
//! the same on both.

pub mod kiln;
pub mod pvh;

pub use kiln::preempt;
#[cfg(feature = "fs")]
pub use kiln::{
    baked_files, file_call, image_file_size, read_image, stdin_read, stdin_read_append, volumes,
    workdir,
};
pub use kiln::{
    block, block_until, boot_info, console_write, exit, grow_memory, hostname, publish_threads,
    report_out_of_memory, report_panic, set_console_ring, set_current_thread, set_page_present,
    stamp_main, start_vcpu, stdin_is_terminal, vcpu_count, vcpu_index, wake_vcpu,
};

/// Whether the host looks at the network device's queues at every exit
/// (Kiln's monitor: a `Block` carries queued frames out and ends when one
/// arrives), or only when notified, as a standard virtio device does.
#[cfg(feature = "net")]
#[inline]
pub fn exits_carry_frames() -> bool {
    !pvh::active()
}

/// Has an idle vCPU's wait for the network (`block` with
/// `kiln_abi::hypercall::wait::NETWORK`) end when `check` says received
/// frames wait, where the host cannot end it (PVH). Kiln's monitor sees
/// the device's queues itself.
#[cfg(feature = "net")]
pub fn watch_network(check: &'static fn() -> bool) {
    pvh::watch_network(check);
}

/// Reads the CPU's time-stamp counter (native and cheap at CPL3).
#[inline]
pub fn rdtsc() -> u64 {
    let (low, high): (u32, u32);
    // SAFETY: `rdtsc` only reads the counter into edx:eax.
    unsafe {
        core::arch::asm!("rdtsc", out("eax") low, out("edx") high, options(nomem, nostack, preserves_flags));
    }
    (u64::from(high) << 32) | u64::from(low)
}
