//! Least privilege: what the monitor keeps of its user's powers once the VM
//! is set up, as Solo5's tenders and Firecracker's jailer do.
//!
//! Run as root, the monitor needs root only to set up: open `/dev/kvm`, a
//! TAP device, volumes and files another user owns. Before it runs the
//! guest it gives up every capability but what serving the guest still
//! needs: none, or with host volumes `CAP_DAC_OVERRIDE` and `CAP_FOWNER`,
//! so that the guest's file calls act in a volume as root's would (as in a
//! container, whose root keeps these two). The bounding set is emptied too,
//! and nothing is inheritable. With a monitor user configured
//! (`KILN_MONITOR_USER=UID[:GID]`, read by the CLI), it becomes that user
//! instead (supplementary groups dropped), keeping no capability at all:
//! volumes are then reached with that user's permissions.
//!
//! Credentials are per thread in Linux, so this is done by the thread
//! that runs vCPU 0 before it starts the others (they inherit it), and by
//! the port forwarder's thread for itself. It uses the per-thread system
//! calls, not the C library's process-wide `setresuid`, which signals
//! every thread, some of which may already be under seccomp.

use std::io;

use rustix::thread::{
    CapabilitySet, CapabilitySets, Gid, Uid, capabilities, capability_is_in_bounding_set,
    remove_capability_from_bounding_set, set_capabilities, set_thread_groups, set_thread_res_gid,
    set_thread_res_uid,
};

/// The unprivileged user a monitor started as root becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MonitorUser {
    /// Its user id (not 0).
    pub uid: u32,
    /// Its group id.
    pub gid: u32,
}

impl MonitorUser {
    /// `UID[:GID]` (numbers; the group defaults to the user's number).
    pub fn parse(text: &str) -> Result<Self, String> {
        let number = |s: &str| {
            s.parse::<u32>()
                .map_err(|_| format!("'{s}' is not a numeric user or group id"))
        };
        let (uid, gid) = match text.split_once(':') {
            Some((uid, gid)) => (number(uid)?, number(gid)?),
            None => (number(text)?, number(text)?),
        };
        if uid == 0 || gid == 0 {
            return Err("the monitor user must not be root (0)".into());
        }
        Ok(Self { uid, gid })
    }
}

/// The capabilities serving the guest needs after setup.
pub fn needed(volumes: bool) -> CapabilitySet {
    if volumes {
        CapabilitySet::DAC_OVERRIDE | CapabilitySet::FOWNER
    } else {
        CapabilitySet::empty()
    }
}

/// Confines the calling thread: the bounding set emptied, then `user`
/// taken (if any, and if the monitor runs as root), then every capability
/// dropped but `keep` (none with a user). A process without capabilities
/// (not root) has nothing to drop.
pub fn confine_thread(keep: CapabilitySet, user: Option<MonitorUser>) -> io::Result<()> {
    let current = capabilities(None)?;
    let user = user.filter(|_| rustix::process::geteuid().is_root());
    if current.effective.contains(CapabilitySet::SETPCAP) {
        empty_bounding_set()?;
    }
    let keep = match user {
        Some(user) => {
            set_thread_groups(&[])?;
            let gid = Gid::from_raw(user.gid);
            set_thread_res_gid(gid, gid, gid)?;
            let uid = Uid::from_raw(user.uid);
            // Leaving uid 0 clears the permitted and effective sets.
            set_thread_res_uid(uid, uid, uid)?;
            CapabilitySet::empty()
        }
        None => keep & current.permitted,
    };
    set_capabilities(
        None,
        CapabilitySets {
            effective: keep,
            permitted: keep,
            inheritable: CapabilitySet::empty(),
        },
    )
    .map_err(Into::into)
}

/// Removes every capability from the calling thread's bounding set (the
/// most an `execve` could ever grant it).
fn empty_bounding_set() -> io::Result<()> {
    // Capabilities are numbered from 0; the kernel says EINVAL past its last.
    for bit in 0..64 {
        let Some(capability) = CapabilitySet::from_bits(1 << bit) else {
            continue;
        };
        match capability_is_in_bounding_set(capability) {
            Ok(true) => remove_capability_from_bounding_set(capability)?,
            Ok(false) => {}
            Err(rustix::io::Errno::INVAL) => break,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monitor_users_are_numbers_and_never_root() {
        assert_eq!(
            MonitorUser::parse("65534"),
            Ok(MonitorUser {
                uid: 65534,
                gid: 65534
            })
        );
        assert_eq!(
            MonitorUser::parse("1000:100"),
            Ok(MonitorUser {
                uid: 1000,
                gid: 100
            })
        );
        for bad in ["", "nobody", "0", "1000:0", "1000:", ":1", "-1"] {
            assert!(MonitorUser::parse(bad).is_err(), "{bad}");
        }
    }
}
