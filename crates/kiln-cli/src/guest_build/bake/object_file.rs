//! The blob as an ELF relocatable object, the form the linker takes it in.

use std::io::Read;
use std::path::Path;

use kiln_abi::fs_image::{DATA_ALIGN, SECTION};
use object::write::Object;
use object::{Architecture, BinaryFormat, Endianness, SectionKind};

/// An object file holding `blob` as the section [`SECTION`]: allocated,
/// read-only, 16-byte aligned. The linker script places it in the image's
/// read-only segment between the symbols the guest reads it through.
pub fn elf(blob: &[u8]) -> Result<Vec<u8>, String> {
    let mut object = Object::new(BinaryFormat::Elf, Architecture::X86_64, Endianness::Little);
    let section = object.add_section(
        Vec::new(),
        SECTION.as_bytes().to_vec(),
        SectionKind::ReadOnlyData,
    );
    object.set_section_data(section, blob, DATA_ALIGN as u64);
    object
        .write()
        .map_err(|e| format!("cannot make the baked filesystem's object file: {e}"))
}

/// Writes `bytes` to `path` unless it already holds them, so an unchanged
/// build does not touch the file.
pub fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<(), String> {
    if holds(path, bytes) {
        return Ok(());
    }
    let error = |e: std::io::Error| format!("writing {}: {e}", path.display());
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(error)?;
    }
    std::fs::write(path, bytes).map_err(error)
}

/// Whether the file at `path` holds exactly `bytes`, compared in chunks
/// (the blob may be large).
fn holds(path: &Path, bytes: &[u8]) -> bool {
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    if file.metadata().map(|m| m.len()).ok() != Some(bytes.len() as u64) {
        return false;
    }
    let mut file = std::io::BufReader::new(file);
    let mut chunk = vec![0; 1 << 16];
    for expected in bytes.chunks(chunk.len()) {
        let chunk = &mut chunk[..expected.len()];
        if file.read_exact(chunk).is_err() || chunk != expected {
            return false;
        }
    }
    true
}
