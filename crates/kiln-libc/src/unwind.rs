//! Unwinding.
//!
//! The `_Unwind_*` ABI (`_Unwind_RaiseException`, `_Unwind_Resume`,
//! `_Unwind_Backtrace`...) comes from the `unwinding` crate: a panic in a
//! `std` program unwinds as on Linux, so `catch_unwind` and a panicking
//! thread's `join` behave as there.
//!
//! The unwinder looks up the unwind entry (FDE) of every frame it passes
//! through `.eh_frame_hdr`, the table sorted by address that the linker
//! writes, as on Linux (`__GNU_EH_FRAME_HDR`, `__executable_start` and
//! `__etext` come from Kiln's linker script). Images once left the table
//! out (8 bytes per function) and searched `.eh_frame` linearly: a `panic!`
//! caught by `catch_unwind` took 1.45 ms instead of Linux's 9 µs, which is
//! what test suites full of `should_panic` tests spent their time on.

// Linked for its `#[no_mangle]` `_Unwind_*` functions.
use unwinding as _;
