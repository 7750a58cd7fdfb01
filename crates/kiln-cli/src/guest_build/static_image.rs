//! The check that a linked image is static.
//!
//! A `-sys` crate can name a shared C library (`cargo:rustc-link-lib=z`),
//! and then the link succeeds with dynamic sections a Kiln image cannot
//! have; the monitor would refuse the image later with a message about
//! its ELF structure. The build fails here instead, naming the libraries.

use std::path::Path;

use object::{Object, ObjectSection};

use crate::exit_code::{BUILD, Failure};

/// `DT_NEEDED`: the name of a shared library the image needs.
const DT_NEEDED: u64 = 1;

/// Fails when `image` (the program `bin`) was linked against shared
/// libraries.
pub fn check(image: &Path, bin: &str) -> Result<(), Failure> {
    let bytes = std::fs::read(image)
        .map_err(|e| Failure::new(BUILD, format!("reading {}: {e}", image.display())))?;
    let needed = shared_libraries(&bytes)
        .map_err(|e| Failure::new(BUILD, format!("{}: {e}", image.display())))?;
    if needed.is_empty() {
        return Ok(());
    }
    Err(Failure::new(
        BUILD,
        format!(
            "{bin} is linked against shared libraries ({}); a Kiln image is static: enable the \
             -sys crate's static or vendored feature, or install the library's static archive (.a)",
            needed.join(", ")
        ),
    ))
}

/// The `DT_NEEDED` names of an ELF file's dynamic section (none without one).
fn shared_libraries(bytes: &[u8]) -> Result<Vec<String>, object::Error> {
    let file = object::File::parse(bytes)?;
    let Some(dynamic) = file.section_by_name(".dynamic") else {
        return Ok(Vec::new());
    };
    let strings = match file.section_by_name(".dynstr") {
        Some(section) => section.data()?,
        None => &[],
    };
    let entries = dynamic.data()?;
    let mut needed = Vec::new();
    for entry in entries.chunks_exact(16) {
        let tag = u64::from_le_bytes(entry[..8].try_into().expect("8 bytes"));
        let value = u64::from_le_bytes(entry[8..].try_into().expect("8 bytes"));
        if tag == DT_NEEDED {
            let name = usize::try_from(value)
                .ok()
                .and_then(|at| strings.get(at..))
                .and_then(|rest| rest.split(|&b| b == 0).next())
                .map_or_else(
                    || "?".to_string(),
                    |n| String::from_utf8_lossy(n).into_owned(),
                );
            needed.push(name);
        }
    }
    if needed.is_empty() {
        // Dynamic sections without a library: still not a static image.
        needed.push("no library named, but a dynamic section".to_string());
    }
    Ok(needed)
}

#[cfg(test)]
mod tests {
    use super::shared_libraries;

    #[test]
    fn an_elf_file_without_a_dynamic_section_needs_no_library() {
        use object::write;
        let mut elf = write::Object::new(
            object::BinaryFormat::Elf,
            object::Architecture::X86_64,
            object::Endianness::Little,
        );
        let text = elf.add_section(Vec::new(), b".text".to_vec(), object::SectionKind::Text);
        elf.append_section_data(text, &[0xc3], 1);
        let bytes = elf.write().expect("an ELF file");
        assert_eq!(
            shared_libraries(&bytes).expect("parse"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_dynamic_executable_names_its_libraries() {
        let sh = std::fs::read("/bin/sh").expect("/bin/sh");
        let needed = shared_libraries(&sh).expect("parse");
        assert!(
            needed.iter().any(|n| n.starts_with("libc.so")),
            "{needed:?}"
        );
    }
}
