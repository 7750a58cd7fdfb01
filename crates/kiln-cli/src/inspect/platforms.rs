//! Which hypervisors an image boots on: Kiln's monitor (every image the
//! monitor accepts) and, through PVH, QEMU microvm, Firecracker and Cloud
//! Hypervisor (an image with a Xen `PHYS32_ENTRY` note).

use object::read::elf::{ElfFile64, ProgramHeader};

/// `XEN_ELFNOTE_PHYS32_ENTRY`.
const PHYS32_ENTRY: u32 = 18;

/// The 32-bit PVH entry the image's Xen note names, if it has one.
pub fn pvh_entry(bytes: &[u8]) -> Option<u32> {
    let elf = ElfFile64::<object::Endianness>::parse(bytes).ok()?;
    let endian = elf.endian();
    for header in elf.elf_program_headers() {
        let Ok(Some(mut notes)) = header.notes(endian, bytes) else {
            continue;
        };
        while let Ok(Some(note)) = notes.next() {
            if note.name() == b"Xen" && note.n_type(endian).0 == PHYS32_ENTRY {
                let desc: [u8; 4] = note.desc().get(..4)?.try_into().ok()?;
                return Some(u32::from_le_bytes(desc));
            }
        }
    }
    None
}
