//! Kiln images as OCI images.
//!
//! - [`store`]: the local, content-addressed image store (an OCI image
//!   layout under the state directory).
//! - [`format`]: how a Kiln ELF and its run settings become an OCI image,
//!   and back.
//! - [`layout`]: OCI image layout archives (`kiln save`, `kiln load`).
//! - [`registry`]: the distribution API (`kiln push`, `kiln pull`), with
//!   [`credentials`] from `kiln login` or Docker's configuration.
//! - [`reference`]: image references as Docker spells them.
//!
//! Inside, `unpack` takes the program out of a layer (stored, or as a pull
//! receives it) and `durable` writes files that survive crashes whole.
//!
//! Nothing here knows how images boot: the CLI hands the unpacked ELF to
//! the monitor.

pub mod credentials;
pub mod digest;
mod durable;
mod error;
pub mod format;
pub mod layout;
pub mod reference;
pub mod registry;
pub mod store;
mod unpack;

pub use error::{Error, Result};
pub use oci_client::Reference;
pub use oci_client::secrets::RegistryAuth;
