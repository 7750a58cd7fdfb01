//! `HOST:GUEST` include specifications, from `--include` or the manifest's
//! `[package.metadata.kiln] include`.

use std::fmt;
use std::path::{Path, PathBuf};

/// One host file or directory to bake into the image at a guest path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Include {
    /// The host path (resolved against the directory the spec is relative to).
    pub host: PathBuf,
    /// The guest path's components, normalised (empty for `/`).
    pub guest: Vec<Vec<u8>>,
}

impl Include {
    /// `--include` values: host paths are relative to the current directory.
    pub fn from_arg(spec: &str) -> Result<Self, String> {
        Self::parse(spec, Path::new(""))
    }

    /// Parses `HOST:GUEST`, with a relative `HOST` taken relative to `base`.
    /// The last colon separates the two, so host paths may contain colons
    /// (guest paths cannot).
    pub fn parse(spec: &str, base: &Path) -> Result<Self, String> {
        let Some((host, guest)) = spec.rsplit_once(':') else {
            return Err("expected HOST_PATH:GUEST_PATH".into());
        };
        if host.is_empty() {
            return Err("the host path is empty (expected HOST_PATH:GUEST_PATH)".into());
        }
        Ok(Self {
            host: base.join(host),
            guest: normalise(guest)?,
        })
    }
}

/// Splits an absolute guest path into components, dropping `.` and empty
/// components and resolving `..` lexically (at the root it stays there, as
/// the kernel does).
fn normalise(guest: &str) -> Result<Vec<Vec<u8>>, String> {
    if !guest.starts_with('/') {
        return Err(format!("the guest path '{guest}' is not absolute"));
    }
    if guest.contains('\0') {
        return Err("the guest path contains a NUL byte".into());
    }
    let mut components = Vec::new();
    for part in guest.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                components.pop();
            }
            name => components.push(name.as_bytes().to_vec()),
        }
    }
    Ok(components)
}

/// A guest path for messages: `/etc/app.toml`, or `/`.
pub struct GuestPath<'a>(pub &'a [Vec<u8>]);

impl fmt::Display for GuestPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("/");
        }
        for name in self.0 {
            write!(f, "/{}", String::from_utf8_lossy(name))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guest(spec: &str) -> Result<String, String> {
        Include::from_arg(spec).map(|i| GuestPath(&i.guest).to_string())
    }

    #[test]
    fn guest_paths_are_normalised() {
        assert_eq!(guest("a:/etc//app.toml").as_deref(), Ok("/etc/app.toml"));
        assert_eq!(guest("a:/srv/./www/").as_deref(), Ok("/srv/www"));
        assert_eq!(guest("a:/x/../y").as_deref(), Ok("/y"));
        assert_eq!(guest("a:/../..").as_deref(), Ok("/"));
        assert_eq!(guest("a:/").as_deref(), Ok("/"));
    }

    #[test]
    fn the_last_colon_separates_host_from_guest() {
        let include = Include::parse("c:d/e:/f", Path::new("/crate")).expect("valid");
        assert_eq!(include.host, Path::new("/crate/c:d/e"));
        assert_eq!(include.guest, vec![b"f".to_vec()]);
        let absolute = Include::parse("/abs:/f", Path::new("/crate")).expect("valid");
        assert_eq!(absolute.host, Path::new("/abs"));
    }

    #[test]
    fn malformed_specs_are_refused() {
        for (spec, needle) in [
            ("assets", "expected HOST_PATH:GUEST_PATH"),
            (":/srv", "host path is empty"),
            ("assets:srv", "not absolute"),
            ("assets:", "not absolute"),
            ("assets:/a\0b", "NUL"),
        ] {
            let error = Include::from_arg(spec).expect_err("malformed");
            assert!(error.contains(needle), "{spec:?}: {error}");
        }
    }
}
