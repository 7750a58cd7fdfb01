//! The tree as a blob in the `kiln_abi::fs_image` format.
//!
//! Entries are numbered breadth first: entry 0 is the root, and each
//! directory's children get consecutive numbers in name order, after
//! their directory. So every directory precedes its contents (the format
//! requires it) and a directory's children are one sorted run (which a
//! reader can search). Nothing depends on the time or the order the host
//! lists directories in: the same inputs give the same bytes.

use std::collections::VecDeque;
use std::io::Read;
use std::path::Path;

use kiln_abi::fs_image::{DATA_ALIGN, RawEntry, data_start, header, kind};

use super::tree::{Dir, Node};

/// The largest blob `kiln build` makes: it is loaded into guest memory
/// with the image, so anything near this is a mistake rather than a plan.
pub const MAX_LEN: u64 = 1 << 30;

/// Builds the blob for the tree under `root`, reading the files' contents.
pub fn build(root: &Dir) -> Result<Vec<u8>, String> {
    Layout::of(root)?.write()
}

/// Where everything goes, before any file is read.
struct Layout<'a> {
    entries: Vec<RawEntry>,
    names: Vec<u8>,
    /// Each file's and link's contents with its offset in the data area.
    contents: Vec<(u64, Content<'a>)>,
    data_len: u64,
}

enum Content<'a> {
    /// A host file of this size, read when the blob is written.
    File(&'a Path, u64),
    /// A link's target.
    Bytes(&'a [u8]),
}

impl Content<'_> {
    fn len(&self) -> u64 {
        match self {
            Content::File(_, size) => *size,
            Content::Bytes(bytes) => bytes.len() as u64,
        }
    }
}

impl<'a> Layout<'a> {
    fn of(root: &'a Dir) -> Result<Self, String> {
        let mut layout = Self {
            entries: vec![RawEntry {
                mode: kind::DIRECTORY | root.meta.permissions,
                mtime: root.meta.mtime,
                ..RawEntry::default()
            }],
            names: Vec::new(),
            contents: Vec::new(),
            data_len: 0,
        };
        let mut queue = VecDeque::from([(0, root)]);
        while let Some((index, dir)) = queue.pop_front() {
            for (name, node) in &dir.children {
                let child = layout.push(index, name, node)?;
                if let Node::Dir(dir) = node {
                    queue.push_back((child, dir));
                }
            }
        }
        Ok(layout)
    }

    /// Adds the entry for `node`, named `name`, in directory `parent`, and
    /// returns its index.
    fn push(&mut self, parent: u32, name: &'a [u8], node: &'a Node) -> Result<u32, String> {
        let (type_bits, meta, content) = match node {
            Node::Dir(dir) => (kind::DIRECTORY, &dir.meta, None),
            Node::File { meta, size } => {
                (kind::FILE, meta, Some(Content::File(&meta.source, *size)))
            }
            Node::Symlink { meta, target } => (kind::SYMLINK, meta, Some(Content::Bytes(target))),
        };
        let (data_offset, size) = match content {
            Some(content) => {
                let offset = self.data_len.next_multiple_of(DATA_ALIGN as u64);
                let size = content.len();
                self.data_len = offset.saturating_add(size);
                self.contents.push((offset, content));
                (offset, size)
            }
            None => (0, 0),
        };
        let index = u32::try_from(self.entries.len()).map_err(|_| too_large())?;
        self.entries.push(RawEntry {
            parent,
            mode: type_bits | meta.permissions,
            name_offset: u32::try_from(self.names.len()).map_err(|_| too_large())?,
            name_len: u32::try_from(name.len()).map_err(|_| too_large())?,
            data_offset,
            size,
            mtime: meta.mtime,
        });
        self.names.extend_from_slice(name);
        if self.total_len() > MAX_LEN {
            return Err(too_large());
        }
        Ok(index)
    }

    fn data_start(&self) -> u64 {
        data_start(self.entries.len(), self.names.len()) as u64
    }

    fn total_len(&self) -> u64 {
        self.data_start().saturating_add(self.data_len)
    }

    /// Writes the blob; below [`MAX_LEN`], so every length fits.
    fn write(self) -> Result<Vec<u8>, String> {
        let data_start = self.data_start() as usize;
        let mut blob = Vec::with_capacity(self.total_len() as usize);
        blob.extend_from_slice(&header(
            self.entries.len() as u32,
            self.names.len() as u32,
            self.data_len,
        ));
        for entry in &self.entries {
            blob.extend_from_slice(&entry.to_bytes());
        }
        blob.extend_from_slice(&self.names);
        for (offset, content) in self.contents {
            blob.resize(data_start + offset as usize, 0);
            match content {
                Content::Bytes(bytes) => blob.extend_from_slice(bytes),
                Content::File(path, size) => read_file(path, size, &mut blob)?,
            }
        }
        blob.resize(data_start + self.data_len as usize, 0);
        Ok(blob)
    }
}

/// Appends the file's `size` bytes to `blob`; a file that has changed size
/// since it was listed is an error rather than a wrong image.
fn read_file(path: &Path, size: u64, blob: &mut Vec<u8>) -> Result<(), String> {
    let error = |e: std::io::Error| format!("cannot read {}: {e}", path.display());
    let file = std::fs::File::open(path).map_err(error)?;
    let read = file
        .take(size.saturating_add(1))
        .read_to_end(blob)
        .map_err(error)?;
    if read as u64 == size {
        Ok(())
    } else {
        Err(format!(
            "{} changed while it was being read",
            path.display()
        ))
    }
}

fn too_large() -> String {
    format!(
        "the included files are too large: the baked filesystem would exceed {} GiB",
        MAX_LEN >> 30
    )
}
