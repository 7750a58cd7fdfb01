//! Validating a Kiln image before any of it reaches guest memory.
//!
//! An image is a static, non-PIE x86_64 ELF executable linked at
//! [`layout::IMAGE_BASE`] that carries a Kiln ABI-version note. Every check a
//! hostile or broken file could fail is made here, once, so the rest of the
//! monitor works with a [`Image`] whose segments are known to be sane.

use std::ops::Range;
use std::os::unix::fs::MetadataExt;

use kiln_abi::boot::TlsTemplate;
use kiln_abi::{layout, note};
use object::elf;
use object::read::elf::{FileHeader, ProgramHeader};
use object::{Endianness, FileKind};

type Header = elf::FileHeader64<Endianness>;

/// Why a file is not a loadable Kiln image.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImageError {
    /// The file is too short or its headers do not parse.
    #[error("not a valid ELF file: {0}")]
    Malformed(String),
    /// The file is not a 64-bit ELF file.
    #[error("not an ELF64 file")]
    NotElf64,
    /// The ELF file is for another CPU.
    #[error("built for another machine (e_machine {0}), expected x86_64")]
    WrongMachine(u16),
    /// The ELF file is not a static executable.
    #[error("not a static executable (e_type {0}); build it with `kiln build`")]
    NotExecutable(u16),
    /// The image asks for a dynamic loader.
    #[error("dynamically linked (has {0}); Kiln images are static")]
    Dynamic(&'static str),
    /// No Kiln ABI note.
    #[error("no Kiln ABI note: not a Kiln image (build it with `kiln build`)")]
    NoKilnNote,
    /// The Kiln ABI version differs from the monitor's.
    #[error("built for Kiln ABI version {image}, this monitor speaks version {monitor}")]
    AbiMismatch {
        /// The version the image carries.
        image: u32,
        /// The monitor's version.
        monitor: u32,
    },
    /// A Kiln note whose descriptor has the wrong size.
    #[error("malformed Kiln note of type {0}")]
    BadNote(u32),
    /// No loadable segment.
    #[error("no loadable segment")]
    NoSegments,
    /// A segment's file bytes are not inside the file.
    #[error("segment {index}: file range {offset:#x}+{size:#x} lies outside the file")]
    SegmentOutsideFile {
        /// Program-header index.
        index: usize,
        /// `p_offset`.
        offset: u64,
        /// `p_filesz`.
        size: u64,
    },
    /// A segment claims more file bytes than memory bytes.
    #[error("segment {0}: file size exceeds memory size")]
    FileSizeExceedsMemSize(usize),
    /// A segment lies outside the address range images may use.
    #[error(
        "segment {index}: addresses {start:#x}..{end:#x} outside the image area {min:#x}..{max:#x}"
    )]
    SegmentOutOfRange {
        /// Program-header index.
        index: usize,
        /// First address.
        start: u64,
        /// End address (saturated on overflow).
        end: u64,
        /// Lowest allowed address.
        min: u64,
        /// Highest allowed end address.
        max: u64,
    },
    /// Two segments share a page.
    #[error("segments {0} and {1} overlap")]
    Overlap(usize, usize),
    /// A segment's address and file offset disagree modulo the page size.
    #[error("segment {0}: address and file offset are not congruent modulo the page size")]
    Misaligned(usize),
    /// The entry point is not in an executable segment.
    #[error("entry point {0:#x} is not inside an executable segment")]
    BadEntry(u64),
    /// A TLS segment that is not inside a loaded segment, or is oversized.
    #[error("the TLS segment is malformed or not inside a loaded segment")]
    BadTls,
}

/// One loadable segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Guest addresses it occupies (`p_vaddr .. p_vaddr + p_memsz`).
    pub memory: Range<u64>,
    /// Where its initialised bytes are in the file.
    pub file: Range<usize>,
    /// Whether the guest may write it.
    pub writable: bool,
    /// Whether the guest may execute it.
    pub executable: bool,
}

/// A validated Kiln image, borrowing the file's bytes.
#[derive(Debug)]
pub struct Image<'data> {
    /// The whole file.
    pub bytes: &'data [u8],
    /// The file itself, when the image came from one ([`ImageFile::image`]):
    /// its segments are then mapped into guest memory, not copied.
    pub file: Option<std::os::fd::BorrowedFd<'data>>,
    /// The entry point.
    pub entry: u64,
    /// Loadable segments, sorted by address, non-overlapping.
    pub segments: Vec<Segment>,
    /// The ABI version from the image's note.
    pub abi_version: u32,
    /// Address of the trap stub table, if the image provides one.
    pub trap_table: Option<u64>,
    /// Address of the preemption upcall entry, if the image has threads.
    pub upcall: Option<u64>,
    /// Library-OS services compiled into the image.
    pub services: Vec<String>,
    /// The thread-local-storage template (`PT_TLS`), if any, validated to
    /// lie inside a loaded segment; the boot info passes it on as it is.
    pub tls: Option<TlsTemplate>,
}

impl<'data> Image<'data> {
    /// Validates `bytes` as a Kiln image.
    pub fn parse(bytes: &'data [u8]) -> Result<Self, ImageError> {
        let malformed = |e: object::Error| ImageError::Malformed(e.to_string());
        match FileKind::parse(bytes) {
            Ok(FileKind::Elf64) => {}
            Ok(_) => return Err(ImageError::NotElf64),
            Err(_) if bytes.starts_with(&elf::ELFMAG) => {
                return Err(ImageError::Malformed("truncated ELF header".into()));
            }
            Err(_) => return Err(ImageError::NotElf64),
        }
        let header = Header::parse(bytes).map_err(malformed)?;
        let endian = header.endian().map_err(malformed)?;
        let machine = header.e_machine(endian);
        if machine != elf::EM_X86_64 {
            return Err(ImageError::WrongMachine(machine.0));
        }
        let kind = header.e_type(endian);
        if kind != elf::ET_EXEC {
            return Err(ImageError::NotExecutable(kind.0));
        }
        let phdrs = header.program_headers(endian, bytes).map_err(malformed)?;

        let mut segments = Vec::new();
        let mut tls = None;
        let mut notes = Notes::default();
        for (index, phdr) in phdrs.iter().enumerate() {
            match phdr.p_type(endian) {
                elf::PT_LOAD => segments.push(load_segment(index, phdr, endian, bytes)?),
                elf::PT_TLS => {
                    tls = Some(TlsTemplate {
                        start: phdr.p_vaddr(endian),
                        file_size: phdr.p_filesz(endian),
                        mem_size: phdr.p_memsz(endian),
                        align: phdr.p_align(endian).max(1),
                    });
                }
                elf::PT_INTERP => return Err(ImageError::Dynamic("PT_INTERP")),
                elf::PT_DYNAMIC => return Err(ImageError::Dynamic("PT_DYNAMIC")),
                elf::PT_NOTE => {
                    if let Some(mut iter) = phdr.notes(endian, bytes).map_err(malformed)? {
                        while let Some(n) = iter.next().map_err(malformed)? {
                            if n.name() == note::NAME.as_bytes() {
                                notes.add(n.n_type(endian).0, n.desc())?;
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        let abi_version = notes.abi_version.ok_or(ImageError::NoKilnNote)?;
        if abi_version != kiln_abi::ABI_VERSION {
            return Err(ImageError::AbiMismatch {
                image: abi_version,
                monitor: kiln_abi::ABI_VERSION,
            });
        }
        check_no_overlap(&mut segments)?;
        let executable = |a: u64| {
            segments
                .iter()
                .any(|s| s.executable && s.memory.contains(&a))
        };
        let entry = header.e_entry(endian);
        if !executable(entry) {
            return Err(ImageError::BadEntry(entry));
        }
        if let Some(tls) = &tls {
            check_tls(tls, &segments)?;
        }
        if notes.trap_table.is_some_and(|a| !executable(a)) {
            return Err(ImageError::BadNote(note::TRAP_TABLE));
        }
        if notes.upcall.is_some_and(|a| !executable(a)) {
            return Err(ImageError::BadNote(note::UPCALL));
        }
        Ok(Self {
            bytes,
            file: None,
            entry,
            segments,
            abi_version,
            trap_table: notes.trap_table,
            upcall: notes.upcall,
            services: notes.services,
            tls,
        })
    }

    /// First byte of the lowest segment.
    pub fn start(&self) -> u64 {
        self.segments.first().map_or(0, |s| s.memory.start)
    }

    /// One past the last byte of the highest segment.
    pub fn end(&self) -> u64 {
        self.segments.last().map_or(0, |s| s.memory.end)
    }
}

fn load_segment(
    index: usize,
    phdr: &elf::ProgramHeader64<Endianness>,
    endian: Endianness,
    bytes: &[u8],
) -> Result<Segment, ImageError> {
    let (offset, filesz) = (phdr.p_offset(endian), phdr.p_filesz(endian));
    let (vaddr, memsz) = (phdr.p_vaddr(endian), phdr.p_memsz(endian));
    let file_end = offset
        .checked_add(filesz)
        .filter(|end| *end <= bytes.len() as u64)
        .ok_or(ImageError::SegmentOutsideFile {
            index,
            offset,
            size: filesz,
        })?;
    if filesz > memsz {
        return Err(ImageError::FileSizeExceedsMemSize(index));
    }
    let end = vaddr.checked_add(memsz);
    let allowed = layout::IMAGE_BASE..layout::MAX_MEMORY;
    match end {
        Some(end) if vaddr >= allowed.start && end <= allowed.end => {}
        _ => {
            return Err(ImageError::SegmentOutOfRange {
                index,
                start: vaddr,
                end: end.unwrap_or(u64::MAX),
                min: allowed.start,
                max: allowed.end,
            });
        }
    }
    if vaddr % layout::PAGE_SIZE != offset % layout::PAGE_SIZE {
        return Err(ImageError::Misaligned(index));
    }
    let flags = phdr.p_flags(endian);
    // Both bounds were checked against the file length, which fits in usize.
    let file = usize::try_from(offset).map_err(|_| ImageError::Misaligned(index))?
        ..usize::try_from(file_end).map_err(|_| ImageError::Misaligned(index))?;
    Ok(Segment {
        memory: vaddr..vaddr + memsz,
        file,
        writable: flags.contains(elf::PF_W),
        executable: flags.contains(elf::PF_X),
    })
}

/// The template must be initialised data the guest can read from a loaded
/// segment, with a sane size and a power-of-two alignment.
fn check_tls(tls: &TlsTemplate, segments: &[Segment]) -> Result<(), ImageError> {
    let sane = tls.file_size <= tls.mem_size
        && tls.mem_size <= layout::MAX_MEMORY
        && tls.align.is_power_of_two()
        && tls.align <= layout::PAGE_SIZE;
    let end = tls.start.checked_add(tls.file_size);
    let inside = end.is_some_and(|end| {
        tls.file_size == 0
            || segments
                .iter()
                .any(|s| s.memory.start <= tls.start && end <= s.memory.end)
    });
    if sane && inside {
        Ok(())
    } else {
        Err(ImageError::BadTls)
    }
}

/// Segments get page-granular permissions, so two segments may not share a page.
fn check_no_overlap(segments: &mut [Segment]) -> Result<(), ImageError> {
    if segments.is_empty() {
        return Err(ImageError::NoSegments);
    }
    let mut order: Vec<usize> = (0..segments.len()).collect();
    order.sort_by_key(|&i| segments[i].memory.start);
    for pair in order.windows(2) {
        let (a, b) = (&segments[pair[0]], &segments[pair[1]]);
        let a_last_page = layout::align_up(a.memory.end, layout::PAGE_SIZE);
        if a_last_page > b.memory.start - b.memory.start % layout::PAGE_SIZE {
            return Err(ImageError::Overlap(pair[0], pair[1]));
        }
    }
    segments.sort_by_key(|s| s.memory.start);
    Ok(())
}

/// What the image's Kiln notes say.
#[derive(Default)]
struct Notes {
    abi_version: Option<u32>,
    trap_table: Option<u64>,
    upcall: Option<u64>,
    services: Vec<String>,
}

/// A note's little-endian `u64` address (its descriptor's first 8 bytes).
fn address(desc: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(desc.get(..8)?.try_into().ok()?))
}

impl Notes {
    fn add(&mut self, kind: u32, desc: &[u8]) -> Result<(), ImageError> {
        let bad = || ImageError::BadNote(kind);
        match kind {
            note::ABI_VERSION => {
                let bytes = desc.try_into().map_err(|_| bad())?;
                self.abi_version = Some(u32::from_le_bytes(bytes));
            }
            note::TRAP_TABLE => self.trap_table = Some(address(desc).ok_or_else(bad)?),
            note::UPCALL => self.upcall = Some(address(desc).ok_or_else(bad)?),
            note::SERVICE => {
                let name = desc.split(|b| *b == 0).next().unwrap_or_default();
                self.services
                    .push(String::from_utf8_lossy(name).into_owned());
            }
            // Later ABI versions may add notes; an older monitor need not understand them.
            _ => {}
        }
        Ok(())
    }
}

/// An image file mapped read-only: only the pages the loader reads (headers
/// and segments) are touched, not the debug info kept for crash reports.
#[derive(Debug)]
pub struct ImageFile {
    map: memmap2::Mmap,
    id: crate::volume::FileId,
    file: std::fs::File,
}

impl ImageFile {
    /// Maps the file at `path`.
    pub fn open(path: &std::path::Path) -> std::io::Result<Self> {
        let file = std::fs::File::open(path)?;
        let metadata = file.metadata()?;
        if metadata.is_dir() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::IsADirectory,
                "is a directory",
            ));
        }
        // SAFETY: the mapping is private and read-only. Kiln images are build
        // outputs; if another process truncates the file while it is mapped,
        // reads past the new end would fault, a risk every mmap-based loader
        // (ld.so included) accepts for speed. The guest itself cannot, even
        // with the file in one of its volumes: the monitor refuses to open
        // it for writing (`Volumes::protect`, given `ImageFile::id`).
        let map = unsafe { memmap2::Mmap::map(&file)? };
        let id = crate::volume::FileId {
            dev: metadata.dev(),
            ino: metadata.ino(),
        };
        Ok(Self { map, id, file })
    }

    /// The validated image, its segments to be mapped from the file.
    pub fn image(&self) -> Result<Image<'_>, ImageError> {
        use std::os::fd::AsFd;
        Image::parse(&self.map).map(|image| Image {
            file: Some(self.file.as_fd()),
            ..image
        })
    }

    /// The file's identity, for [`crate::VmConfig::image_file`].
    pub fn id(&self) -> crate::volume::FileId {
        self.id
    }

    /// The file's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.map
    }
}
