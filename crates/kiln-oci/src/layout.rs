//! OCI image layout archives: what `kiln save` writes and `kiln load`
//! reads, and what `ctr image import`, `skopeo` and `podman load` accept.
//!
//! The archive is a tar of an image layout (`oci-layout`, `index.json`,
//! `blobs/sha256/…`). Each image in the index is named twice, as Docker's
//! own `docker save` does: `io.containerd.image.name` holds the full
//! reference (containerd names the imported image by it) and
//! `org.opencontainers.image.ref.name` the tag.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use oci_spec::image::{ANNOTATION_REF_NAME, Descriptor, MediaType};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::format::{blob_digest, stored};
use crate::reference;
use crate::store::{LAYOUT_FILE, Store, Tag, empty_index, parse_index};

/// containerd's annotation for an image's full name.
const CONTAINERD_NAME: &str = "io.containerd.image.name";

/// Writes the images `tags` name, with every blob they need, as an image
/// layout archive.
pub fn save(store: &Store, tags: &[Tag], out: impl Write) -> Result<()> {
    let mut blobs = BTreeSet::new();
    let mut manifests = Vec::new();
    for tag in tags {
        let manifest = store.manifest(&tag.manifest)?;
        blobs.insert(tag.manifest.clone());
        for descriptor in std::iter::once(manifest.config()).chain(manifest.layers()) {
            blobs.insert(blob_digest(descriptor, &tag.reference)?);
        }
        let short_tag = tag.reference.rsplit_once(':').map_or("latest", |(_, t)| t);
        let mut descriptor =
            Descriptor::new(MediaType::ImageManifest, tag.size, tag.manifest.to_oci());
        descriptor.set_annotations(Some(HashMap::from([
            (CONTAINERD_NAME.to_string(), tag.reference.clone()),
            (ANNOTATION_REF_NAME.to_string(), short_tag.to_string()),
        ])));
        manifests.push(descriptor);
    }
    let index = serde_json::to_vec(&empty_index(manifests)).expect("an index serializes");
    let mut archive = tar::Builder::new(out);
    let failed = |e| Error::io("writing the archive of", store.root())(e);
    append_file(&mut archive, "oci-layout", LAYOUT_FILE.as_bytes()).map_err(failed)?;
    for dir in ["blobs/", "blobs/sha256/"] {
        append(&mut archive, dir, tar::EntryType::Directory, 0o755, &[]).map_err(failed)?;
    }
    for digest in &blobs {
        let path = store.blob_path(digest);
        let mut file = File::open(&path).map_err(Error::io("reading", &path))?;
        let size = file.metadata().map_err(Error::io("reading", &path))?.len();
        let mut header = header(tar::EntryType::Regular, 0o644, size);
        archive
            .append_data(
                &mut header,
                format!("blobs/sha256/{}", digest.hex()),
                &mut file,
            )
            .map_err(failed)?;
    }
    append_file(&mut archive, "index.json", &index).map_err(failed)?;
    archive
        .into_inner()
        .and_then(|mut out| out.flush())
        .map_err(failed)
}

/// A header with fixed owner and time: saving the same images twice gives
/// the same archive.
fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    header.set_mtime(0);
    header
}

fn append_file(archive: &mut tar::Builder<impl Write>, name: &str, bytes: &[u8]) -> io::Result<()> {
    append(archive, name, tar::EntryType::Regular, 0o644, bytes)
}

fn append(
    archive: &mut tar::Builder<impl Write>,
    name: &str,
    kind: tar::EntryType,
    mode: u32,
    bytes: &[u8],
) -> io::Result<()> {
    archive.append_data(&mut header(kind, mode, bytes.len() as u64), name, bytes)
}

/// Reads an image layout archive (from `path`, for messages) into the
/// store: every blob is checked against its name before it enters, and
/// every image must be a Kiln image for ABI `abi`. Returns the tags set.
pub fn load(store: &Store, input: impl Read, path: &Path, abi: u32) -> Result<Vec<Tag>> {
    let mut archive = tar::Archive::new(input);
    let mut index = None;
    let mut saw_layout = false;
    let entries = archive.entries().map_err(Error::io("reading", path))?;
    for entry in entries {
        let mut entry = entry.map_err(Error::io("reading", path))?;
        let name = entry
            .path()
            .map_err(Error::io("reading", path))?
            .to_string_lossy()
            .into_owned();
        let name = name.trim_start_matches("./");
        if entry.header().entry_type().is_dir() {
            continue;
        }
        if name == "oci-layout" {
            saw_layout = true;
        } else if name == "index.json" {
            index = Some(parse_index(&mut entry, path)?);
        } else if let Some(hex) = name.strip_prefix("blobs/sha256/") {
            let expected: Digest = format!("sha256:{hex}")
                .parse()
                .map_err(|e| Error::BadImage(format!("{}: {name}: {e}", path.display())))?;
            let mut blob = store.new_blob()?;
            io::copy(&mut entry, &mut blob).map_err(Error::io("reading", path))?;
            blob.commit(Some(&expected), &format!("{}: {name}", path.display()))?;
        }
    }
    let not_layout = |what: &str| {
        Error::BadImage(format!(
            "{} is not an OCI image layout archive ({what})",
            path.display()
        ))
    };
    if !saw_layout {
        return Err(not_layout("no oci-layout file"));
    }
    let index = index.ok_or_else(|| not_layout("no index.json"))?;
    let mut tags = Vec::new();
    for descriptor in index.manifests() {
        let annotations = descriptor.annotations().clone().unwrap_or_default();
        let name = annotations
            .get(CONTAINERD_NAME)
            .or_else(|| annotations.get(ANNOTATION_REF_NAME))
            .ok_or_else(|| not_layout("an image without a name"))?;
        let reference = reference::parse(name)?.whole();
        let digest = Digest::from_oci(descriptor.digest())
            .map_err(|e| Error::BadImage(format!("{}: {e}", path.display())))?;
        let manifest = store.manifest(&digest).map_err(|_| {
            not_layout(&format!(
                "the manifest of {reference} is missing or damaged"
            ))
        })?;
        let layer = stored(store, &manifest, &reference, abi)?.layer;
        if !store.has_blob(&layer) {
            return Err(not_layout(&format!("the layer of {reference} is missing")));
        }
        let size = descriptor.size();
        store.set_tag(&reference, &digest, size)?;
        tags.push(Tag {
            reference,
            manifest: digest,
            size,
        });
    }
    Ok(tags)
}
