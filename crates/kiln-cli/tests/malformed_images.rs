//! Images that are not valid Kiln images are refused before anything runs,
//! each with a clear one-line error, by `kiln run` and `kiln inspect` alike.

mod common;

use std::path::PathBuf;

use common::{code, image, kiln, require_kvm};

const PHDR_SIZE: usize = 56;
const PT_NOTE: u32 = 4;
const PT_LOAD: u32 = 1;

/// A mutable copy of a good image with ELF64 field accessors.
struct Elf(Vec<u8>);

impl Elf {
    fn hello() -> Self {
        Self(std::fs::read(image("examples/hello", true)).expect("read hello"))
    }

    fn u16_at(&self, at: usize) -> u16 {
        u16::from_le_bytes(self.0[at..at + 2].try_into().expect("2 bytes"))
    }

    fn u32_at(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.0[at..at + 4].try_into().expect("4 bytes"))
    }

    fn u64_at(&self, at: usize) -> u64 {
        u64::from_le_bytes(self.0[at..at + 8].try_into().expect("8 bytes"))
    }

    fn set_u16(&mut self, at: usize, value: u16) {
        self.0[at..at + 2].copy_from_slice(&value.to_le_bytes());
    }

    fn set_u32(&mut self, at: usize, value: u32) {
        self.0[at..at + 4].copy_from_slice(&value.to_le_bytes());
    }

    fn set_u64(&mut self, at: usize, value: u64) {
        self.0[at..at + 8].copy_from_slice(&value.to_le_bytes());
    }

    /// Offsets of the program headers of `kind`.
    fn phdrs(&self, kind: u32) -> Vec<usize> {
        let phoff = self.u64_at(32) as usize;
        let count = usize::from(self.u16_at(56));
        (0..count)
            .map(|i| phoff + i * PHDR_SIZE)
            .filter(|at| self.u32_at(*at) == kind)
            .collect()
    }

    fn load(&self, i: usize) -> usize {
        self.phdrs(PT_LOAD)[i]
    }

    /// Offset of the descriptor of the Kiln note of type `kind`.
    fn kiln_note(&self, kind: u32) -> usize {
        let note = self.phdrs(PT_NOTE)[0];
        let (mut at, end) = (
            self.u64_at(note + 8) as usize,
            (self.u64_at(note + 8) + self.u64_at(note + 32)) as usize,
        );
        while at < end {
            let (namesz, descsz) = (self.u32_at(at) as usize, self.u32_at(at + 4) as usize);
            let desc = at + 12 + namesz.next_multiple_of(4);
            if self.u32_at(at + 8) == kind && &self.0[at + 12..at + 16] == b"Kiln" {
                return desc;
            }
            at = desc + descsz.next_multiple_of(4);
        }
        panic!("no Kiln note of type {kind}");
    }

    fn write(&self, name: &str) -> Written {
        // One file per check, no shared directory: the tests run in
        // parallel threads, and one removing a directory another is about
        // to write into would fail that one.
        let path =
            std::env::temp_dir().join(format!("kiln-malformed-{}-{name}", std::process::id()));
        std::fs::write(&path, &self.0).expect("write image");
        Written(path)
    }
}

/// An image file written for one check, removed when dropped: the
/// random-corruption test writes 500 of them.
struct Written(PathBuf);

impl AsRef<std::ffi::OsStr> for Written {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.as_os_str()
    }
}

impl Drop for Written {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Both `run` and `inspect` refuse the file with `needle` in one error line.
fn refused(elf: &Elf, name: &str, needle: &str) {
    refused_by(&["run", "inspect"], elf, name, needle);
}

fn refused_by(commands: &[&str], elf: &Elf, name: &str, needle: &str) {
    require_kvm();
    let path = elf.write(name);
    for command in commands {
        let run: common::Run = kiln()
            .arg(command)
            .arg(&path)
            .output()
            .expect("run kiln")
            .into();
        run.assert_clean_error(code::IMAGE, needle);
    }
}

#[test]
fn truncated_header() {
    let mut elf = Elf::hello();
    elf.0.truncate(40);
    refused(&elf, "truncated-header", "not a valid ELF file");
}

#[test]
fn truncated_segments() {
    let mut elf = Elf::hello();
    let len = elf.0.len();
    elf.0.truncate(len / 3);
    refused(&elf, "truncated-segments", "lies outside the file");
}

#[test]
fn empty_file() {
    refused(&Elf(Vec::new()), "empty", "not an ELF64 file");
}

#[test]
fn not_elf() {
    refused(
        &Elf(b"#!/bin/sh\necho hello\n".to_vec()),
        "script",
        "not an ELF64 file",
    );
}

#[test]
fn wrong_machine() {
    let mut elf = Elf::hello();
    elf.set_u16(18, 183); // EM_AARCH64
    refused(&elf, "aarch64", "built for another machine");
}

#[test]
fn shared_object() {
    let mut elf = Elf::hello();
    elf.set_u16(16, 3); // ET_DYN
    refused(&elf, "dyn", "not a static executable");
}

#[test]
fn no_kiln_note() {
    let mut elf = Elf::hello();
    let note = elf.phdrs(PT_NOTE)[0];
    elf.set_u32(note, 0); // PT_NULL: the notes are gone
    refused(&elf, "no-note", "no Kiln ABI note");
}

#[test]
fn other_abi_version() {
    let mut elf = Elf::hello();
    let desc = elf.kiln_note(1);
    elf.set_u32(desc, 99);
    refused(&elf, "abi-99", "built for Kiln ABI version 99");
}

#[test]
fn segment_outside_guest_memory() {
    let mut elf = Elf::hello();
    let data = elf.load(2);
    let vaddr = elf.u64_at(data + 16);
    elf.set_u64(data + 16, 0xe000_0000 + vaddr % 4096);
    // A valid image (inspect shows it) that the default memory limit cannot hold.
    refused_by(
        &["run"],
        &elf,
        "high-segment",
        "needs at least 3586 MiB of guest memory; --memory gives 3072 MiB",
    );
}

#[test]
fn segments_spread_wider_than_the_image_area_maps() {
    let mut elf = Elf::hello();
    let data = elf.load(2);
    let vaddr = elf.u64_at(data + 16);
    elf.set_u64(data + 16, 0x7000_0000 + vaddr % 4096);
    refused_by(
        &["run"],
        &elf,
        "spread-segments",
        "the image's segments span 1794 MiB of addresses; Kiln maps images of at most",
    );
}

#[test]
fn segment_outside_the_image_area() {
    let mut elf = Elf::hello();
    let data = elf.load(2);
    elf.set_u64(data + 16, 0x1_0000_0000_0000);
    refused(&elf, "far-segment", "outside the image area");
}

#[test]
fn segment_below_the_image_base() {
    let mut elf = Elf::hello();
    let text = elf.load(0);
    elf.set_u64(text + 16, 0x1000);
    refused(&elf, "low-segment", "outside the image area");
}

#[test]
fn huge_memsz() {
    let mut elf = Elf::hello();
    let data = elf.load(2);
    elf.set_u64(data + 40, u64::MAX - 0x1000);
    refused(&elf, "huge-memsz", "outside the image area");
}

#[test]
fn filesz_larger_than_memsz() {
    let mut elf = Elf::hello();
    // The memory size shrunk below the file size, so the file range stays
    // inside the file (the data segment's .bss, which holds the console
    // ring, makes its memory size larger than the whole file).
    let data = elf.load(2);
    let filesz = elf.u64_at(data + 32);
    assert!(filesz > 0, "hello's data segment has file contents");
    elf.set_u64(data + 40, filesz - 1);
    refused(&elf, "filesz", "file size exceeds memory size");
}

#[test]
fn overlapping_segments() {
    let mut elf = Elf::hello();
    let (text, rodata) = (elf.load(0), elf.load(1));
    let text_vaddr = elf.u64_at(text + 16);
    elf.set_u64(rodata + 16, text_vaddr);
    refused(&elf, "overlap", "overlap");
}

#[test]
fn entry_outside_any_segment() {
    let mut elf = Elf::hello();
    elf.set_u64(24, 0x50);
    refused(
        &elf,
        "entry",
        "entry point 0x50 is not inside an executable segment",
    );
}

#[test]
fn entry_in_data() {
    let mut elf = Elf::hello();
    let rodata = elf.load(1);
    let vaddr = elf.u64_at(rodata + 16);
    elf.set_u64(24, vaddr);
    refused(&elf, "entry-data", "is not inside an executable segment");
}

#[test]
fn missing_file_and_directory() {
    require_kvm();
    for path in ["/nonexistent/kiln-image", "/"] {
        let run: common::Run = kiln()
            .args(["inspect", path])
            .output()
            .expect("run kiln")
            .into();
        run.assert_clean_error(code::IMAGE, "cannot open");
    }
}

/// Random corruption of the headers, program headers and notes (a fixed
/// seed, so a failure reproduces): every variant either still validates or
/// is refused with the image error, and `run` never panics the monitor,
/// whatever the corrupted image then does as a guest.
#[test]
fn random_header_corruption() {
    require_kvm();
    let good = Elf::hello();
    let note = good.phdrs(PT_NOTE)[0];
    let metadata_end = usize::try_from(good.u64_at(note + 8) + good.u64_at(note + 32))
        .expect("note end fits")
        .max(good.u64_at(32) as usize + usize::from(good.u16_at(56)) * PHDR_SIZE);
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut refused = 0;
    for variant in 0..500 {
        let mut elf = Elf(good.0.clone());
        for _ in 0..1 + next() % 4 {
            let at = (next() % metadata_end as u64) as usize;
            elf.0[at] = next() as u8;
        }
        let path = elf.write(&format!("random-{variant}"));
        let command = if variant % 4 == 0 { "run" } else { "inspect" };
        let run: common::Run = kiln()
            .arg(command)
            .args(["--timeout", "5s"].iter().filter(|_| command == "run"))
            .arg(&path)
            .output()
            .expect("run kiln")
            .into();
        assert!(
            !run.stderr.contains("' panicked at"),
            "variant {variant}: kiln panicked:\n{}",
            run.stderr
        );
        if run.code == code::IMAGE {
            refused += 1;
            assert_eq!(
                run.stderr.lines().count(),
                1,
                "variant {variant}: one error line:\n{}",
                run.stderr
            );
        } else if command == "inspect" {
            assert_eq!(run.code, 0, "variant {variant}:\n{}", run.stderr);
        }
    }
    assert!(
        refused > 0,
        "no corruption was refused: the test corrupts nothing"
    );
}
