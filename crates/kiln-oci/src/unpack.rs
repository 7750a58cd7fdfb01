//! Unpacking a Kiln image's program from its layer: from the stored blob,
//! or from the layer's bytes as a pull receives them (so the program is
//! ready when the download ends, without reading the layer a second time).

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
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

/// A layer to unpack a program from, as its manifest describes it.
#[derive(Debug)]
pub(crate) struct Layer {
    /// How the layer is compressed.
    pub compressed: Compressed,
    /// The directory its program is unpacked into.
    pub dir: PathBuf,
    /// The image, for messages.
    pub reference: String,
}

/// Which file of the layer is the program, as the image's config says.
#[derive(Debug)]
pub(crate) struct Program {
    /// Its path in the layer, without a leading `/`.
    pub path: String,
    /// The layer's uncompressed digest (the config's `diff_id`).
    pub diff_id: String,
    /// The file it is unpacked to.
    pub elf: PathBuf,
}

/// The [`Program`], known now or sent once the config arrives.
pub(crate) enum Told {
    Now(Program),
    Later(Receiver<Program>),
}

impl Told {
    /// The program, if known yet.
    fn now(&mut self) -> Option<&Program> {
        if let Told::Later(told) = self
            && let Ok(program) = told.try_recv()
        {
            *self = Told::Now(program);
        }
        match self {
            Told::Now(program) => Some(program),
            Told::Later(_) => None,
        }
    }

    /// The program, waiting for it if needed (failing if it never comes).
    fn wait(&mut self) -> Result<&Program> {
        if let Told::Later(told) = self {
            let program = told
                .recv()
                .map_err(|_| Error::BadImage("the pull ended before its config".into()))?;
            *self = Told::Now(program);
        }
        match self {
            Told::Now(program) => Ok(program),
            Told::Later(_) => unreachable!("just told"),
        }
    }
}

/// Copies the program out of the compressed `layer` read from `input` (to
/// its end) into an unnamed file, checking the uncompressed digest; the
/// caller checks the compressed one, and names the file once it is synced.
///
/// While which file is the program is not known yet (a pull fetching the
/// config and the layer at once), the first regular file is unpacked on the
/// chance it is (a Kiln layer holds just that one), so decompression starts
/// with the first bytes; any other entry waits for the answer.
pub(crate) fn extract(input: &mut impl Read, layer: &Layer, mut told: Told) -> Result<Unpacked> {
    let broken = |e: io::Error| Error::BadImage(format!("{}: layer: {e}", layer.reference));
    create_private_dir(&layer.dir)?;
    let mut program: Option<File> = None;
    // The first regular file, unpacked before the program was known.
    let mut guess: Option<(String, File)> = None;
    let uncompressed_digest = {
        let decoder: Box<dyn Read + '_> = match layer.compressed {
            Compressed::Zstd => Box::new(zstd::Decoder::new(&mut *input).map_err(broken)?),
            Compressed::Gzip => Box::new(GzDecoder::new(&mut *input)),
            Compressed::No => Box::new(&mut *input),
        };
        let mut tar_stream = HashingReader::new(decoder);
        {
            let mut archive = tar::Archive::new(&mut tar_stream);
            for entry in archive.entries().map_err(broken)? {
                let mut entry = entry.map_err(broken)?;
                let name = entry.path().map_err(broken)?;
                let name = name.to_string_lossy();
                let name = name
                    .trim_start_matches("./")
                    .trim_start_matches('/')
                    .to_string();
                let regular = entry.header().entry_type() == tar::EntryType::Regular;
                let guessing = guess.is_none() && regular && entry.size() <= MAX_PROGRAM;
                let known = match (guessing, told.now()) {
                    (_, Some(known)) => known,
                    (true, None) => {
                        guess = Some((name, copy_out(&mut entry, &layer.dir)?));
                        continue;
                    }
                    (false, None) => told.wait()?,
                };
                if program.is_none()
                    && let Some((guessed, _)) = &guess
                    && *guessed == known.path
                {
                    program = guess.take().map(|(_, file)| file);
                }
                if program.is_some() || name != known.path {
                    continue;
                }
                if !regular {
                    return Err(Error::BadImage(format!(
                        "{}: /{} in the layer is not a regular file",
                        layer.reference, known.path
                    )));
                }
                if entry.size() > MAX_PROGRAM {
                    return Err(Error::BadImage(format!(
                        "{}: /{} is larger than 1 GiB",
                        layer.reference, known.path
                    )));
                }
                program = Some(copy_out(&mut entry, &layer.dir)?);
            }
        }
        // The tar's end-of-archive blocks may leave padding unread.
        io::copy(&mut tar_stream, &mut io::sink()).map_err(broken)?;
        tar_stream.finish()
    };
    // Bytes after the compressed stream count in the layer's digest too.
    io::copy(input, &mut io::sink()).map_err(broken)?;
    let known = told.wait()?;
    if program.is_none()
        && let Some((guessed, file)) = guess
        && guessed == known.path
    {
        program = Some(file);
    }
    if uncompressed_digest.to_string() != known.diff_id {
        return Err(Error::DigestMismatch {
            what: format!("{}: layer's diff_id", layer.reference),
            expected: known.diff_id.clone(),
            actual: uncompressed_digest.to_string(),
        });
    }
    let file = program.ok_or_else(|| {
        Error::BadImage(format!(
            "{}: its Entrypoint /{} is not in its layer",
            layer.reference, known.path
        ))
    })?;
    Ok(Unpacked {
        file,
        path: known.elf.clone(),
    })
}

/// A tar entry's bytes, copied into a new unnamed file in `dir`.
fn copy_out(entry: &mut impl Read, dir: &Path) -> Result<File> {
    // Large writes: io::copy's own 8 KiB pieces made the copy of a 1.7 MB
    // program ~210 write calls.
    let mut out = BufWriter::with_capacity(COPY_BUFFER, unnamed_file(dir)?);
    let written = io::copy(entry, &mut out)
        .and_then(|_| out.into_inner().map_err(io::IntoInnerError::into_error));
    written.map_err(Error::io("unpacking into", dir))
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

#[cfg(test)]
mod tests {
    use std::io::{Seek, SeekFrom};
    use std::sync::mpsc::{Sender, channel};

    use super::*;

    /// A tar of `files`, uncompressed, and its digest.
    fn tar_of(files: &[(&str, &[u8])]) -> (Vec<u8>, Digest) {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, bytes) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o755);
            header.set_cksum();
            builder
                .append_data(&mut header, name, *bytes)
                .expect("append");
        }
        let tar = builder.into_inner().expect("tar");
        let digest = Digest::of(&tar);
        (tar, digest)
    }

    /// Reads `bytes`, and tells the program once `after` of them are read:
    /// as a config arriving while the layer does.
    struct TellingAfter<'a> {
        bytes: &'a [u8],
        read: usize,
        after: usize,
        tell: Option<(Sender<Program>, Program)>,
    }

    impl Read for TellingAfter<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.read >= self.after
                && let Some((sender, program)) = self.tell.take()
            {
                sender.send(program).expect("send");
            }
            let n = buf.len().min(self.bytes.len() - self.read).min(512);
            buf[..n].copy_from_slice(&self.bytes[self.read..self.read + n]);
            self.read += n;
            Ok(n)
        }
    }

    fn unpack_told_late(files: &[(&str, &[u8])], path: &str, dir: &str) -> Result<Vec<u8>> {
        let (tar, diff_id) = tar_of(files);
        let dir = std::env::temp_dir().join(format!("kiln-unpack-{dir}-{}", std::process::id()));
        let (sender, receiver) = channel();
        let program = Program {
            path: path.to_string(),
            diff_id: diff_id.to_string(),
            elf: dir.join("program"),
        };
        // Told as the second entry's header is read: after the first entry
        // (a header and one block of data).
        let mut input = TellingAfter {
            bytes: &tar,
            read: 0,
            after: 1024,
            tell: Some((sender, program)),
        };
        let layer = Layer {
            compressed: Compressed::No,
            dir: dir.clone(),
            reference: "test".into(),
        };
        let result = extract(&mut input, &layer, Told::Later(receiver)).map(|unpacked| {
            let mut file = unpacked.file;
            let mut bytes = Vec::new();
            file.seek(SeekFrom::Start(0)).expect("seek");
            file.read_to_end(&mut bytes).expect("read back");
            bytes
        });
        std::fs::remove_dir_all(&dir).expect("clean up");
        result
    }

    #[test]
    fn a_program_named_late_is_the_guess_or_a_later_entry() {
        // Each file fits one 512-byte block.
        let files: &[(&str, &[u8])] = &[("first", b"guessed"), ("second", b"named")];
        assert_eq!(
            unpack_told_late(files, "first", "guess").expect("unpacks"),
            b"guessed"
        );
        assert_eq!(
            unpack_told_late(files, "second", "later").expect("unpacks"),
            b"named"
        );
        let error = unpack_told_late(files, "third", "missing").expect_err("refused");
        assert!(error.to_string().contains("not in its layer"), "{error}");
    }
}
