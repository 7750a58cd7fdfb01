//! What can go wrong with images, stores and registries, one line each.

use std::io;
use std::path::{Path, PathBuf};

/// An image, store or registry failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A reference that does not parse as `[REGISTRY/]NAME[:TAG][@DIGEST]`.
    #[error("invalid reference '{reference}': {why}")]
    BadReference {
        /// What was given.
        reference: String,
        /// Why it does not parse.
        why: String,
    },
    /// No image under this reference in the local store.
    #[error("no image '{0}' here (kiln images lists them; kiln pull fetches one)")]
    NotFound(String),
    /// Content whose digest is not the one it was asked for.
    #[error("{what}: digest mismatch: expected {expected}, got {actual}; not stored")]
    DigestMismatch {
        /// Which blob.
        what: String,
        /// The digest it was named by.
        expected: String,
        /// The digest of what arrived.
        actual: String,
    },
    /// A manifest, config or layer Kiln cannot use.
    #[error("{0}")]
    BadImage(String),
    /// An image built for another Kiln ABI.
    #[error(
        "{reference} is a Kiln image for ABI version {image}; this kiln runs ABI version {kiln} (rebuild it, or use a matching kiln)"
    )]
    AbiMismatch {
        /// The image's reference.
        reference: String,
        /// The ABI the image needs.
        image: u32,
        /// The ABI this kiln runs.
        kiln: u32,
    },
    /// A registry refused or failed a request.
    #[error("{registry}: {message}")]
    Registry {
        /// The registry's host.
        registry: String,
        /// What it said, or why it could not be reached.
        message: String,
    },
    /// A file or directory operation failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// To which file.
        path: PathBuf,
        /// Why it failed.
        source: io::Error,
    },
}

impl Error {
    /// An I/O failure while doing `what` to `path`.
    pub fn io(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> Self {
        let path = path.to_path_buf();
        move |source| Self::Io { what, path, source }
    }
}

/// A result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
