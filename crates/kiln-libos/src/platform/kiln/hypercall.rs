//! The hypercall instruction.

use kiln_abi::hypercall::Hypercall;

/// Makes `call` with `args` as its argument block. The monitor may write the
/// block's "out" fields before the guest resumes.
#[inline]
pub fn hypercall<T>(call: Hypercall, args: &mut T) {
    // Booted through PVH, there is no Kiln monitor: the platform serves the
    // call itself. One load and a predicted branch on Kiln's monitor.
    if crate::platform::pvh::active() {
        // SAFETY: `args` is `call`'s argument block, borrowed mutably.
        unsafe { crate::platform::pvh::serve(call, (args as *mut T).cast()) };
        return;
    }
    // Guest memory lies below 4 GiB (`layout::MAX_MEMORY`), so a 32-bit
    // port value carries any guest address.
    let address = args as *mut T as u64 as u32;
    // SAFETY: the `out` only exits to the monitor, which reads and may write
    // the block `args` points to; the asm block is not `nomem`, so the
    // compiler keeps `args` in memory and reloads it afterwards.
    unsafe {
        core::arch::asm!(
            "out dx, eax",
            in("dx") call.port(),
            in("eax") address,
            options(nostack, preserves_flags),
        );
    }
}
