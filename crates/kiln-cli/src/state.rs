//! Where kiln keeps its state: instances, images and registry logins.
//!
//! The state directory holds `-e` values (often secrets), console logs and
//! registry logins, so it is its owner's alone: created 0700, every
//! directory in it 0700 and every file 0600, with explicit modes so the
//! umask does not matter. One an older kiln left open (its root readable
//! by others) is closed, with everything in it, at first use.

use std::fs::{self, DirBuilder, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::exit_code::{Failure, HOST};

/// The mode of every directory in the state directory.
const DIR_MODE: u32 = 0o700;
/// The mode of every file in it.
const FILE_MODE: u32 = 0o600;

/// The per-user state directory, private to its owner: `$KILN_STATE_DIR`,
/// else `/var/lib/kiln` for root, else `$XDG_DATA_HOME/kiln` or
/// `~/.local/share/kiln`.
pub fn dir() -> Result<PathBuf, Failure> {
    let dir = location()?;
    make_private(&dir)
        .map_err(|e| Failure::new(HOST, format!("securing {}: {e}", dir.display())))?;
    Ok(dir)
}

fn location() -> Result<PathBuf, Failure> {
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

/// Creates `dir` private, or closes it (and all below it) if it is open to
/// others. Its parents are not the state directory's: they keep the umask.
fn make_private(dir: &Path) -> io::Result<()> {
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent)?;
    }
    match DirBuilder::new().mode(DIR_MODE).create(dir) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        created => return created,
    }
    if fs::metadata(dir)?.permissions().mode() & 0o077 == 0 {
        return Ok(());
    }
    // Contents first, the root last: a walk cut short is done again at the
    // next use, since the root is still open.
    for entry in walkdir::WalkDir::new(dir).contents_first(true) {
        let entry = match entry {
            Ok(entry) => entry,
            // Removed meanwhile (another kiln's `rm`): nothing to close.
            Err(e) if e.io_error().map(io::Error::kind) == Some(io::ErrorKind::NotFound) => {
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        // A symbolic link's own mode means nothing, and its target is not
        // the state directory's to change (walkdir does not follow links).
        if entry.path_is_symlink() {
            continue;
        }
        let mode = entry.metadata()?.permissions().mode();
        fs::set_permissions(entry.path(), Permissions::from_mode(mode & 0o7700))?;
    }
    Ok(())
}

/// Creates a directory in the state directory (and its missing parents),
/// private to the owner; an existing one is fine.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)
}

/// Writes `bytes` to the file at `path` in the state directory, private
/// to the owner.
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    private_file()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?
        .write_all(bytes)
}

/// The permissions of a file in the state directory.
pub fn private_permissions() -> Permissions {
    Permissions::from_mode(FILE_MODE)
}

/// Options that create a file in the state directory private to the owner.
pub fn private_file() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.mode(FILE_MODE);
    options
}
