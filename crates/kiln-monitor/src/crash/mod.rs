//! Crash reports: what happened in the guest, where, and how it got there.
//!
//! The monitor unwinds the guest's stack itself, from the registers at the
//! crash, with the image's own `.eh_frame` call-frame information, and
//! symbolizes each frame from the image's DWARF (or its symbol table).

mod printable;
pub mod report;
pub mod serial;
pub mod symbolize;
pub mod threads;
pub mod unwind;
