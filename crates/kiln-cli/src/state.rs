//! Where kiln keeps its state: instances, images and registry logins.

use std::path::PathBuf;

use crate::exit_code::{Failure, HOST};

/// The per-user state directory: `$KILN_STATE_DIR`, else `/var/lib/kiln`
/// for root, else `$XDG_DATA_HOME/kiln` or `~/.local/share/kiln`.
pub fn dir() -> Result<PathBuf, Failure> {
    match std::env::var_os("KILN_STATE_DIR") {
        Some(dir) => Ok(PathBuf::from(dir)),
        None if rustix::process::geteuid().is_root() => Ok(PathBuf::from("/var/lib/kiln")),
        None => match (std::env::var_os("XDG_DATA_HOME"), std::env::var_os("HOME")) {
            (Some(data), _) => Ok(PathBuf::from(data).join("kiln")),
            (None, Some(home)) => Ok(PathBuf::from(home).join(".local/share/kiln")),
            (None, None) => Err(Failure::new(
                HOST,
                "no state directory: set KILN_STATE_DIR or HOME",
            )),
        },
    }
}
