//! Start-up: from the platform's entry to the program's `main`, then exit.

#[cfg(feature = "native")]
use crate::process;
use crate::{console, platform};

#[cfg(feature = "native")]
// SAFETY: `entry!` defines `__kiln_main` with exactly this signature, and a
// program without it fails to link rather than calling something else.
unsafe extern "Rust" {
    /// Defined by the program through [`crate::entry!`].
    safe fn __kiln_main() -> i32;
}

#[cfg(not(feature = "native"))]
// SAFETY: kiln-libc defines `__kiln_libc_start` with exactly this signature;
// an image without it fails to link.
unsafe extern "Rust" {
    /// Defined by the C-library layer: sets up the C runtime, runs `main`.
    safe fn __kiln_libc_start() -> !;
}

/// Called by the platform once the boot info is installed.
#[cfg(feature = "native")]
pub(crate) fn start() -> ! {
    platform::stamp_main();
    console::install();
    #[cfg(feature = "threads")]
    crate::idle::install();
    let status = __kiln_main();
    process::exit(status)
}

/// Called by the platform once the boot info is installed.
#[cfg(not(feature = "native"))]
pub(crate) fn start() -> ! {
    platform::stamp_main();
    console::install();
    #[cfg(feature = "threads")]
    crate::idle::install();
    __kiln_libc_start()
}
