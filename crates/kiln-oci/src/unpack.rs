//! Unpacking a Kiln image's program from its layer: from the stored blob,
//! or from the layer's bytes as a pull receives them (so the program is
//! ready when the download ends, without reading the layer a second time).

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;
use std::sync::mpsc::Receiver;

use flate2::read::GzDecoder;

use crate::digest::{Digest, Hashing};
use crate::durable::{create_private_dir, unnamed_file};
use crate::error::{Error, Result};
use crate::store::{BlobWriter, Unpacked};

/// The most an unpacked program may be; a layer that inflates to more is
/// refused rather than filling the disk.
const MAX_PROGRAM: u64 = 1 << 30;

/// The size of the writes that unpack a program.
const COPY_BUFFER: usize = 256 << 10;

/// How a layer is compressed.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Compressed {
    Zstd,
    Gzip,
    No,
}

/// What to unpack from a layer, and where to.
#[derive(Debug)]
pub(crate) struct Target {
    /// How the layer is compressed.
    pub compressed: Compressed,
    /// The program's path in the layer, without a leading `/`.
    pub path: String,
    /// The layer's uncompressed digest (the config's `diff_id`).
    pub diff_id: String,
    /// The directory the program is unpacked into.
    pub dir: PathBuf,
    /// The program's file in it.
    pub elf: PathBuf,
    /// The image, for messages.
    pub reference: String,
}

/// Copies the program out of the compressed layer `input` (read to its
/// end) into an unnamed file, checking the uncompressed digest; the caller
/// checks the compressed one, and names the file once it is synced.
pub(crate) fn extract(input: &mut impl Read, target: &Target) -> Result<Unpacked> {
    let what = || format!("{}: layer", target.reference);
    let broken = |e: io::Error| Error::BadImage(format!("{}: {e}", what()));
    create_private_dir(&target.dir)?;
    let mut program: Option<File> = None;
    let uncompressed_digest = {
        let decoder: Box<dyn Read + '_> = match target.compressed {
            Compressed::Zstd => Box::new(zstd::Decoder::new(&mut *input).map_err(broken)?),
            Compressed::Gzip => Box::new(GzDecoder::new(&mut *input)),
            Compressed::No => Box::new(&mut *input),
        };
        let mut tar_stream = HashingReader::new(decoder);
        {
            let mut archive = tar::Archive::new(&mut tar_stream);
            for entry in archive.entries().map_err(broken)? {
                let mut entry = entry.map_err(broken)?;
                let entry_path = entry.path().map_err(broken)?;
                let normalized = entry_path.to_string_lossy();
                let normalized = normalized.trim_start_matches("./").trim_start_matches('/');
                if program.is_some() || normalized != target.path {
                    continue;
                }
                if entry.header().entry_type() != tar::EntryType::Regular {
                    return Err(Error::BadImage(format!(
                        "{}: /{} in the layer is not a regular file",
                        target.reference, target.path
                    )));
                }
                if entry.size() > MAX_PROGRAM {
                    return Err(Error::BadImage(format!(
                        "{}: /{} is larger than 1 GiB",
                        target.reference, target.path
                    )));
                }
                // Large writes: io::copy's own 8 KiB pieces made the copy
                // of a 1.7 MB program ~210 write calls.
                let mut out = BufWriter::with_capacity(COPY_BUFFER, unnamed_file(&target.dir)?);
                let written = io::copy(&mut entry, &mut out)
                    .and_then(|_| out.into_inner().map_err(io::IntoInnerError::into_error));
                program = Some(written.map_err(Error::io("unpacking into", &target.dir))?);
            }
        }
        // The tar's end-of-archive blocks may leave padding unread.
        io::copy(&mut tar_stream, &mut io::sink()).map_err(broken)?;
        tar_stream.finish()
    };
    // Bytes after the compressed stream count in the layer's digest too.
    io::copy(input, &mut io::sink()).map_err(broken)?;
    if uncompressed_digest.to_string() != target.diff_id {
        return Err(Error::DigestMismatch {
            what: format!("{}: layer's diff_id", target.reference),
            expected: target.diff_id.clone(),
            actual: uncompressed_digest.to_string(),
        });
    }
    let file = program.ok_or_else(|| {
        Error::BadImage(format!(
            "{}: its Entrypoint /{} is not in its layer",
            target.reference, target.path
        ))
    })?;
    Ok(Unpacked {
        file,
        path: target.elf.clone(),
    })
}

/// A reader that hashes what passes.
pub(crate) struct HashingReader<R> {
    inner: R,
    hashing: Hashing<io::Sink>,
}

impl<R: Read> HashingReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self {
            inner,
            hashing: Hashing::new(io::sink()),
        }
    }

    pub(crate) fn finish(self) -> Digest {
        self.hashing.finish().0
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hashing.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// A layer arriving in pieces from a download: read as a stream, and
/// written as read into the blob that will hold it.
pub(crate) struct Arriving {
    pieces: Receiver<bytes::Bytes>,
    current: bytes::Bytes,
    blob: BlobWriter,
}

impl Arriving {
    /// Reads what is sent on `pieces` until its sender is dropped.
    pub(crate) fn new(pieces: Receiver<bytes::Bytes>, blob: BlobWriter) -> Self {
        Self {
            pieces,
            current: bytes::Bytes::new(),
            blob,
        }
    }

    /// The blob, holding every byte read.
    pub(crate) fn into_blob(self) -> BlobWriter {
        self.blob
    }
}

impl Read for Arriving {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.pieces.recv() {
                Ok(piece) => self.current = piece,
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        let piece = self.current.split_to(n);
        self.blob.write_all(&piece)?;
        buf[..n].copy_from_slice(&piece);
        Ok(n)
    }
}
