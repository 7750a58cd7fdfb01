//! The read-only filesystem `kiln build` bakes into an image.
//!
//! `kiln build --include HOST:GUEST` packs host files into one blob, linked
//! into the image's read-only segment as the section [`SECTION`] between the
//! symbols [`START_SYMBOL`] and [`END_SYMBOL`]. The guest serves files
//! straight from that memory; `kiln inspect` lists them. The format, all
//! little-endian:
//!
//! ```text
//! Header     magic "KILNFS01", entry count (u32), names length (u32), data length (u64)
//! Entries    entry count × RawEntry (40 bytes): entry 0 is the root directory;
//!            every other entry's parent comes before it and is a directory
//! Names      the entries' names, concatenated
//! Data       from the next multiple of DATA_ALIGN: file contents and symbolic
//!            link targets, each starting at a multiple of DATA_ALIGN
//! ```
//!
//! [`FsImage::parse`] checks all of it, so a corrupt image is refused rather
//! than read out of bounds.

/// Name of the image section holding the blob.
pub const SECTION: &str = ".kiln.fs";
/// Linker symbol at the blob's first byte.
pub const START_SYMBOL: &str = "__kiln_fs_start";
/// Linker symbol one past the blob's last byte.
pub const END_SYMBOL: &str = "__kiln_fs_end";

/// The header's magic.
pub const MAGIC: [u8; 8] = *b"KILNFS01";
/// Bytes in the header.
pub const HEADER_LEN: usize = 24;
/// Bytes in one entry.
pub const ENTRY_LEN: usize = 40;
/// Alignment of the data area and of each file's contents.
pub const DATA_ALIGN: usize = 16;

/// File type bits of [`RawEntry::mode`] (Linux's `S_IFMT` values).
pub mod kind {
    /// Mask of the type bits.
    pub const MASK: u32 = 0o170000;
    /// A directory.
    pub const DIRECTORY: u32 = 0o040000;
    /// A regular file.
    pub const FILE: u32 = 0o100000;
    /// A symbolic link.
    pub const SYMLINK: u32 = 0o120000;
}

/// One entry as stored.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawEntry {
    /// Index of the directory holding it (0 for the root itself).
    pub parent: u32,
    /// Type and permission bits (`kind::*` | permissions).
    pub mode: u32,
    /// Offset of its name in the names area.
    pub name_offset: u32,
    /// Length of its name.
    pub name_len: u32,
    /// Offset of its contents in the data area (files and symbolic links).
    pub data_offset: u64,
    /// Bytes of contents.
    pub size: u64,
    /// Modification time, seconds since the Unix epoch.
    pub mtime: i64,
}

const _: () = assert!(core::mem::size_of::<RawEntry>() == ENTRY_LEN);

impl RawEntry {
    /// The entry's bytes as stored.
    pub fn to_bytes(&self) -> [u8; ENTRY_LEN] {
        let mut out = [0; ENTRY_LEN];
        out[0..4].copy_from_slice(&self.parent.to_le_bytes());
        out[4..8].copy_from_slice(&self.mode.to_le_bytes());
        out[8..12].copy_from_slice(&self.name_offset.to_le_bytes());
        out[12..16].copy_from_slice(&self.name_len.to_le_bytes());
        out[16..24].copy_from_slice(&self.data_offset.to_le_bytes());
        out[24..32].copy_from_slice(&self.size.to_le_bytes());
        out[32..40].copy_from_slice(&self.mtime.to_le_bytes());
        out
    }

    fn from_bytes(b: &[u8]) -> Self {
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let u64_at = |i: usize| {
            let mut v = [0; 8];
            v.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(v)
        };
        Self {
            parent: u32_at(0),
            mode: u32_at(4),
            name_offset: u32_at(8),
            name_len: u32_at(12),
            data_offset: u64_at(16),
            size: u64_at(24),
            mtime: u64_at(32) as i64,
        }
    }
}

/// The header's bytes for a blob with these areas.
pub fn header(entry_count: u32, names_len: u32, data_len: u64) -> [u8; HEADER_LEN] {
    let mut out = [0; HEADER_LEN];
    out[0..8].copy_from_slice(&MAGIC);
    out[8..12].copy_from_slice(&entry_count.to_le_bytes());
    out[12..16].copy_from_slice(&names_len.to_le_bytes());
    out[16..24].copy_from_slice(&data_len.to_le_bytes());
    out
}

/// Where the data area starts, for a blob with this many entries and bytes of names.
pub fn data_start(entry_count: usize, names_len: usize) -> usize {
    (HEADER_LEN + entry_count * ENTRY_LEN + names_len).next_multiple_of(DATA_ALIGN)
}

/// Whether `name` can be one path component: not empty, not `.` or `..`,
/// no `/` or NUL.
pub fn is_valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name != b"." && name != b".." && !name.iter().any(|&b| b == b'/' || b == 0)
}

/// Why a blob is not a valid filesystem image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatError {
    /// Shorter than its header or areas say.
    Truncated,
    /// The magic is wrong.
    BadMagic,
    /// Entry `n` is inconsistent (name, parent, type or data out of place).
    BadEntry(u32),
}

impl core::fmt::Display for FormatError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Truncated => f.write_str("baked filesystem is truncated"),
            Self::BadMagic => f.write_str("baked filesystem has a bad magic number"),
            Self::BadEntry(n) => write!(f, "baked filesystem entry {n} is malformed"),
        }
    }
}

/// A parsed, validated blob.
#[derive(Clone, Copy, Debug)]
pub struct FsImage<'a> {
    entries: &'a [u8],
    names: &'a [u8],
    data: &'a [u8],
}

/// One entry, resolved against the blob.
#[derive(Clone, Copy, Debug)]
pub struct Entry<'a> {
    /// Its index (0 is the root).
    pub index: u32,
    /// Its directory's index.
    pub parent: u32,
    /// Its name (empty for the root).
    pub name: &'a [u8],
    /// Type and permission bits.
    pub mode: u32,
    /// Modification time, seconds since the Unix epoch.
    pub mtime: i64,
    /// Its contents (a file's bytes, a link's target; empty for directories).
    pub data: &'a [u8],
}

impl Entry<'_> {
    /// Whether it is a directory.
    pub fn is_dir(&self) -> bool {
        self.mode & kind::MASK == kind::DIRECTORY
    }

    /// Whether it is a symbolic link.
    pub fn is_symlink(&self) -> bool {
        self.mode & kind::MASK == kind::SYMLINK
    }
}

impl<'a> FsImage<'a> {
    /// Checks `bytes` and returns the image they hold.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, FormatError> {
        let header = bytes.get(..HEADER_LEN).ok_or(FormatError::Truncated)?;
        if header[0..8] != MAGIC {
            return Err(FormatError::BadMagic);
        }
        let count = u32::from_le_bytes([header[8], header[9], header[10], header[11]]) as usize;
        let names_len =
            u32::from_le_bytes([header[12], header[13], header[14], header[15]]) as usize;
        let mut data_len = [0; 8];
        data_len.copy_from_slice(&header[16..24]);
        let data_len = usize::try_from(u64::from_le_bytes(data_len)).unwrap_or(usize::MAX);

        let entries_end = count
            .checked_mul(ENTRY_LEN)
            .and_then(|n| n.checked_add(HEADER_LEN))
            .ok_or(FormatError::Truncated)?;
        let names_end = entries_end
            .checked_add(names_len)
            .ok_or(FormatError::Truncated)?;
        let data_start = names_end
            .checked_next_multiple_of(DATA_ALIGN)
            .ok_or(FormatError::Truncated)?;
        let data_end = data_start
            .checked_add(data_len)
            .ok_or(FormatError::Truncated)?;
        if count == 0 || data_end > bytes.len() {
            return Err(FormatError::Truncated);
        }
        let image = Self {
            entries: &bytes[HEADER_LEN..entries_end],
            names: &bytes[entries_end..names_end],
            data: &bytes[data_start..data_end],
        };
        for index in 0..count as u32 {
            image.check(index)?;
        }
        Ok(image)
    }

    fn raw(&self, index: u32) -> RawEntry {
        let at = index as usize * ENTRY_LEN;
        RawEntry::from_bytes(&self.entries[at..at + ENTRY_LEN])
    }

    fn check(&self, index: u32) -> Result<(), FormatError> {
        let bad = FormatError::BadEntry(index);
        let raw = self.raw(index);
        let name = self.names.get(raw.name_offset as usize..).ok_or(bad)?;
        let name = name.get(..raw.name_len as usize).ok_or(bad)?;
        let data_ok = usize::try_from(raw.data_offset)
            .ok()
            .zip(usize::try_from(raw.size).ok())
            .and_then(|(start, len)| start.checked_add(len))
            .is_some_and(|end| end <= self.data.len());
        let kind = raw.mode & kind::MASK;
        let kind_ok = match kind {
            kind::DIRECTORY => raw.size == 0,
            kind::FILE | kind::SYMLINK => data_ok,
            _ => false,
        };
        let place_ok = if index == 0 {
            raw.parent == 0 && name.is_empty() && kind == kind::DIRECTORY
        } else {
            raw.parent < index && self.raw(raw.parent).mode & kind::MASK == kind::DIRECTORY
        };
        if kind_ok && place_ok && (index == 0 || is_valid_name(name)) {
            Ok(())
        } else {
            Err(bad)
        }
    }

    /// Number of entries, the root included.
    pub fn len(&self) -> u32 {
        (self.entries.len() / ENTRY_LEN) as u32
    }

    /// Whether the image holds nothing but its root.
    pub fn is_empty(&self) -> bool {
        self.len() <= 1
    }

    /// Entry `index` (0 is the root).
    ///
    /// # Panics
    /// If `index` is not below [`Self::len`].
    pub fn entry(&self, index: u32) -> Entry<'a> {
        let raw = self.raw(index);
        let name_start = raw.name_offset as usize;
        let data_start = raw.data_offset as usize;
        let data = if raw.mode & kind::MASK == kind::DIRECTORY {
            &[][..]
        } else {
            &self.data[data_start..data_start + raw.size as usize]
        };
        Entry {
            index,
            parent: raw.parent,
            name: &self.names[name_start..name_start + raw.name_len as usize],
            mode: raw.mode,
            mtime: raw.mtime,
            data,
        }
    }

    /// All entries, in index order (every directory before its contents).
    pub fn entries(&self) -> impl Iterator<Item = Entry<'a>> + '_ {
        (0..self.len()).map(|index| self.entry(index))
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use super::*;

    /// A blob with the root, `/etc` and `/etc/a.txt`.
    fn sample() -> Vec<u8> {
        let names = b"etca.txt";
        let entries = [
            RawEntry {
                mode: kind::DIRECTORY | 0o755,
                ..Default::default()
            },
            RawEntry {
                mode: kind::DIRECTORY | 0o755,
                name_len: 3,
                ..Default::default()
            },
            RawEntry {
                parent: 1,
                mode: kind::FILE | 0o644,
                name_offset: 3,
                name_len: 5,
                size: 5,
                ..Default::default()
            },
        ];
        let mut blob = header(3, names.len() as u32, 5).to_vec();
        for e in entries {
            blob.extend_from_slice(&e.to_bytes());
        }
        blob.extend_from_slice(names);
        blob.resize(data_start(3, names.len()), 0);
        blob.extend_from_slice(b"hello");
        blob
    }

    #[test]
    fn a_valid_blob_parses() {
        let blob = sample();
        let image = FsImage::parse(&blob).expect("a valid blob");
        assert_eq!(image.len(), 3);
        let file = image.entry(2);
        assert_eq!(
            (file.parent, file.name, file.data),
            (1, &b"a.txt"[..], &b"hello"[..])
        );
        assert!(image.entry(1).is_dir());
    }

    #[test]
    fn every_truncation_and_corruption_is_refused_not_read_out_of_bounds() {
        let blob = sample();
        for len in 0..blob.len() {
            assert!(FsImage::parse(&blob[..len]).is_err(), "length {len}");
        }
        for at in 0..blob.len() {
            for value in [0x00, 0x7f, 0xff] {
                let mut bad = blob.clone();
                bad[at] = value;
                if let Ok(image) = FsImage::parse(&bad) {
                    // Still valid: every entry must be readable.
                    image.entries().for_each(drop);
                }
            }
        }
    }
}
