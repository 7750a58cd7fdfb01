//! Files that readers may open at any moment (images being run, linker
//! inputs of a concurrent build): replaced whole by a rename, and only when
//! their content changes, so an unchanged file keeps its inode and time.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use crate::exit_code::{BUILD, Failure};

/// Puts `bytes` at `path` (with `mode`) unless it already holds exactly
/// them: written beside it, then renamed over it.
pub fn replace_if_changed(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Failure> {
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let error = |e: std::io::Error| Failure::new(BUILD, format!("writing {}: {e}", path.display()));
    std::fs::create_dir_all(dir).map_err(error)?;
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(error)?;
    file.write_all(bytes).map_err(error)?;
    file.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(error)?;
    file.persist(path).map_err(|e| error(e.error))?;
    Ok(())
}
