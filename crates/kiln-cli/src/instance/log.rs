//! An instance's console log: written by its supervisor, rotated by size,
//! read by `kiln logs`.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// When the log passes this size it is rotated: the current file becomes
/// `console.log.1` (replacing the one before), and a new file starts. So
/// an instance keeps at most twice this much. `KILN_LOG_MAX_BYTES` sets
/// another size (tests use a small one).
const DEFAULT_MAX_BYTES: u64 = 10 << 20;

fn max_bytes() -> u64 {
    std::env::var("KILN_LOG_MAX_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(DEFAULT_MAX_BYTES)
}

/// The file rotated logs go to.
pub fn previous(path: &Path) -> PathBuf {
    path.with_extension("log.1")
}

/// Appends to a log, rotating it by size.
pub struct LogWriter {
    path: PathBuf,
    file: File,
    size: u64,
    max: u64,
}

impl LogWriter {
    /// Opens (or creates) the log at `path` for appending.
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = crate::state::private_file()
            .create(true)
            .append(true)
            .open(path)?;
        let size = file.metadata()?.len();
        Ok(Self {
            path: path.to_path_buf(),
            file,
            size,
            max: max_bytes(),
        })
    }

    /// Appends `bytes`, rotating first if the log is full.
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.size > 0 && self.size + bytes.len() as u64 > self.max {
            fs::rename(&self.path, previous(&self.path))?;
            *self = Self::open(&self.path)?;
        }
        self.file.write_all(bytes)?;
        self.size += bytes.len() as u64;
        Ok(())
    }
}

/// The last `lines` lines of the log (all with `None`), the rotated file's
/// included, and where a follower goes on from.
pub fn tail(path: &Path, lines: Option<usize>) -> io::Result<(Vec<u8>, Cursor)> {
    let mut text = fs::read(previous(path)).unwrap_or_default();
    let current = fs::read(path).or_else(|e| match e.kind() {
        io::ErrorKind::NotFound => Ok(Vec::new()),
        _ => Err(e),
    })?;
    let cursor = Cursor {
        inode: inode(path),
        position: current.len() as u64,
    };
    text.extend_from_slice(&current);
    if let Some(lines) = lines {
        // The text after the (lines + 1)-th newline from the end; a final
        // line without its newline yet counts as a line.
        let body = text.strip_suffix(b"\n").unwrap_or(&text);
        let start = body
            .iter()
            .enumerate()
            .rev()
            .filter(|&(_, &b)| b == b'\n')
            .nth(lines.saturating_sub(1))
            .map_or(0, |(i, _)| i + 1);
        text = if lines == 0 {
            Vec::new()
        } else {
            text[start..].to_vec()
        };
    }
    Ok((text, cursor))
}

/// How far a reader has read the log: which file (inode) and where in it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Cursor {
    inode: u64,
    position: u64,
}

fn inode(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(path).map_or(0, |m| m.ino())
}

/// Reads what was appended to the log since `cursor`, following a rotation
/// (then the rest of the rotated file comes first).
pub fn read_new(path: &Path, cursor: &mut Cursor) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let current = inode(path);
    if current != cursor.inode {
        // Rotated (or created): the file we were reading is now the previous one.
        if cursor.inode != 0 && inode(&previous(path)) == cursor.inode {
            let mut old = File::open(previous(path))?;
            old.seek(SeekFrom::Start(cursor.position))?;
            old.read_to_end(&mut out)?;
        }
        *cursor = Cursor {
            inode: current,
            position: 0,
        };
    }
    if let Ok(mut file) = File::open(path) {
        file.seek(SeekFrom::Start(cursor.position))?;
        let n = file.read_to_end(&mut out)?;
        cursor.position += n as u64;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_log(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kiln-log-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("temp dir");
        dir.join("console.log")
    }

    #[test]
    fn tail_gives_the_last_lines_across_a_rotation() {
        let path = temp_log("tail");
        let mut log = LogWriter::open(&path).expect("open");
        log.max = 12;
        for line in ["one\n", "two\n", "three\n", "four\n"] {
            log.write(line.as_bytes()).expect("write");
        }
        assert!(previous(&path).exists(), "rotated");
        let all = tail(&path, None).expect("tail").0;
        assert_eq!(all, b"one\ntwo\nthree\nfour\n".to_vec());
        assert_eq!(tail(&path, Some(2)).expect("tail").0, b"three\nfour\n");
        assert_eq!(tail(&path, Some(0)).expect("tail").0, b"");
        assert_eq!(tail(&path, Some(9)).expect("tail").0, all);
    }

    #[test]
    fn following_reads_each_byte_once_through_a_rotation() {
        let path = temp_log("follow");
        let mut log = LogWriter::open(&path).expect("open");
        log.max = 8;
        let mut cursor = Cursor::default();
        let mut seen = Vec::new();
        for chunk in ["abc\n", "defg\n", "hi\n", "jklmn\n"] {
            log.write(chunk.as_bytes()).expect("write");
            seen.extend(read_new(&path, &mut cursor).expect("read"));
        }
        assert_eq!(seen, b"abc\ndefg\nhi\njklmn\n");
    }
}
