//! The Kiln image format: a standard OCI image whose one layer holds the
//! Kiln ELF as a file, and whose config says how to run it.
//!
//! An orchestrator unpacks it like any image (the ELF is `/<program>` in the
//! root filesystem, and `Entrypoint` names it); Kiln reads what `kiln run`
//! needs from standard fields where they exist (`Entrypoint`, `Cmd`, `Env`,
//! `ExposedPorts`) and from labels otherwise (the ABI version, the memory
//! limit). The ABI version is also a manifest annotation, so a runtime can
//! refuse an image before fetching its layer.
//!
//! Layers are zstd-compressed tars (OCI's `tar+zstd`, which containerd,
//! Docker, podman and registries take); gzip and plain layers, which other
//! tools may convert an image to, are read too. Layers are reproducible
//! (fixed owner, mode and time), so rebuilding an unchanged program gives
//! the same layer and a registry is not sent it again.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use oci_spec::image::{
    Arch, ConfigBuilder, Descriptor, HistoryBuilder, ImageConfiguration, ImageConfigurationBuilder,
    ImageManifest, ImageManifestBuilder, MediaType, Os, RootFsBuilder,
};

use crate::digest::{Digest, Hashing};
use crate::durable::link_unnamed;
use crate::error::{Error, Result};
use crate::store::{MAX_METADATA, Store, Tag};
use crate::unpack::{Compressed, HashingReader, Layer, Program, Told, extract};

/// The label and manifest annotation with the Kiln ABI version the ELF needs.
pub const ABI_LABEL: &str = "dev.kiln.abi-version";
/// The label with the guest memory limit in bytes, when the image sets one.
pub const MEMORY_LABEL: &str = "dev.kiln.memory";

/// Docker's names for the same formats, which registries and tools still
/// convert OCI images to.
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// zstd's level for layers: near its best ratio; an image is compressed
/// once and pulled many times.
const LAYER_ZSTD_LEVEL: i32 = 19;

/// How to run the program, as an image records it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    /// The program's name: its file in the root filesystem and its `argv[0]`.
    pub name: String,
    /// Default arguments (`Cmd`), replaced by those given to `kiln run`.
    pub args: Vec<String>,
    /// Environment (`Env`), `KEY=VALUE`; `kiln run -e` adds and overrides.
    pub env: Vec<String>,
    /// The guest memory limit in bytes, if the image sets one.
    pub memory: Option<u64>,
    /// Ports the program listens on (`ExposedPorts`), e.g. `8080/tcp`.
    pub exposed_ports: Vec<String>,
}

/// When an image was created, from its config's `created` (RFC 3339).
pub fn created_of(config: &ImageConfiguration) -> Option<chrono::DateTime<chrono::Utc>> {
    let created = config.created().as_deref()?;
    Some(chrono::DateTime::parse_from_rfc3339(created).ok()?.to_utc())
}

/// What `kiln images` shows of a stored image.
#[derive(Debug)]
pub struct Summary {
    /// When it was built.
    pub created: Option<chrono::DateTime<chrono::Utc>>,
    /// The bytes of its manifest, config and layer (what a push sends).
    pub size: u64,
}

/// Describes the stored image `tag` names.
pub fn summary(store: &Store, tag: &Tag) -> Result<Summary> {
    let manifest = store.manifest(&tag.manifest)?;
    let (config, layer) = parts(&manifest, &tag.reference)?;
    let config_bytes = store.read_blob(&blob_digest(&config, &tag.reference)?, MAX_METADATA)?;
    let parsed: ImageConfiguration = serde_json::from_slice(&config_bytes)
        .map_err(|e| Error::BadImage(format!("{}: config: {e}", tag.reference)))?;
    Ok(Summary {
        created: created_of(&parsed),
        size: tag.size + config.size() + layer.size(),
    })
}

/// A stored image's program, ready to boot.
#[derive(Debug)]
pub struct Runnable {
    /// The ELF, unpacked from the layer.
    pub elf: PathBuf,
    /// How the image says to run it.
    pub settings: Settings,
}

/// Writes the image of the ELF at `elf` into the store and returns its
/// manifest's digest and size. The image's creation time is now, or
/// `$SOURCE_DATE_EPOCH` for reproducible builds.
pub fn pack(store: &Store, elf: &Path, settings: &Settings, abi: u32) -> Result<(Digest, u64)> {
    check_name(&settings.name)?;
    let (layer, layer_size, diff_id) = write_layer(store, elf, &settings.name)?;
    let created = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse().ok())
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .unwrap_or_else(chrono::Utc::now)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let config = image_config(settings, abi, &created, &diff_id)?;
    let config_bytes = to_json(&config, "config")?;
    let config_digest = store.add_blob(&config_bytes)?;
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(Descriptor::new(
            MediaType::ImageConfig,
            config_bytes.len() as u64,
            config_digest.to_oci(),
        ))
        .layers(vec![Descriptor::new(
            MediaType::ImageLayerZstd,
            layer_size,
            layer.to_oci(),
        )])
        .annotations(HashMap::from([(ABI_LABEL.to_string(), abi.to_string())]))
        .build()
        .map_err(|e| Error::BadImage(format!("manifest: {e}")))?;
    let manifest_bytes = to_json(&manifest, "manifest")?;
    let digest = store.add_blob(&manifest_bytes)?;
    Ok((digest, manifest_bytes.len() as u64))
}

/// The program's file name must be one path component a tar and a
/// filesystem agree on.
fn check_name(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name != "."
        && name != ".."
        && name.len() <= 100
        && !name.contains(['/', '\0']);
    if valid {
        Ok(())
    } else {
        Err(Error::BadImage(format!(
            "'{name}' cannot name a program file"
        )))
    }
}

/// The gzip-compressed tar with the one file; returns its digest, size and
/// the digest of the uncompressed tar (the config's `diff_id`).
fn write_layer(store: &Store, elf: &Path, name: &str) -> Result<(Digest, u64, Digest)> {
    let mut program = File::open(elf).map_err(Error::io("reading", elf))?;
    let size = program.metadata().map_err(Error::io("reading", elf))?.len();
    let compressed = zstd::Encoder::new(store.new_blob()?, LAYER_ZSTD_LEVEL)
        .map_err(Error::io("compressing", elf))?;
    let mut tar = tar::Builder::new(Hashing::new(compressed));
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(size);
    header.set_mode(0o755);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    let wrote = tar
        .append_data(&mut header, name, &mut program)
        .and_then(|()| tar.into_inner());
    let uncompressed = wrote.map_err(Error::io("packing", elf))?;
    let (diff_id, _, compressed) = uncompressed.finish();
    let blob = compressed.finish().map_err(Error::io("compressing", elf))?;
    let (digest, size) = blob.commit(None, "layer")?;
    Ok((digest, size, diff_id))
}

fn image_config(
    settings: &Settings,
    abi: u32,
    created: &str,
    diff_id: &Digest,
) -> Result<ImageConfiguration> {
    let mut labels = HashMap::from([(ABI_LABEL.to_string(), abi.to_string())]);
    if let Some(memory) = settings.memory {
        labels.insert(MEMORY_LABEL.to_string(), memory.to_string());
    }
    let mut config = ConfigBuilder::default()
        .entrypoint(vec![format!("/{}", settings.name)])
        .cmd(settings.args.clone())
        .env(settings.env.clone())
        .labels(labels);
    if !settings.exposed_ports.is_empty() {
        config = config.exposed_ports(settings.exposed_ports.clone());
    }
    let bad = |e: oci_spec::OciSpecError| Error::BadImage(format!("config: {e}"));
    ImageConfigurationBuilder::default()
        .created(created.to_string())
        .architecture(Arch::Amd64)
        .os(Os::Linux)
        .config(config.build().map_err(bad)?)
        .rootfs(
            RootFsBuilder::default()
                .typ("layers")
                .diff_ids(vec![diff_id.to_string()])
                .build()
                .map_err(bad)?,
        )
        .history(vec![
            HistoryBuilder::default()
                .created(created.to_string())
                .created_by(format!("kiln build ({})", settings.name))
                .build()
                .map_err(bad)?,
        ])
        .build()
        .map_err(bad)
}

fn to_json(value: &impl serde::Serialize, what: &str) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::BadImage(format!("{what}: {e}")))
}

/// Whether Kiln can read a manifest of this media type (a manifest without
/// one is taken as OCI's, as the spec allows).
pub fn is_manifest_type(media_type: &str) -> bool {
    media_type == MediaType::ImageManifest.as_ref() || media_type == DOCKER_MANIFEST
}

/// The media types Kiln asks registries for.
pub const ACCEPTED_MANIFESTS: &[&str] = &[
    "application/vnd.oci.image.manifest.v1+json",
    DOCKER_MANIFEST,
];

/// Checks what a Kiln image's manifest must be: one config and one layer,
/// of types Kiln knows, and returns the config's descriptor and the layer's.
pub fn parts(manifest: &ImageManifest, reference: &str) -> Result<(Descriptor, Descriptor)> {
    if let Some(media_type) = manifest.media_type()
        && !is_manifest_type(media_type.as_ref())
    {
        return Err(Error::BadImage(format!(
            "{reference}: unsupported manifest media type {media_type}"
        )));
    }
    let config = manifest.config();
    let config_type = config.media_type().to_string();
    if config_type != MediaType::ImageConfig.as_ref() && config_type != DOCKER_CONFIG {
        return Err(Error::BadImage(format!(
            "{reference}: unsupported config media type {config_type}"
        )));
    }
    let [layer] = manifest.layers().as_slice() else {
        return Err(Error::BadImage(format!(
            "{reference}: not a Kiln image ({} layers; a Kiln image has one)",
            manifest.layers().len()
        )));
    };
    layer_compression(layer, reference)?;
    Ok((config.clone(), layer.clone()))
}

pub(crate) fn layer_compression(layer: &Descriptor, reference: &str) -> Result<Compressed> {
    match layer.media_type() {
        MediaType::ImageLayerZstd => Ok(Compressed::Zstd),
        MediaType::ImageLayerGzip => Ok(Compressed::Gzip),
        MediaType::ImageLayer => Ok(Compressed::No),
        MediaType::Other(other) if other == DOCKER_LAYER_GZIP => Ok(Compressed::Gzip),
        other => Err(Error::BadImage(format!(
            "{reference}: unsupported layer media type {other}"
        ))),
    }
}

/// Whether `manifest` says it is a Kiln image for ABI `abi` (its
/// annotation, which lets a pull fetch its config and layer at once); an
/// image it says is for another ABI is refused here, before any blob.
pub fn manifest_declares_abi(manifest: &ImageManifest, reference: &str, abi: u32) -> Result<bool> {
    let Some(declared) = manifest
        .annotations()
        .as_ref()
        .and_then(|a| a.get(ABI_LABEL))
    else {
        return Ok(false);
    };
    match declared.parse::<u32>() {
        Ok(image) if image == abi => Ok(true),
        Ok(image) => Err(Error::AbiMismatch {
            reference: reference.to_string(),
            image,
            kiln: abi,
        }),
        // A malformed annotation decides nothing: the config's label does.
        Err(_) => Ok(false),
    }
}

/// Reads and checks a Kiln image's config: it must carry the ABI label, and
/// the ABI must be the one this kiln runs.
pub fn read_config(bytes: &[u8], reference: &str, abi: u32) -> Result<ImageConfiguration> {
    let config: ImageConfiguration = serde_json::from_slice(bytes)
        .map_err(|e| Error::BadImage(format!("{reference}: config: {e}")))?;
    let image_abi = config
        .labels_of_config()
        .and_then(|labels| labels.get(ABI_LABEL))
        .ok_or_else(|| {
            Error::BadImage(format!(
                "{reference} is not a Kiln image (its config has no {ABI_LABEL} label)"
            ))
        })?;
    let image_abi: u32 = image_abi.parse().map_err(|_| {
        Error::BadImage(format!(
            "{reference}: {ABI_LABEL} '{image_abi}' is not a number"
        ))
    })?;
    if image_abi != abi {
        return Err(Error::AbiMismatch {
            reference: reference.to_string(),
            image: image_abi,
            kiln: abi,
        });
    }
    Ok(config)
}

/// The settings a config records.
fn settings_of(config: &ImageConfiguration, reference: &str) -> Result<(String, Settings)> {
    let bad = |what: &str| Error::BadImage(format!("{reference}: config: {what}"));
    let run = config
        .config()
        .as_ref()
        .ok_or_else(|| bad("no config section"))?;
    let entrypoint = run.entrypoint().clone().unwrap_or_default();
    let (program, entry_args) = entrypoint
        .split_first()
        .ok_or_else(|| bad("no Entrypoint"))?;
    let path = program.trim_start_matches('/');
    let name = path.rsplit('/').next().unwrap_or(path).to_string();
    check_name(&name)?;
    let memory = match run.labels().as_ref().and_then(|l| l.get(MEMORY_LABEL)) {
        Some(memory) => Some(
            memory
                .parse()
                .map_err(|_| bad("dev.kiln.memory is not a number"))?,
        ),
        None => None,
    };
    let settings = Settings {
        name,
        // Entrypoint arguments always come first; Cmd is the replaceable part.
        args: entry_args
            .iter()
            .chain(run.cmd().iter().flatten())
            .cloned()
            .collect(),
        env: run.env().clone().unwrap_or_default(),
        memory,
        exposed_ports: run.exposed_ports().clone().unwrap_or_default(),
    };
    Ok((path.to_string(), settings))
}

/// A Kiln image in the store, checked: its config (of the ABI asked for),
/// and its layer's digest and compression.
pub struct StoredImage {
    /// The config.
    pub config: ImageConfiguration,
    /// The layer's digest (the layer may not be stored yet).
    pub layer: Digest,
    compressed: Compressed,
}

/// Checks a stored image's `manifest` and reads its config, as a Kiln image
/// for ABI `abi` (named `reference` in messages).
pub fn stored(
    store: &Store,
    manifest: &ImageManifest,
    reference: &str,
    abi: u32,
) -> Result<StoredImage> {
    let (config, layer) = parts(manifest, reference)?;
    let config_bytes = store.read_blob(&blob_digest(&config, reference)?, MAX_METADATA)?;
    Ok(StoredImage {
        config: read_config(&config_bytes, reference, abi)?,
        layer: blob_digest(&layer, reference)?,
        compressed: layer_compression(&layer, reference)?,
    })
}

/// A descriptor's digest, which Kiln accepts only as sha256.
pub fn blob_digest(descriptor: &Descriptor, reference: &str) -> Result<Digest> {
    Digest::from_oci(descriptor.digest()).map_err(|e| Error::BadImage(format!("{reference}: {e}")))
}

/// The stored image `tag` names, unpacked for booting (once; later runs
/// reuse the file; a pull unpacks as it downloads). Checks every digest on
/// the way.
pub fn unpack(store: &Store, tag: &Tag, abi: u32) -> Result<Runnable> {
    let reference = tag.reference.as_str();
    let StoredImage {
        config,
        layer,
        compressed,
    } = stored(store, &store.manifest(&tag.manifest)?, reference, abi)?;
    let (settings, program) = unpack_target(store, &config, &layer, reference)?;
    let elf = program.elf.clone();
    if !elf.is_file() {
        let blob_path = store.blob_path(&layer);
        let blob = File::open(&blob_path).map_err(Error::io("reading", &blob_path))?;
        let mut blob_stream = HashingReader::new(BufReader::new(blob));
        let layer_of = unpack_layer(store, &layer, compressed, reference);
        let unpacked = extract(&mut blob_stream, &layer_of, Told::Now(program))?;
        let actual = blob_stream.finish();
        if actual != layer {
            return Err(Error::DigestMismatch {
                what: format!("{reference}: layer"),
                expected: layer.to_string(),
                actual: actual.to_string(),
            });
        }
        unpacked
            .file
            .sync_all()
            .map_err(Error::io("unpacking into", &layer_of.dir))?;
        link_unnamed(&unpacked.file, &unpacked.path)?;
    }
    Ok(Runnable { elf, settings })
}

/// Where the program of the image `reference` is unpacked from its `layer`
/// (of `store`), and how that is compressed.
pub(crate) fn unpack_layer(
    store: &Store,
    layer: &Digest,
    compressed: Compressed,
    reference: &str,
) -> Layer {
    Layer {
        compressed,
        dir: unpacked_dir(store, layer),
        reference: reference.to_string(),
    }
}

/// The directory a layer's program is unpacked into.
fn unpacked_dir(store: &Store, layer: &Digest) -> PathBuf {
    store.root().join("unpacked").join(layer.hex())
}

/// How the image with `config` runs, and which file of its `layer` (of
/// `store`) is its program.
pub(crate) fn unpack_target(
    store: &Store,
    config: &ImageConfiguration,
    layer: &Digest,
    reference: &str,
) -> Result<(Settings, Program)> {
    let (path, settings) = settings_of(config, reference)?;
    let diff_id = config
        .rootfs()
        .diff_ids()
        .first()
        .cloned()
        .unwrap_or_default();
    let elf = unpacked_dir(store, layer).join(&settings.name);
    Ok((settings, Program { path, diff_id, elf }))
}
