//! `kiln inspect`: what is in an image.

mod files;
mod platforms;

use std::path::Path;
use std::process::ExitCode;

use kiln_abi::fs_image::{self, FsImage};
use kiln_monitor::{Image, ImageFile};
use object::{Object, ObjectSection, ObjectSymbol, SectionKind};

use crate::Outcome;
use crate::exit_code::{Failure, IMAGE};
use crate::guest_build::human_size;

/// Prints the image's ABI version, entry, memory extent, services, sections
/// and baked files.
pub fn inspect(path: &Path) -> Outcome {
    let file = ImageFile::open(path)
        .map_err(|e| Failure::new(IMAGE, format!("cannot open {}: {e}", path.display())))?;
    let bytes = file.bytes();
    let image =
        Image::parse(bytes).map_err(|e| Failure::new(IMAGE, format!("{}: {e}", path.display())))?;
    let elf = object::File::parse(bytes)
        .map_err(|e| Failure::new(IMAGE, format!("{}: {e}", path.display())))?;
    // Checked before anything is printed: a corrupt image gets one error line.
    let baked =
        baked_files(&elf).map_err(|e| Failure::new(IMAGE, format!("{}: {e}", path.display())))?;

    let entry_name = elf
        .symbols()
        .find(|s| s.address() == image.entry && s.is_definition())
        .and_then(|s| s.name().ok().map(str::to_owned))
        .unwrap_or_default();
    let loaded: u64 = image
        .segments
        .iter()
        .map(|s| s.memory.end - s.memory.start)
        .sum();
    say!("image:     {}", path.display());
    say!("file size: {}", human_size(bytes.len() as u64));
    say!("ABI:       Kiln ABI version {}", image.abi_version);
    say!("entry:     {:#x} {entry_name}", image.entry);
    say!(
        "memory:    {:#x}..{:#x} ({} loaded, {} segments)",
        image.start(),
        image.end(),
        human_size(loaded),
        image.segments.len()
    );
    match platforms::pvh_entry(bytes) {
        Some(entry) => say!(
            "platforms: Kiln monitor; PVH (QEMU microvm, Firecracker, Cloud Hypervisor), entry {entry:#x}"
        ),
        None => say!("platforms: Kiln monitor"),
    }
    say!("services:  {}", image.services.join(", "));
    match image.trap_table {
        Some(table) => say!("traps:     stub table at {table:#x}"),
        None => say!("traps:     none (an exception stops the VM without a report)"),
    }
    if let Some(entry) = image.upcall {
        say!("upcall:    time-slice entry at {entry:#x}");
    }
    say!("sections:");
    let mut debug = (0usize, 0u64);
    for section in elf.sections() {
        let name = section.name().unwrap_or("?");
        let size = section.size();
        if section.kind() == SectionKind::Debug || name.starts_with(".debug") {
            debug = (debug.0 + 1, debug.1 + size);
        } else if section.address() != 0 && size > 0 {
            say!(
                "  {name:<18} {:>10}  at {:#x}",
                human_size(size),
                section.address()
            );
        }
    }
    if debug.0 > 0 {
        say!(
            "  {:<18} {:>10}  ({} sections, not loaded)",
            "debug info",
            human_size(debug.1),
            debug.0
        );
    }
    if let Some(baked) = baked {
        files::list(&baked);
    }
    Ok(ExitCode::SUCCESS)
}

/// The baked filesystem, if the image has one (the section is empty when
/// nothing was included).
fn baked_files<'a>(elf: &object::File<'a>) -> Result<Option<FsImage<'a>>, String> {
    let Some(section) = elf
        .section_by_name(fs_image::SECTION)
        .filter(|s| s.size() > 0)
    else {
        return Ok(None);
    };
    let data = section
        .data()
        .map_err(|e| format!("cannot read section {}: {e}", fs_image::SECTION))?;
    FsImage::parse(data).map(Some).map_err(|e| e.to_string())
}
