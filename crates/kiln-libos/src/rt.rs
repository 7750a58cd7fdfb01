//! Start-up: from the platform's entry to the program's `main`, then exit.

use crate::{console, platform, process};

// SAFETY: `entry!` defines `__kiln_main` with exactly this signature, and a
// program without it fails to link rather than calling something else.
unsafe extern "Rust" {
    /// Defined by the program through [`crate::entry!`].
    safe fn __kiln_main() -> i32;
}

/// Called by the platform once the boot info is installed.
pub(crate) fn start() -> ! {
    platform::stamp_main();
    let status = __kiln_main();
    console::flush();
    process::exit(status)
}
