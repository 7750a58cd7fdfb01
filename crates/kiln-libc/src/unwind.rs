//! Unwinding.
//!
//! The `_Unwind_*` ABI (`_Unwind_RaiseException`, `_Unwind_Resume`,
//! `_Unwind_Backtrace`...) comes from the `unwinding` crate: a panic in a
//! `std` program unwinds as on Linux, so `catch_unwind` and a panicking
//! thread's `join` behave as there. It finds frames in the image's
//! `.eh_frame` through `__executable_start`, `__etext` and `__eh_frame`,
//! which Kiln's linker script defines.

// Linked for its `#[no_mangle]` `_Unwind_*` functions.
use unwinding as _;
