//! Kiln's library OS: the operating system a Kiln unikernel links in.
//!
//! A program declares its entry point with [`entry!`] and uses the services
//! below; `kiln build` links them into one image together with the program.
//!
//! - [`console`]: `println!`/`eprintln!`, line-buffered so a line costs one exit;
//! - [`env`]: the program's arguments and environment;
//! - [`process`]: exit codes;
//! - [`random`]: random bytes (`getrandom`, `/dev/urandom`);
//! - [`time`] (feature `time`): monotonic and wall-clock time, `sleep`;
//! - the heap (feature `alloc`): `extern crate alloc` just works;
//! - [`sched`] (feature `threads`): threads on the one vCPU;
//! - [`fs`] (feature `fs`): baked-in files, in-memory `/tmp`, host volumes, pipes;
//! - [`net`] (feature `net`): the virtio-net device, TCP/IP (smoltcp), sockets.
//!
//! With the default feature `native` the library OS is the whole runtime of
//! a `no_std` program. Without it, it runs under Kiln's C-library layer
//! (`kiln-libc`), which starts unmodified `std` programs.
//!
//! Everything that talks to the monitor sits behind [`platform`]; the other
//! modules are written against its small interface, so another platform
//! (a standard hypervisor with PVH boot and a serial console) can replace it.
#![no_std]
#![deny(unsafe_code)]

pub mod clock;
pub mod console;
pub mod env;
pub mod fixed_text;
#[cfg(feature = "threads")]
mod idle;
#[allow(unsafe_code)]
pub mod mem;
#[cfg(feature = "native")]
mod panic;
#[allow(unsafe_code)]
pub mod platform;
#[allow(unsafe_code)]
pub mod preempt;
pub mod process;
#[cfg(feature = "heap")]
#[allow(unsafe_code)]
pub mod random;
#[allow(unsafe_code)]
mod rt;
#[cfg(feature = "threads")]
#[allow(unsafe_code)]
pub mod sched;
#[cfg(feature = "time")]
pub mod time;

#[cfg(feature = "heap")]
#[allow(unsafe_code)]
pub mod heap;

#[cfg(feature = "fs")]
extern crate alloc;
#[cfg(feature = "fs")]
pub mod fd;
#[cfg(feature = "fs")]
pub mod fs;
#[cfg(feature = "net")]
#[allow(unsafe_code)]
pub mod net;

/// Declares the program's entry point (feature `native`): `kiln::entry!(main);` where `main`
/// takes no arguments and returns `()`, an `i32` exit status, or a
/// `Result<(), E: Debug>`.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        /// The program entry the library OS calls once it is initialised.
        #[unsafe(export_name = "__kiln_main")]
        pub extern "Rust" fn __kiln_main() -> i32 {
            $crate::process::Termination::report($main())
        }
    };
}
