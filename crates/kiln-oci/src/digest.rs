//! Content digests: the sha256 names of blobs, computed while bytes pass.

use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

/// A blob's name: `sha256:` and 64 lowercase hex digits. The only algorithm
/// OCI requires, and the only one Kiln writes or accepts.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest {
    hex: String,
}

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self::from_hasher(Sha256::new_with_prefix(bytes))
    }

    fn from_hasher(hasher: Sha256) -> Self {
        Self {
            hex: hex::encode(hasher.finalize()),
        }
    }

    /// The 64 hex digits, which name the blob's file in a store or layout.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The same digest as the OCI types spell it.
    pub fn to_oci(&self) -> oci_spec::image::Digest {
        self.to_string()
            .parse()
            .expect("a sha256 digest is a valid OCI digest")
    }

    /// An OCI digest, if it is a sha256 one.
    pub fn from_oci(digest: &oci_spec::image::Digest) -> Result<Self, BadDigest> {
        digest.to_string().parse()
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

/// Why a string is not a [`Digest`].
#[derive(Debug, thiserror::Error)]
#[error("'{0}' is not a sha256 digest (sha256: and 64 lowercase hex digits)")]
pub struct BadDigest(String);

impl FromStr for Digest {
    type Err = BadDigest;

    fn from_str(s: &str) -> Result<Self, BadDigest> {
        let bad = || BadDigest(s.chars().take(80).collect());
        let hex = s.strip_prefix("sha256:").ok_or_else(bad)?;
        let valid = hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !valid {
            return Err(bad());
        }
        Ok(Self { hex: hex.into() })
    }
}

/// A writer that hashes and counts what it passes on.
pub struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    len: u64,
}

impl<W: Write> Hashing<W> {
    /// Hashes what is written to `inner`.
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            len: 0,
        }
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The digest and length of everything written, and the inner writer.
    pub fn finish(self) -> (Digest, u64, W) {
        (Digest::from_hasher(self.hasher), self.len, self.inner)
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_parse_only_in_their_one_form() {
        let empty = Digest::of(b"");
        assert_eq!(
            empty.to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            empty.to_string().parse::<Digest>().expect("succeeds"),
            empty
        );
        for bad in [
            "",
            "sha256:",
            "sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
            "sha256:../../../../etc/passwd0000000000000000000000000000000000000000",
        ] {
            assert!(bad.parse::<Digest>().is_err(), "{bad}");
        }
    }

    #[test]
    fn hashing_writer_matches_the_digest_of_the_whole() {
        let mut writer = Hashing::new(Vec::new());
        writer.write_all(b"hello ").expect("succeeds");
        writer.write_all(b"world").expect("succeeds");
        let (digest, len, inner) = writer.finish();
        assert_eq!(digest, Digest::of(b"hello world"));
        assert_eq!(len, 11);
        assert_eq!(inner, b"hello world");
    }
}
