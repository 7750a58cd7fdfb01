//! The program's arguments and environment, as `kiln run` passed them.

use kiln_abi::GuestPtr;

use crate::platform;

/// The `i`-th string of a null-terminated pointer array in the boot info.
fn string_at(array: GuestPtr<GuestPtr<u8>>, count: u64, i: u64) -> Option<&'static str> {
    if i >= count {
        return None;
    }
    let slot = (array.addr() + i * 8) as *const u64;
    #[allow(unsafe_code)]
    // SAFETY: the monitor wrote `count` valid pointers to NUL-terminated
    // strings in the boot info, which stays mapped and unchanged.
    let text = unsafe {
        let start = *slot as *const u8;
        core::slice::from_raw_parts(start, crate::mem::strlen(start))
    };
    core::str::from_utf8(text).ok()
}

/// The program's arguments, its name first.
pub fn args() -> impl Iterator<Item = &'static str> {
    let boot = platform::boot_info();
    (0..boot.argc).filter_map(|i| string_at(boot.argv, boot.argc, i))
}

/// All `(key, value)` environment entries.
pub fn vars() -> impl Iterator<Item = (&'static str, &'static str)> {
    let boot = platform::boot_info();
    (0..boot.envc)
        .filter_map(|i| string_at(boot.envp, boot.envc, i))
        .map(|entry| entry.split_once('=').unwrap_or((entry, "")))
}

/// The value of environment variable `key`.
pub fn var(key: &str) -> Option<&'static str> {
    vars().find(|(k, _)| *k == key).map(|(_, v)| v)
}
