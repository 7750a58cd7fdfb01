//! What a volume is before it is opened: host directory, guest path, mode.

use std::path::{Path, PathBuf};

use kiln_abi::file::PATH_MAX;

/// One volume to give the guest (`-v HOST_DIR:GUEST_DIR[:ro]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolumeSpec {
    host: PathBuf,
    guest: String,
    read_only: bool,
    cross_mounts: bool,
}

/// Why a guest path cannot be a volume's mount point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GuestPathError {
    /// A relative path: the guest has no working directory to resolve it in.
    #[error("the guest path must be absolute")]
    NotAbsolute,
    /// `/` itself: the guest's root holds its own files.
    #[error("the guest path cannot be /")]
    Root,
    /// A `..` component: refused rather than guessed at.
    #[error("the guest path must not contain '..'")]
    DotDot,
    /// A NUL byte, which no path can hold.
    #[error("the guest path must not contain a NUL byte")]
    Nul,
    /// Longer than the guest could ever name.
    #[error("the guest path is longer than {PATH_MAX} bytes")]
    TooLong,
}

impl VolumeSpec {
    /// A volume of `host` on `guest`, which is normalised (`.` components,
    /// repeated and trailing `/` dropped) as the boot info lists it.
    pub fn new(
        host: impl Into<PathBuf>,
        guest: &str,
        read_only: bool,
    ) -> Result<Self, GuestPathError> {
        Ok(Self {
            host: host.into(),
            guest: normalize_guest_path(guest)?,
            read_only,
            cross_mounts: false,
        })
    }

    /// The same volume, with the filesystems mounted inside it (`rbind`):
    /// by default a path that crosses a mount point is refused.
    pub fn with_submounts(self) -> Self {
        Self {
            cross_mounts: true,
            ..self
        }
    }

    /// Whether paths may cross mount points inside the host directory.
    pub fn cross_mounts(&self) -> bool {
        self.cross_mounts
    }

    /// The host directory.
    pub fn host(&self) -> &Path {
        &self.host
    }

    /// The normalised guest path.
    pub fn guest(&self) -> &str {
        &self.guest
    }

    /// Whether the guest may only read.
    pub fn read_only(&self) -> bool {
        self.read_only
    }
}

fn normalize_guest_path(path: &str) -> Result<String, GuestPathError> {
    if !path.starts_with('/') {
        return Err(GuestPathError::NotAbsolute);
    }
    if path.contains('\0') {
        return Err(GuestPathError::Nul);
    }
    let mut normal = String::with_capacity(path.len());
    for component in path.split('/').filter(|c| !c.is_empty() && *c != ".") {
        if component == ".." {
            return Err(GuestPathError::DotDot);
        }
        normal.push('/');
        normal.push_str(component);
    }
    if normal.is_empty() {
        return Err(GuestPathError::Root);
    }
    // The guest stores it with a NUL, within PATH_MAX.
    if normal.len() as u64 >= PATH_MAX {
        return Err(GuestPathError::TooLong);
    }
    Ok(normal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_paths_are_normalised() {
        for (given, normal) in [
            ("/data", "/data"),
            ("/data/", "/data"),
            ("//data//sub/./", "/data/sub"),
            ("/./a", "/a"),
        ] {
            assert_eq!(normalize_guest_path(given), Ok(normal.to_string()));
        }
    }

    #[test]
    fn bad_guest_paths_are_refused() {
        for (given, error) in [
            ("data", GuestPathError::NotAbsolute),
            ("", GuestPathError::NotAbsolute),
            ("/", GuestPathError::Root),
            ("//.//", GuestPathError::Root),
            ("/a/../b", GuestPathError::DotDot),
            ("/a\0b", GuestPathError::Nul),
        ] {
            assert_eq!(normalize_guest_path(given), Err(error), "{given:?}");
        }
        let long = format!("/{}", "a".repeat(PATH_MAX as usize));
        assert_eq!(normalize_guest_path(&long), Err(GuestPathError::TooLong));
    }
}
