//! The local image store: an OCI image layout under the state directory.
//!
//! `<state>/images` is itself a valid OCI image layout (`oci-layout`,
//! `index.json`, `blobs/sha256/<hex>`), so what is stored is exactly what
//! `kiln save` writes and `kiln load`, registries and other tools read.
//! Tagged manifests are the index's entries, each named by the
//! `org.opencontainers.image.ref.name` annotation holding the full
//! reference (`docker.io/library/app:latest`).
//!
//! Crash safety: a blob enters the store only whole and verified. It is
//! written to an unnamed file (`O_TMPFILE`), hashed on the way, synced and
//! only then linked under its digest; a killed pull leaves nothing behind.
//! `index.json` is replaced by an atomic rename under `index.lock`, after
//! the blobs it names are durable. An image arriving whole (a pull) enters
//! with three waits for the disk ([`Store::admit`]): its files synced
//! together, then their directory, then the index. Every
//! process using the store holds `gc.lock` shared; garbage collection
//! (after `kiln rmi`) runs only when it can take that lock alone, so it
//! never removes a blob another process has just written but not tagged.

use std::collections::{BTreeSet, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use oci_spec::image::{
    ANNOTATION_REF_NAME, Descriptor, ImageIndex, ImageIndexBuilder, ImageManifest, MediaType,
};

use crate::digest::{Digest, Hashing};
use crate::durable::{self, create_private_dir, link_unnamed, sync_dirs, unnamed_file};
use crate::error::{Error, Result};

/// The most a manifest, config or index Kiln reads may be (the distribution
/// spec's guidance for what registries should accept).
pub const MAX_METADATA: u64 = 4 << 20;

/// What an `oci-layout` file says.
pub const LAYOUT_FILE: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;

/// The local image store.
pub struct Store {
    root: PathBuf,
    // Held shared for the store's lifetime: see the module comment.
    gc_lock: File,
    // Directories this process created, whose entries must be synced in
    // their parents before anything in them counts as stored.
    created: Vec<PathBuf>,
}

/// A reference in the store and the manifest it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tag {
    /// The full reference, e.g. `localhost:5000/app:v1`.
    pub reference: String,
    /// The manifest's digest.
    pub manifest: Digest,
    /// The manifest's size in bytes.
    pub size: u64,
}

impl Store {
    /// Opens (creating if needed) the store at `root`.
    pub fn open(root: &Path) -> Result<Self> {
        let blobs = root.join("blobs/sha256");
        let created = if blobs.is_dir() {
            Vec::new()
        } else {
            create_private_dir(&blobs)?;
            // What holds the new entries `images`, `blobs` and `sha256`.
            let state = root.parent().unwrap_or(Path::new("."));
            vec![state.to_path_buf(), root.join("blobs")]
        };
        // The layout file is a constant, checked here at every open and
        // rewritten if a crash left it short: so it needs no sync of its own
        // (the index's directory sync makes its name durable).
        let layout = root.join("oci-layout");
        if fs::read(&layout).ok().as_deref() != Some(LAYOUT_FILE.as_bytes()) {
            durable::stage(&layout, LAYOUT_FILE.as_bytes(), 0o600)?.replace(false)?;
        }
        let gc_path = root.join("gc.lock");
        let gc_lock = lock_file(&gc_path)?;
        gc_lock
            .lock_shared()
            .map_err(Error::io("locking", &gc_path))?;
        Ok(Self {
            root: root.to_path_buf(),
            gc_lock,
            created,
        })
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob `digest` is (or would be).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    /// Whether the store holds the blob.
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Reads a whole blob of at most `limit` bytes, checking its digest
    /// (a blob changed on disk is reported, not used).
    pub fn read_blob(&self, digest: &Digest, limit: u64) -> Result<Vec<u8>> {
        let path = self.blob_path(digest);
        let file = File::open(&path).map_err(Error::io("reading", &path))?;
        read_verified(file, digest, limit, &path)
    }

    /// Stores `bytes` and returns their digest.
    pub fn add_blob(&self, bytes: &[u8]) -> Result<Digest> {
        let mut writer = self.new_blob()?;
        writer
            .write_all(bytes)
            .map_err(Error::io("writing a blob in", &self.root))?;
        Ok(writer.commit(None, "blob")?.0)
    }

    /// A writer for a new blob, which enters the store at
    /// [`BlobWriter::commit`] and not before.
    pub fn new_blob(&self) -> Result<BlobWriter> {
        let dir = self.root.join("blobs/sha256");
        let file = unnamed_file(&dir)?;
        Ok(BlobWriter {
            dir,
            writer: Hashing::new(file),
        })
    }

    /// Every tagged reference, in the index's order.
    pub fn tags(&self) -> Result<Vec<Tag>> {
        let index = self.read_index()?;
        Ok(index.manifests().iter().filter_map(tag_of).collect())
    }

    /// The manifest `reference` names, if any.
    pub fn find(&self, reference: &str) -> Result<Option<Tag>> {
        Ok(self
            .tags()?
            .into_iter()
            .find(|tag| tag.reference == reference))
    }

    /// Points `reference` at the manifest `digest` (replacing what it named).
    pub fn set_tag(&self, reference: &str, manifest: &Digest, size: u64) -> Result<()> {
        self.change_index(|manifests| retag(manifests, reference, manifest, size))
    }

    /// Stores a whole image at once: its `blobs`, the `program` unpacked
    /// from its layer, and `tag` pointing at its manifest. The files are
    /// synced together, then named, then their directory is synced, and
    /// only then does the tag appear: three waits for the disk instead of
    /// two per file. Until it returns, a crash leaves no trace a later run
    /// could use.
    pub fn admit(&self, blobs: Vec<NewBlob>, program: Option<Unpacked>, tag: &Tag) -> Result<()> {
        let _lock = self.lock_index()?;
        let mut manifests = self.read_index()?.manifests().clone();
        retag(&mut manifests, &tag.reference, &tag.manifest, tag.size);
        let index = self.stage_index(manifests)?;
        let mut files: Vec<&File> = blobs.iter().map(|blob| &blob.file).collect();
        files.push(index.file());
        files.extend(program.as_ref().map(|p| &p.file));
        durable::sync_together(&files, &self.root)?;
        for blob in &blobs {
            link_unnamed(&blob.file, &self.blob_path(&blob.digest))?;
        }
        let blob_dir = self.root.join("blobs/sha256");
        let mut dirs = vec![blob_dir.as_path()];
        dirs.extend(self.created.iter().map(PathBuf::as_path));
        sync_dirs(&dirs)?;
        // An unpacked program is a cache of the layer: its name needs no
        // sync (a run unpacks it again if a crash lost it), but its bytes,
        // synced above, must be whole before it has one.
        if let Some(program) = &program {
            link_unnamed(&program.file, &program.path)?;
        }
        index.replace(true)
    }

    /// Removes `reference`; returns the tag it was, or `None` if absent.
    pub fn remove_tag(&self, reference: &str) -> Result<Option<Tag>> {
        let mut removed = None;
        self.change_index(|manifests| {
            manifests.retain(|d| match tag_of(d) {
                Some(tag) if tag.reference == reference => {
                    removed = Some(tag);
                    false
                }
                _ => true,
            });
        })?;
        Ok(removed)
    }

    /// Reads the image manifest `digest`, whose every blob must be in the
    /// store for the image to be usable.
    pub fn manifest(&self, digest: &Digest) -> Result<ImageManifest> {
        let bytes = self.read_blob(digest, MAX_METADATA)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::BadImage(format!("manifest {digest}: {e}")))
    }

    /// Removes the blobs no tagged manifest reaches, and the programs
    /// unpacked from layers that went with them, unless another kiln process
    /// has the store open (then the next collection does it). Returns how
    /// many blobs were removed. (An instance still running a removed program
    /// keeps its open file; restarting it needs the image again.)
    pub fn collect_garbage(&self) -> Result<usize> {
        let gc_path = self.root.join("gc.lock");
        // Trading our shared lock for an exclusive one is not atomic; a
        // process that opens the store in between makes the try fail, and
        // we simply collect nothing.
        self.gc_lock
            .unlock()
            .map_err(Error::io("unlocking", &gc_path))?;
        let exclusive = self.gc_lock.try_lock();
        let removed = match exclusive {
            Ok(()) => self.remove_unreachable(),
            Err(_) => Ok(0),
        };
        self.gc_lock
            .lock_shared()
            .map_err(Error::io("locking", &gc_path))?;
        removed
    }

    fn remove_unreachable(&self) -> Result<usize> {
        let mut keep = BTreeSet::new();
        for tag in self.tags()? {
            keep.insert(tag.manifest.hex().to_string());
            if let Ok(manifest) = self.manifest(&tag.manifest) {
                let blobs = std::iter::once(manifest.config()).chain(manifest.layers());
                keep.extend(blobs.map(|d| d.digest().digest().to_string()));
            }
        }
        // Programs unpacked from layers no image has any more.
        let unpacked = self.root.join("unpacked");
        for entry in fs::read_dir(&unpacked).into_iter().flatten().flatten() {
            if !keep.contains(entry.file_name().to_string_lossy().as_ref()) {
                fs::remove_dir_all(entry.path()).map_err(Error::io("removing", &entry.path()))?;
            }
        }
        let dir = self.root.join("blobs/sha256");
        let mut removed = 0;
        for entry in fs::read_dir(&dir).map_err(Error::io("listing", &dir))? {
            let entry = entry.map_err(Error::io("listing", &dir))?;
            let name = entry.file_name();
            if !keep.contains(name.to_string_lossy().as_ref()) {
                fs::remove_file(entry.path()).map_err(Error::io("removing", &entry.path()))?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    fn index_path(&self) -> PathBuf {
        self.root.join("index.json")
    }

    fn read_index(&self) -> Result<ImageIndex> {
        let path = self.index_path();
        match File::open(&path) {
            Ok(file) => parse_index(file, &path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(empty_index(Vec::new())),
            Err(e) => Err(Error::io("reading", &path)(e)),
        }
    }

    /// `index.lock`, held (exclusively) while the returned file is open.
    fn lock_index(&self) -> Result<File> {
        let lock_path = self.root.join("index.lock");
        let lock = lock_file(&lock_path)?;
        lock.lock().map_err(Error::io("locking", &lock_path))?;
        Ok(lock)
    }

    fn stage_index(&self, manifests: Vec<Descriptor>) -> Result<durable::Staged> {
        let json = serde_json::to_vec_pretty(&empty_index(manifests))
            .map_err(|e| Error::BadImage(format!("index: {e}")))?;
        durable::stage(&self.index_path(), &json, 0o600)
    }

    fn change_index(&self, change: impl FnOnce(&mut Vec<Descriptor>)) -> Result<()> {
        let _lock = self.lock_index()?;
        let mut manifests = self.read_index()?.manifests().clone();
        change(&mut manifests);
        let index = self.stage_index(manifests)?;
        index
            .file()
            .sync_all()
            .map_err(Error::io("writing", &self.index_path()))?;
        if !self.created.is_empty() {
            let dirs: Vec<&Path> = self.created.iter().map(PathBuf::as_path).collect();
            sync_dirs(&dirs)?;
        }
        index.replace(true)
    }
}

/// Makes `reference` name `manifest` among an index's `manifests`.
fn retag(manifests: &mut Vec<Descriptor>, reference: &str, manifest: &Digest, size: u64) {
    manifests.retain(|d| tag_of(d).is_none_or(|t| t.reference != reference));
    let mut descriptor = Descriptor::new(MediaType::ImageManifest, size, manifest.to_oci());
    descriptor.set_annotations(Some(HashMap::from([(
        ANNOTATION_REF_NAME.to_string(),
        reference.to_string(),
    )])));
    manifests.push(descriptor);
}

/// A blob written and checked, not yet in the store: see [`Store::admit`].
pub struct NewBlob {
    file: File,
    digest: Digest,
}

/// A program unpacked from a layer into an unnamed file, and the name it
/// gets in the store.
pub struct Unpacked {
    pub(crate) file: File,
    pub(crate) path: PathBuf,
}

/// A blob being written; see [`Store::new_blob`].
pub struct BlobWriter {
    dir: PathBuf,
    writer: Hashing<File>,
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.writer.len()
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Puts the blob in the store under its digest, if it is `expected`
    /// (or anything, with `None`); otherwise it is dropped and never seen.
    /// Returns its digest and size.
    pub fn commit(self, expected: Option<&Digest>, what: &str) -> Result<(Digest, u64)> {
        let dir = self.dir.clone();
        let size = self.len();
        let blob = self.finish(expected, what)?;
        blob.file
            .sync_all()
            .map_err(Error::io("syncing a blob in", &dir))?;
        link_unnamed(&blob.file, &dir.join(blob.digest.hex()))?;
        sync_dirs(&[&dir])?;
        Ok((blob.digest, size))
    }

    /// The blob, if it is `expected` (or anything, with `None`), to store
    /// with others through [`Store::admit`]; otherwise it is dropped and
    /// never seen.
    pub fn finish(self, expected: Option<&Digest>, what: &str) -> Result<NewBlob> {
        let (digest, _, file) = self.writer.finish();
        if let Some(expected) = expected
            && *expected != digest
        {
            return Err(Error::DigestMismatch {
                what: what.to_string(),
                expected: expected.to_string(),
                actual: digest.to_string(),
            });
        }
        Ok(NewBlob { file, digest })
    }
}

/// Reads at most `limit` bytes of `reader` and checks they are `digest`.
pub fn read_verified(
    reader: impl Read,
    digest: &Digest,
    limit: u64,
    path: &Path,
) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(Error::io("reading", path))?;
    if bytes.len() as u64 > limit {
        return Err(Error::BadImage(format!(
            "{}: larger than the {} MiB Kiln reads",
            path.display(),
            limit >> 20
        )));
    }
    let actual = Digest::of(&bytes);
    if actual != *digest {
        return Err(Error::DigestMismatch {
            what: path.display().to_string(),
            expected: digest.to_string(),
            actual: actual.to_string(),
        });
    }
    Ok(bytes)
}

fn tag_of(descriptor: &Descriptor) -> Option<Tag> {
    let reference = descriptor
        .annotations()
        .as_ref()?
        .get(ANNOTATION_REF_NAME)?;
    Some(Tag {
        reference: reference.clone(),
        manifest: Digest::from_oci(descriptor.digest()).ok()?,
        size: descriptor.size(),
    })
}

/// Parses an `index.json` (at `path`, for messages).
pub fn parse_index(reader: impl Read, path: &Path) -> Result<ImageIndex> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_METADATA + 1)
        .read_to_end(&mut bytes)
        .map_err(Error::io("reading", path))?;
    if bytes.len() as u64 > MAX_METADATA {
        return Err(Error::BadImage(format!(
            "{}: larger than 4 MiB",
            path.display()
        )));
    }
    serde_json::from_slice(&bytes).map_err(|e| Error::BadImage(format!("{}: {e}", path.display())))
}

/// An index listing `manifests`.
pub fn empty_index(manifests: Vec<Descriptor>) -> ImageIndex {
    ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(manifests)
        .build()
        .expect("every required field is set")
}

fn lock_file(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(path)
        .map_err(Error::io("opening", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_store(name: &str) -> (PathBuf, Store) {
        let dir = std::env::temp_dir().join(format!("kiln-store-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let store = Store::open(&dir).expect("open a store");
        (dir, store)
    }

    #[test]
    fn a_blob_enters_only_under_the_digest_it_was_asked_by() {
        let (dir, store) = temp_store("mismatch");
        let mut blob = store.new_blob().expect("new blob");
        blob.write_all(b"hello").expect("write");
        let wrong = Digest::of(b"other");
        let error = blob.commit(Some(&wrong), "test blob").expect_err("refused");
        assert!(error.to_string().contains("digest mismatch"), "{error}");
        assert!(!store.has_blob(&Digest::of(b"hello")));
        assert_eq!(
            fs::read_dir(dir.join("blobs/sha256"))
                .expect("list")
                .count(),
            0
        );
        let digest = store.add_blob(b"hello").expect("store");
        assert_eq!(store.read_blob(&digest, 5).expect("read"), b"hello");
        fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn oversize_and_damaged_metadata_is_refused() {
        let (dir, store) = temp_store("oversize");
        let big = vec![b' '; (MAX_METADATA + 1) as usize];
        let error = parse_index(big.as_slice(), Path::new("index.json")).expect_err("refused");
        assert!(error.to_string().contains("larger than 4 MiB"), "{error}");
        let digest = store.add_blob(b"{}").expect("store");
        fs::write(store.blob_path(&digest), b"{ }").expect("damage the blob");
        let error = store.read_blob(&digest, MAX_METADATA).expect_err("refused");
        assert!(error.to_string().contains("digest mismatch"), "{error}");
        fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn tags_move_and_garbage_goes() {
        let (dir, store) = temp_store("tags");
        let first = store.add_blob(b"first").expect("store");
        let second = store.add_blob(b"second").expect("store");
        store
            .set_tag("docker.io/library/a:v1", &first, 5)
            .expect("tag");
        store
            .set_tag("docker.io/library/a:v1", &second, 6)
            .expect("retag");
        let tags = store.tags().expect("tags");
        assert_eq!(tags.len(), 1);
        assert_eq!(tags[0].manifest, second);
        // `second` is not a manifest: collection keeps the tagged blob itself.
        assert_eq!(store.collect_garbage().expect("collect"), 1);
        assert!(store.has_blob(&second) && !store.has_blob(&first));
        assert!(
            store
                .remove_tag("docker.io/library/a:v1")
                .expect("remove")
                .is_some()
        );
        assert_eq!(store.collect_garbage().expect("collect"), 1);
        fs::remove_dir_all(&dir).expect("clean up");
    }
}
