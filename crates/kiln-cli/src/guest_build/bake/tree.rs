//! The guest file tree: host files and directories gathered under their
//! guest paths, before anything is read into the blob.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fs::FileType;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::include::{GuestPath, Include};

/// Permissions of a directory no include names itself (`/etc` for
/// `/etc/app.toml`, and the root unless `/` is included).
const IMPLIED_DIR_PERMISSIONS: u32 = 0o755;

/// What every entry carries.
#[derive(Debug)]
pub struct Meta {
    /// Permission bits (`mode & 0o777`).
    pub permissions: u32,
    /// Modification time, seconds since the Unix epoch.
    pub mtime: i64,
    /// The host path it comes from (for an implied directory: the include
    /// it was made for), named in conflicts and read for files.
    pub source: PathBuf,
    /// Whether it is a directory made only to hold an include.
    implied: bool,
}

/// A directory; children sorted by name, so the blob is deterministic.
#[derive(Debug)]
pub struct Dir {
    /// Its metadata.
    pub meta: Meta,
    /// Its entries by name.
    pub children: BTreeMap<Vec<u8>, Node>,
}

/// One entry below the root.
#[derive(Debug)]
pub enum Node {
    /// A directory.
    Dir(Dir),
    /// A regular file, read when the blob is written.
    File {
        /// Its metadata (`source` is the file to read).
        meta: Meta,
        /// Its size when it was collected.
        size: u64,
    },
    /// A symbolic link, stored with its target as is.
    Symlink {
        /// Its metadata.
        meta: Meta,
        /// The link's target.
        target: Vec<u8>,
    },
}

impl Node {
    fn describe(&self) -> String {
        match self {
            Node::Dir(dir) if dir.meta.implied => {
                format!("the directory made for {}", dir.meta.source.display())
            }
            Node::Dir(dir) => format!("the directory {}", dir.meta.source.display()),
            Node::File { meta, .. } => format!("the file {}", meta.source.display()),
            Node::Symlink { meta, .. } => format!("the symbolic link {}", meta.source.display()),
        }
    }
}

/// The whole tree.
#[derive(Debug)]
pub struct Tree {
    /// The root directory.
    pub root: Dir,
}

impl Default for Tree {
    fn default() -> Self {
        Self {
            root: Dir::implied(Path::new("/")),
        }
    }
}

impl Dir {
    fn implied(source: &Path) -> Self {
        Self {
            meta: Meta {
                permissions: IMPLIED_DIR_PERMISSIONS,
                // A fixed time keeps the blob the same from build to build.
                mtime: 0,
                source: source.to_path_buf(),
                implied: true,
            },
            children: BTreeMap::new(),
        }
    }
}

impl Tree {
    /// Reads `include.host` and places it at its guest path. Directories
    /// met at the same path merge; anything else there is a conflict.
    pub fn add(&mut self, include: &Include) -> Result<(), String> {
        // The top-level path is followed if it is a link: `--include
        // link:/x` means what the link points at.
        let node = read(&include.host, true)?;
        let Some((last, parents)) = include.guest.split_last() else {
            return match node {
                Node::Dir(dir) => merge_dirs(&mut self.root, dir, &mut Vec::new()),
                other => Err(format!(
                    "{} cannot be baked at /: only a directory can",
                    other.describe()
                )),
            };
        };
        let mut dir = &mut self.root;
        for (depth, name) in parents.iter().enumerate() {
            let child = dir
                .children
                .entry(name.clone())
                .or_insert_with(|| Node::Dir(Dir::implied(&include.host)));
            match child {
                Node::Dir(child) => dir = child,
                other => {
                    let holder = Node::Dir(Dir::implied(&include.host));
                    return Err(conflict(&include.guest[..=depth], other, &holder));
                }
            }
        }
        match dir.children.entry(last.clone()) {
            Entry::Vacant(slot) => {
                slot.insert(node);
                Ok(())
            }
            Entry::Occupied(slot) => merge(slot.into_mut(), node, &mut include.guest.clone()),
        }
    }
}

/// Puts `new` where `old` is, at `path`: directories merge, nothing else can.
fn merge(old: &mut Node, new: Node, path: &mut Vec<Vec<u8>>) -> Result<(), String> {
    match (old, new) {
        (Node::Dir(old), Node::Dir(new)) => merge_dirs(old, new, path),
        (old, new) => Err(conflict(path, old, &new)),
    }
}

fn merge_dirs(old: &mut Dir, new: Dir, path: &mut Vec<Vec<u8>>) -> Result<(), String> {
    // A directory an include names keeps its own permissions and time, even
    // when another include made it first to hold something.
    if old.meta.implied && !new.meta.implied {
        old.meta = new.meta;
    }
    for (name, child) in new.children {
        path.push(name.clone());
        match old.children.entry(name) {
            Entry::Vacant(slot) => {
                slot.insert(child);
            }
            Entry::Occupied(slot) => merge(slot.into_mut(), child, path)?,
        }
        path.pop();
    }
    Ok(())
}

fn conflict(path: &[Vec<u8>], old: &Node, new: &Node) -> String {
    format!(
        "conflicting includes at {}: {} and {}",
        GuestPath(path),
        old.describe(),
        new.describe()
    )
}

/// Reads the host entry at `host` (following it if it is a link and
/// `follow`), and a directory's contents recursively, without following
/// the links inside.
fn read(host: &Path, follow: bool) -> Result<Node, String> {
    let metadata = if follow {
        std::fs::metadata(host)
    } else {
        std::fs::symlink_metadata(host)
    }
    .map_err(|e| format!("cannot include {}: {e}", host.display()))?;
    let meta = Meta {
        permissions: metadata.mode() & 0o777,
        mtime: metadata.mtime(),
        source: host.to_path_buf(),
        implied: false,
    };
    let kind = metadata.file_type();
    if kind.is_dir() {
        let entries = std::fs::read_dir(host)
            .map_err(|e| format!("cannot include {}: {e}", host.display()))?;
        let mut children = BTreeMap::new();
        for entry in entries {
            let entry = entry.map_err(|e| format!("cannot include {}: {e}", host.display()))?;
            let node = read(&entry.path(), false)?;
            children.insert(entry.file_name().as_bytes().to_vec(), node);
        }
        Ok(Node::Dir(Dir { meta, children }))
    } else if kind.is_file() {
        Ok(Node::File {
            meta,
            size: metadata.len(),
        })
    } else if kind.is_symlink() {
        let target = std::fs::read_link(host)
            .map_err(|e| format!("cannot include {}: {e}", host.display()))?;
        Ok(Node::Symlink {
            meta,
            target: target.into_os_string().into_vec(),
        })
    } else {
        Err(format!(
            "cannot include {}: it is a {}; only regular files, directories and symbolic links can be baked",
            host.display(),
            special_kind(kind)
        ))
    }
}

fn special_kind(kind: FileType) -> &'static str {
    if kind.is_socket() {
        "socket"
    } else if kind.is_fifo() {
        "FIFO"
    } else if kind.is_char_device() {
        "character device"
    } else if kind.is_block_device() {
        "block device"
    } else {
        "special file"
    }
}
