//! The name index: `names/<name>` holds the id of the instance that has
//! the name, so taking a name is one atomic file creation.
//!
//! Crash safety. A name is claimed before its instance's record exists,
//! and the claim must never outlive a creator that died before finishing
//! it (a name taken by an instance nothing can see). So a claim appears
//! whole and locked: it is written and `flock`ed under a temporary name,
//! then hard-linked into place (which fails if the name is taken), and its
//! creator holds the lock until the record is complete. A claim whose lock
//! is free and whose instance has no `config.json` was left by a creator
//! (or a `kiln rm`) that died: it can never complete, so whoever meets it
//! ([`Names::sweep`] from `ps`, a `run` that wants the name) clears it.

use std::fs::{self, File, TryLockError};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, CWD, Mode, OFlags};

/// The name index beside the instances' directories.
pub struct Names {
    dir: PathBuf,
    instances: PathBuf,
}

/// A name held while its instance's record is built; dropping it releases
/// the lock (the record is complete by then, or the claim is stale).
pub struct Claim {
    _locked: File,
}

impl Names {
    /// The index in `dir`, of the instances in `instances`.
    pub fn new(dir: PathBuf, instances: PathBuf) -> Self {
        Self { dir, instances }
    }

    /// Where an instance's record is built before it is renamed into place.
    pub fn partial_dir(&self, id: &str) -> PathBuf {
        self.instances.join(format!(".{id}.partial"))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The id recorded for `name`, if it is taken.
    pub fn holder(&self, name: &str) -> Option<String> {
        fs::read_to_string(self.path(name)).ok()
    }

    /// Takes `name` for instance `id`: `None` if another instance has it
    /// (a stale claim is cleared and the name taken).
    pub fn claim(&self, name: &str, id: &str) -> io::Result<Option<Claim>> {
        // Unnamed until linked (O_TMPFILE): a creator that dies before
        // leaves nothing behind.
        let mut file = File::from(rustix::fs::open(
            &self.dir,
            OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )?);
        file.lock()?;
        file.write_all(id.as_bytes())?;
        let unnamed = format!("/proc/self/fd/{}", file.as_raw_fd());
        for _ in 0..2 {
            match rustix::fs::linkat(CWD, &unnamed, CWD, self.path(name), AtFlags::SYMLINK_FOLLOW) {
                Ok(()) => return Ok(Some(Claim { _locked: file })),
                Err(rustix::io::Errno::EXIST) => {
                    if !self.clear_if_stale(name)? {
                        return Ok(None);
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(None)
    }

    /// Removes `name`'s claim if instance `id` holds it (not one a later
    /// instance made).
    pub fn release(&self, name: &str, id: &str) -> io::Result<()> {
        if self.holder(name).as_deref() == Some(id) {
            match fs::remove_file(self.path(name)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// Clears every stale claim (see the module comment).
    pub fn sweep(&self) -> io::Result<()> {
        for entry in fs::read_dir(&self.dir)? {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            let complete = self
                .holder(&name)
                .is_some_and(|id| self.instances.join(id).join("config.json").exists());
            if !complete {
                self.clear_if_stale(&name)?;
            }
        }
        Ok(())
    }

    /// Clears `name`'s claim if its creator died before the record was
    /// complete; whether it did (or the name is free now).
    fn clear_if_stale(&self, name: &str) -> io::Result<bool> {
        let path = self.path(name);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(true),
            Err(e) => return Err(e),
        };
        match file.try_lock() {
            Ok(()) => {}
            // Its creator is alive and still building the record.
            Err(TryLockError::WouldBlock) => return Ok(false),
            Err(TryLockError::Error(e)) => return Err(e),
        }
        // Another clearer may have removed this claim while we waited for
        // the lock, and a new creator made the name again: that one is not
        // ours to judge.
        let current = match fs::metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(true),
            Err(e) => return Err(e),
        };
        let held = file.metadata()?;
        if (current.dev(), current.ino()) != (held.dev(), held.ino()) {
            return Ok(false);
        }
        let id = fs::read_to_string(&path)?;
        let record = self.instances.join(&id);
        if id.is_empty() || !record.join("config.json").exists() {
            // The record's leftovers first: while the claim exists, they
            // are found again if this is cut short.
            if !id.is_empty() && !id.contains('/') {
                remove_dir_if_there(&self.partial_dir(&id))?;
                remove_dir_if_there(&record)?;
            }
            fs::remove_file(&path)?;
            return Ok(true);
        }
        Ok(false)
    }
}

fn remove_dir_if_there(dir: &Path) -> io::Result<()> {
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
