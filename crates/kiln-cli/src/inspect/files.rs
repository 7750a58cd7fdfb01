//! The files baked into an image, listed like `ls -l`.

use std::fmt::Write as _;

use kiln_abi::fs_image::{Entry, FsImage, kind};

use crate::guest_build::human_size;

/// Prints a heading with the number of entries and the files' total size,
/// then one line per entry (the root aside), in path order.
pub fn list(image: &FsImage<'_>) {
    let total: u64 = image
        .entries()
        .filter(|e| e.mode & kind::MASK == kind::FILE)
        .map(|e| e.data.len() as u64)
        .sum();
    let count = image.len() - 1;
    let noun = if count == 1 { "entry" } else { "entries" };
    say!("files ({count} {noun}, {}):", human_size(total));
    // Children by directory, in index order (name order in blobs `kiln
    // build` makes); every parent precedes its children, so this is a tree.
    let mut children = vec![Vec::new(); image.len() as usize];
    for entry in image.entries().skip(1) {
        children[entry.parent as usize].push(entry.index);
    }
    // Depth first with one path buffer: memory stays linear in the blob
    // even for a deep (or hostile) tree.
    let mut stack: Vec<(u32, usize)> = children[0].iter().rev().map(|&c| (c, 0)).collect();
    let mut path = String::new();
    while let Some((index, parent_len)) = stack.pop() {
        let entry = image.entry(index);
        path.truncate(parent_len);
        path.push('/');
        push_printable(&mut path, entry.name);
        say!("  {}", line(&entry, &path));
        if entry.is_dir() {
            let len = path.len();
            stack.extend(children[index as usize].iter().rev().map(|&c| (c, len)));
        }
    }
}

/// `-rw-r--r--        1234  /etc/app.toml`, `drwxr-xr-x              /srv`,
/// `lrwxrwxrwx              /x -> target`.
fn line(entry: &Entry<'_>, path: &str) -> String {
    let mut line = mode_string(entry.mode);
    if entry.is_dir() || entry.is_symlink() {
        line.push_str(&" ".repeat(12));
    } else {
        let _ = write!(line, "  {:>10}", entry.data.len());
    }
    let _ = write!(line, "  {path}");
    if entry.is_symlink() {
        line.push_str(" -> ");
        push_printable(&mut line, entry.data);
    }
    line
}

/// The type letter and permission bits, as `ls -l` shows them.
fn mode_string(mode: u32) -> String {
    let type_letter = match mode & kind::MASK {
        kind::DIRECTORY => 'd',
        kind::SYMLINK => 'l',
        _ => '-',
    };
    let mut text = String::from(type_letter);
    for shift in [6, 3, 0] {
        let bits = mode >> shift;
        text.push(if bits & 4 != 0 { 'r' } else { '-' });
        text.push(if bits & 2 != 0 { 'w' } else { '-' });
        text.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    text
}

/// Appends a name or link target from the image with control characters
/// escaped: an image cannot send escape sequences to the terminal.
fn push_printable(out: &mut String, bytes: &[u8]) {
    for c in String::from_utf8_lossy(bytes).chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_read_like_ls() {
        assert_eq!(mode_string(kind::FILE | 0o644), "-rw-r--r--");
        assert_eq!(mode_string(kind::DIRECTORY | 0o755), "drwxr-xr-x");
        assert_eq!(mode_string(kind::SYMLINK | 0o777), "lrwxrwxrwx");
        assert_eq!(mode_string(kind::FILE | 0o4751), "-rwxr-x--x");
    }

    #[test]
    fn names_cannot_carry_escape_sequences() {
        let mut out = String::new();
        push_printable(&mut out, b"a\x1b[31m\nb\xff");
        assert_eq!(out, "a\\u{1b}[31m\\nb\u{fffd}");
    }
}
