//! The contract between a Kiln guest and the Kiln monitor.
//!
//! Everything the two sides must agree on lives here and nowhere else:
//!
//! - [`layout`]: where the image is linked and how large guest memory may be;
//! - [`boot`]: the boot-info page the monitor hands the guest at entry;
//! - [`hypercall`]: the calls a guest can make, one `#[repr(C)]` argument
//!   block each, passed by guest-physical address through a port write;
//! - [`file`]: the `File` call's operations, on host volumes;
//! - [`errno`]: Linux error numbers, in which `File` reports failures;
//! - [`fs_image`]: the read-only filesystem `kiln build` bakes into an image;
//! - [`net`]: the network device (virtio-net over virtio-mmio) and its addressing;
//! - [`trap`]: the register frame the guest's CPU-exception stubs report;
//! - [`note`]: the ELF notes that mark a file as a Kiln image.
//!
//! The crate is `no_std` with no dependencies so that the guest links it as is.
//! Any change to a struct layout, a call number or a meaning bumps
//! [`ABI_VERSION`]; the monitor refuses images built for another version.
#![no_std]

pub mod boot;
pub mod errno;
pub mod file;
pub mod fs_image;
pub mod hypercall;
pub mod layout;
pub mod net;
pub mod note;
pub mod ptr;
pub mod trap;

#[cfg(feature = "vm-memory")]
mod bytes;

pub use ptr::GuestPtr;

/// Version of this ABI. Bumped on every material change; guest and monitor
/// must carry the same number.
pub const ABI_VERSION: u32 = 12;
