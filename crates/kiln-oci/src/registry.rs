//! Pushing to and pulling from registries (the OCI distribution API,
//! through `oci-client`), into and out of the local store.
//!
//! A pull fetches the manifest and refuses an image Kiln cannot run before
//! fetching its layer: by the manifest's ABI annotation, and then it
//! fetches config and layer at once; without one, by the config, fetched
//! first. The layer's program is unpacked while the layer arrives (on a
//! thread of its own). Every blob is checked against its digest while it
//! is written, and enters the store only whole; the tag is set last, so an
//! interrupted pull leaves no trace a later run could use.

use std::fs::File;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt, stream};
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::{DigestError, OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use oci_spec::image::{Descriptor, ImageManifest, MediaType};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::format::{
    ACCEPTED_MANIFESTS, blob_digest, layer_compression, manifest_declares_abi, parts, read_config,
    unpack_layer, unpack_target,
};
use crate::reference::{is_loopback_registry, registry_of};
use crate::store::{BlobWriter, MAX_METADATA, NewBlob, Store, Tag, Unpacked};
use crate::unpack::{Arriving, Program, Told, extract};

/// The size of the pieces a push sends and reports progress by.
const CHUNK: usize = 1 << 20;

/// What a transfer reports as it goes.
#[derive(Debug)]
pub enum Progress<'a> {
    /// The registry (or the store, when pulling) already has this blob.
    Exists {
        /// The blob.
        digest: &'a Digest,
        /// Its size in bytes.
        size: u64,
    },
    /// Bytes of a blob moved so far.
    Moved {
        /// The blob.
        digest: &'a Digest,
        /// Bytes so far.
        done: u64,
        /// All its bytes.
        size: u64,
    },
}

/// A connection to one registry.
pub struct Registry {
    client: Client,
    auth: RegistryAuth,
    runtime: tokio::runtime::Runtime,
    host: String,
}

impl Registry {
    /// A client for the registry of `reference`, authenticating with `auth`.
    /// As Docker does: CA certificates for a registry are its `*.crt`
    /// files in `<dir>/<host[:port]>/` for each of `certs_dirs` (then it is
    /// spoken to over HTTPS, trusting them besides the system's roots);
    /// otherwise loopback registries get plain HTTP and all others HTTPS.
    pub fn for_reference(
        reference: &Reference,
        auth: RegistryAuth,
        certs_dirs: &[PathBuf],
    ) -> Result<Self> {
        let host = registry_of(reference).to_string();
        let certificates = registry_certificates(&host, certs_dirs)?;
        let protocol = if certificates.is_empty() && is_loopback_registry(&host) {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        };
        // try_from, not new: new falls back silently to a default client
        // (no extra roots, HTTPS) when the configuration is refused.
        let client = Client::try_from(ClientConfig {
            protocol,
            connect_timeout: Some(Duration::from_secs(10)),
            read_timeout: Some(Duration::from_secs(60)),
            user_agent: concat!("kiln/", env!("CARGO_PKG_VERSION")),
            platform_resolver: None,
            extra_root_certificates: certificates,
            ..ClientConfig::default()
        })
        .map_err(|e| Error::Registry {
            registry: host.clone(),
            message: format!("cannot set up the HTTP client: {}", request_failure(&e)),
        })?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Registry {
                registry: host.clone(),
                message: format!("cannot start the network runtime: {e}"),
            })?;
        Ok(Self {
            client,
            auth,
            runtime,
            host,
        })
    }

    /// Checks the credentials: an authenticated request the registry must
    /// accept (the answer to it, "no such blob", does not matter).
    pub fn check_login(&self) -> Result<()> {
        let probe = crate::reference::parse(&format!("{}/kiln/login-check", self.host))?;
        let empty = Digest::of(b"").to_string();
        self.runtime.block_on(async {
            self.client
                .auth(&probe, &self.auth, RegistryOperation::Pull)
                .await
                .map_err(|e| self.refused(e))?;
            self.client
                .blob_exists(&probe, &empty)
                .await
                .map_err(|e| self.refused(e))
        })?;
        Ok(())
    }

    /// Pushes the stored image `tag` to `reference`; blobs the registry has
    /// are not sent again. Returns the manifest's digest.
    pub fn push(
        &self,
        store: &Store,
        tag: &Tag,
        reference: &Reference,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Digest> {
        let manifest_bytes = store.read_blob(&tag.manifest, MAX_METADATA)?;
        let manifest: ImageManifest = serde_json::from_slice(&manifest_bytes)
            .map_err(|e| Error::BadImage(format!("{}: manifest: {e}", tag.reference)))?;
        let blobs: Vec<&Descriptor> = manifest
            .layers()
            .iter()
            .chain([manifest.config()])
            .collect();
        self.runtime.block_on(async {
            self.client
                .auth(reference, &self.auth, RegistryOperation::Push)
                .await
                .map_err(|e| self.refused(e))?;
            for descriptor in blobs {
                let digest = blob_digest(descriptor, &tag.reference)?;
                self.push_blob(store, reference, &digest, descriptor.size(), progress)
                    .await?;
            }
            let content_type = manifest
                .media_type()
                .clone()
                .unwrap_or(MediaType::ImageManifest)
                .to_string()
                .parse()
                .map_err(|_| Error::BadImage(format!("{}: manifest media type", tag.reference)))?;
            self.client
                .push_manifest_raw(reference, manifest_bytes.clone(), content_type)
                .await
                .map_err(|e| self.refused(e))
        })?;
        Ok(tag.manifest.clone())
    }

    async fn push_blob(
        &self,
        store: &Store,
        reference: &Reference,
        digest: &Digest,
        size: u64,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<()> {
        let exists = self
            .client
            .blob_exists(reference, &digest.to_string())
            .await
            .map_err(|e| self.refused(e))?;
        if exists {
            progress(Progress::Exists { digest, size });
            return Ok(());
        }
        let path = store.blob_path(digest);
        let mut bytes = Vec::new();
        File::open(&path)
            .and_then(|mut file| file.read_to_end(&mut bytes))
            .map_err(Error::io("reading", &path))?;
        if Digest::of(&bytes) != *digest {
            return Err(Error::BadImage(format!(
                "{}: the stored blob {digest} is damaged; not pushed",
                path.display()
            )));
        }
        let chunks: Vec<bytes::Bytes> = bytes
            .chunks(CHUNK)
            .map(bytes::Bytes::copy_from_slice)
            .collect();
        let (sent_tx, mut sent_rx) = tokio::sync::mpsc::unbounded_channel();
        let body = stream::iter(chunks).map(move |chunk| {
            let _ = sent_tx.send(chunk.len() as u64);
            Ok::<_, OciDistributionError>(chunk)
        });
        let digest_text = digest.to_string();
        let upload = self
            .client
            .push_blob_stream(reference, body, &digest_text, Some(size));
        tokio::pin!(upload);
        let mut done = 0;
        loop {
            tokio::select! {
                result = &mut upload => {
                    result.map_err(|e| self.refused(e))?;
                    break;
                }
                Some(sent) = sent_rx.recv() => {
                    // A chunk handed to the client is not yet acknowledged:
                    // "done" is reported once, when the upload returns.
                    done += sent;
                    if done < size {
                        progress(Progress::Moved { digest, done, size });
                    }
                }
            }
        }
        progress(Progress::Moved {
            digest,
            done: size,
            size,
        });
        Ok(())
    }

    /// Pulls `reference` into the store (refusing an image built for
    /// another ABI than `abi` before its layer is fetched), unpacks its
    /// program, and tags it.
    pub fn pull(
        &self,
        store: &Store,
        reference: &Reference,
        abi: u32,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Tag> {
        let full = reference.whole();
        let (manifest_bytes, manifest_digest, manifest) =
            self.runtime.block_on(self.pull_manifest(reference))?;
        let (config, layer) = parts(&manifest, &full)?;
        let config_digest = blob_digest(&config, &full)?;
        if config.size() > MAX_METADATA {
            return Err(Error::BadImage(format!("{full}: config larger than 4 MiB")));
        }
        let layer_digest = blob_digest(&layer, &full)?;
        let compressed = layer_compression(&layer, &full)?;
        let at_once = manifest_declares_abi(&manifest, &full, abi)?;
        let fetch_layer = !store.has_blob(&layer_digest);
        // The unpacking thread gets the layer's pieces as they arrive, and
        // which file is the program once the config says.
        let (job_tx, job_rx) = mpsc::channel::<Program>();
        let unpack_into = unpack_layer(store, &layer_digest, compressed, &full);
        let (piece_tx, piece_rx) = mpsc::channel::<bytes::Bytes>();
        let (config_bytes, layer_blob, program) = std::thread::scope(|scope| {
            let unpacking = fetch_layer.then(|| {
                scope.spawn(move || -> Result<(BlobWriter, Unpacked)> {
                    let mut arriving = Arriving::new(piece_rx, store.new_blob()?);
                    let program = extract(&mut arriving, &unpack_into, Told::Later(job_rx))?;
                    Ok((arriving.into_blob(), program))
                })
            });
            let config_step = async {
                // Owned here, so that the unpacking thread stops waiting for
                // its job when this step ends without sending one.
                let job_tx = job_tx;
                let bytes = self
                    .pull_small(reference, &config_digest, config.size())
                    .await?;
                let parsed = read_config(&bytes, &full, abi)?;
                let (_, target) = unpack_target(store, &parsed, &layer_digest, &full)?;
                // A send fails only when the unpacking thread already
                // ended, with an error joining it reports.
                let _ = job_tx.send(target);
                Ok::<_, Error>(bytes)
            };
            let layer_step = async {
                if !fetch_layer {
                    drop(piece_tx);
                    progress(Progress::Exists {
                        digest: &layer_digest,
                        size: layer.size(),
                    });
                    return Ok(());
                }
                self.pull_layer(reference, &layer_digest, layer.size(), piece_tx, progress)
                    .await
            };
            let fetched = self.runtime.block_on(async {
                if at_once {
                    tokio::try_join!(config_step, layer_step).map(|(bytes, ())| bytes)
                } else {
                    let bytes = config_step.await?;
                    layer_step.await?;
                    Ok(bytes)
                }
            });
            let unpacked = unpacking.map(|thread| thread.join().expect("unpacking does not panic"));
            let config_bytes = fetched?;
            match unpacked {
                Some(done) => {
                    let (blob, program) = done?;
                    Ok::<_, Error>((config_bytes, Some(blob), Some(program)))
                }
                None => Ok((config_bytes, None, None)),
            }
        })?;
        let mut blobs: Vec<NewBlob> = Vec::with_capacity(3);
        if let Some(layer_blob) = layer_blob {
            blobs.push(layer_blob.finish(Some(&layer_digest), &format!("{full}: layer"))?);
        }
        blobs.push(new_blob(
            store,
            &config_bytes,
            &config_digest,
            &full,
            "config",
        )?);
        blobs.push(new_blob(
            store,
            &manifest_bytes,
            &manifest_digest,
            &full,
            "manifest",
        )?);
        let tag = Tag {
            reference: full,
            manifest: manifest_digest,
            size: manifest_bytes.len() as u64,
        };
        store.admit(blobs, program, &tag)?;
        if fetch_layer {
            progress(Progress::Moved {
                digest: &layer_digest,
                done: layer.size(),
                size: layer.size(),
            });
        }
        Ok(tag)
    }

    /// The manifest `reference` names: its bytes, digest (checked against
    /// the reference's, if it has one) and contents.
    async fn pull_manifest(
        &self,
        reference: &Reference,
    ) -> Result<(bytes::Bytes, Digest, ImageManifest)> {
        let full = reference.whole();
        let (manifest_bytes, _) = self
            .client
            .pull_manifest_raw(reference, &self.auth, ACCEPTED_MANIFESTS)
            .await
            .map_err(|e| self.refused(e))?;
        if manifest_bytes.len() as u64 > MAX_METADATA {
            return Err(Error::BadImage(format!(
                "{full}: manifest of {} bytes, more than the 4 MiB Kiln reads",
                manifest_bytes.len()
            )));
        }
        let manifest_digest = Digest::of(&manifest_bytes);
        if let Some(asked) = reference.digest()
            && asked != manifest_digest.to_string()
        {
            return Err(Error::DigestMismatch {
                what: format!("{full}: manifest"),
                expected: asked.to_string(),
                actual: manifest_digest.to_string(),
            });
        }
        let manifest: ImageManifest = serde_json::from_slice(&manifest_bytes)
            .map_err(|e| Error::BadImage(format!("{full}: manifest: {e}")))?;
        Ok((manifest_bytes, manifest_digest, manifest))
    }

    async fn pull_small(
        &self,
        reference: &Reference,
        digest: &Digest,
        size: u64,
    ) -> Result<Vec<u8>> {
        let mut bytes = Vec::with_capacity(size as usize);
        self.client
            .pull_blob(reference, digest.to_string().as_str(), &mut bytes)
            .await
            .map_err(|e| self.refused(e))?;
        Ok(bytes)
    }

    /// Downloads the layer, passing its pieces to `pieces` as they arrive.
    /// When the receiver is gone (unpacking failed) the rest is still read,
    /// so that a layer that is not what its digest says is reported as such.
    async fn pull_layer(
        &self,
        reference: &Reference,
        digest: &Digest,
        size: u64,
        pieces: mpsc::Sender<bytes::Bytes>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<()> {
        let mut stream = self
            .client
            .pull_blob_stream(reference, digest.to_string().as_str())
            .await
            .map_err(|e| self.refused(e))?;
        let what = format!("{}: layer", reference.whole());
        let mut done = 0;
        while let Some(piece) = stream
            .try_next()
            .await
            .map_err(|e| self.stream_failure(e, &what))?
        {
            done += piece.len() as u64;
            if done > size {
                return Err(Error::BadImage(format!(
                    "{}: blob {digest} is larger than the {size} bytes its manifest says",
                    reference.whole()
                )));
            }
            let _ = pieces.send(piece);
            // "done" is reported once the blob is checked and stored.
            if done < size {
                progress(Progress::Moved { digest, done, size });
            }
        }
        Ok(())
    }

    fn failure(&self, message: String) -> Error {
        Error::Registry {
            registry: self.host.clone(),
            message,
        }
    }

    /// A download that broke off, or whose bytes are not what was asked for
    /// (the client checks the digest as the last bytes arrive).
    fn stream_failure(&self, error: std::io::Error, what: &str) -> Error {
        match error
            .get_ref()
            .and_then(|e| e.downcast_ref::<DigestError>())
        {
            Some(DigestError::VerificationError { expected, actual }) => Error::DigestMismatch {
                what: what.to_string(),
                expected: expected.clone(),
                actual: actual.clone(),
            },
            _ => self.failure(format!("{what}: {error}")),
        }
    }

    /// A registry's refusal, in the user's terms.
    fn refused(&self, error: OciDistributionError) -> Error {
        use OciDistributionError::*;
        let message = match &error {
            AuthenticationFailure(_) | UnauthorizedError { .. } => {
                format!(
                    "access denied ({error}); log in with kiln login {}",
                    self.host
                )
            }
            ImageManifestNotFoundError(_) => format!("no such image ({error})"),
            DigestError(e) => format!("a blob's digest does not match: {e}"),
            RequestError(e)
                if e.status()
                    .is_some_and(|s| s.as_u16() == 401 || s.as_u16() == 403) =>
            {
                format!("access denied; log in with kiln login {}", self.host)
            }
            RequestError(e) => request_failure(e),
            ServerError { code: 401, .. } => {
                format!("access denied; log in with kiln login {}", self.host)
            }
            ServerError { code: 404, .. } => "no such image or blob".to_string(),
            RegistryError { envelope, .. } => envelope
                .errors
                .iter()
                .map(|e| {
                    let hint = match e.code {
                        OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown => {
                            "no such image: "
                        }
                        OciErrorCode::Unauthorized | OciErrorCode::Denied => "access denied: ",
                        _ => "",
                    };
                    format!("{hint}{}", e.message)
                })
                .collect::<Vec<_>>()
                .join("; "),
            other => other.to_string(),
        };
        self.failure(message)
    }
}

/// The CA certificates (PEM) kept for `host` under `certs_dirs`.
fn registry_certificates(host: &str, certs_dirs: &[PathBuf]) -> Result<Vec<Certificate>> {
    let mut certificates = Vec::new();
    for dir in certs_dirs {
        let dir = dir.join(host);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "crt"))
            .collect();
        paths.sort();
        for path in paths {
            let data = std::fs::read(&path).map_err(Error::io("reading", &path))?;
            certificates.push(Certificate {
                encoding: CertificateEncoding::Pem,
                data,
            });
        }
    }
    Ok(certificates)
}

/// A request that did not get an answer, with the underlying cause.
fn request_failure(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message = format!("{message}: {cause}");
        source = cause.source();
    }
    message
}

/// A new blob of `bytes`, which must be `digest`.
fn new_blob(
    store: &Store,
    bytes: &[u8],
    digest: &Digest,
    reference: &str,
    what: &str,
) -> Result<NewBlob> {
    let mut blob = store.new_blob()?;
    blob.write_all(bytes)
        .map_err(Error::io("writing a blob in", store.root()))?;
    blob.finish(Some(digest), &format!("{reference}: {what}"))
}
