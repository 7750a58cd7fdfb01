//! Ending the program.

use core::fmt::Debug;

use crate::platform;

/// Ends the program with `status` (the host sees its low 8 bits), after
/// flushing buffered output.
pub fn exit(status: i32) -> ! {
    flush_output();
    platform::exit(status)
}

/// Hands buffered output on before the program ends: the stores in files'
/// shared mappings, deferred writes to host volumes, and what sockets have
/// yet to send. (The console's ring the monitor empties when the VM ends.)
pub fn flush_output() {
    #[cfg(feature = "fs")]
    {
        // Stores in files' shared mappings reach the files, as a kernel's
        // page cache would still write them back.
        crate::fs::write_back_mappings();
        crate::fs::flush();
    }
    #[cfg(feature = "net")]
    if let Some(net) = crate::fd::socket_hooks() {
        (net.flush)();
    }
}

/// What a program's `main` may return, and the exit status it stands for.
pub trait Termination {
    /// The exit status.
    fn report(self) -> i32;
}

impl Termination for () {
    fn report(self) -> i32 {
        0
    }
}

impl Termination for i32 {
    fn report(self) -> i32 {
        self
    }
}

impl<T: Termination, E: Debug> Termination for Result<T, E> {
    fn report(self) -> i32 {
        match self {
            Ok(value) => value.report(),
            Err(error) => {
                crate::eprintln!("Error: {error:?}");
                1
            }
        }
    }
}
