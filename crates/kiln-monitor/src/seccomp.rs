//! The seccomp filter the monitor runs the guest under.
//!
//! Once the VM is set up, the monitor needs only a handful of system calls
//! to serve the guest (see `seccomp/x86_64.json`, compiled to BPF by
//! `build.rs`). The filter is installed just before the first `KVM_RUN`, so
//! a monitor bug reachable from a hostile guest cannot open files, map
//! executable code, spawn processes or talk to the network: any call outside
//! the allowlist kills the process.
//!
//! The filter is installed with `SECCOMP_FILTER_FLAG_SPEC_ALLOW`: without
//! it the kernel also forces speculative-store-bypass mitigation on the
//! process, which is meant for sandboxed code running *in* it; the
//! untrusted code here is the guest, which KVM already runs in its own
//! address space.
//!
//! Cost, measured on our hosts: installing the filter takes ~80 µs (the
//! kernel JIT-compiles it), and each VM exit gets ~1.6 µs slower; about
//! 0.1-0.2 ms of a ~1.5 ms `kiln run`. That buys confinement of the one
//! process a hostile guest can reach.

use std::io;

use libc::sock_filter;

/// The compiled allowlist: 8-byte BPF instructions, little-endian.
const RUN_LOOP: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/run_loop.bpf"));

/// Restricts this process (it is single-threaded) to the run loop's system calls.
pub fn restrict_to_run_loop() -> io::Result<()> {
    let mut program = program();
    let fprog = libc::sock_fprog {
        len: u16::try_from(program.len()).map_err(io::Error::other)?,
        filter: program.as_mut_ptr(),
    };
    // SAFETY: PR_SET_NO_NEW_PRIVS takes no pointers; it is required before
    // an unprivileged process may install a filter.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fprog` points at `program`, a valid BPF program that outlives
    // the call (the kernel copies it).
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
            &fprog,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn program() -> Vec<sock_filter> {
    RUN_LOOP
        .chunks_exact(8)
        .map(|insn| sock_filter {
            code: u16::from_le_bytes([insn[0], insn[1]]),
            jt: insn[2],
            jf: insn[3],
            k: u32::from_le_bytes([insn[4], insn[5], insn[6], insn[7]]),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `_IOR(KVMIO, nr, T)` as the kernel's headers compute it.
    fn ior<T>(nr: u32) -> u32 {
        (2 << 30) | ((size_of::<T>() as u32) << 16) | (0xae << 8) | nr
    }

    #[test]
    fn allowlist_names_the_right_ioctls() {
        let json = include_str!("../seccomp/x86_64.json");
        for request in [
            0xae80, // KVM_RUN: _IO(KVMIO, 0x80)
            ior::<kvm_bindings::kvm_regs>(0x81),
            ior::<kvm_bindings::kvm_sregs>(0x83),
        ] {
            assert!(
                json.contains(&format!("\"val\": {request} ")),
                "ioctl {request:#x} missing from the allowlist"
            );
        }
    }

    #[test]
    fn program_is_whole_instructions() {
        assert!(!RUN_LOOP.is_empty());
        assert_eq!(RUN_LOOP.len() % 8, 0);
        assert_eq!(program().len(), RUN_LOOP.len() / 8);
    }
}
