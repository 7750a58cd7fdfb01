//! `kiln images`, `rmi`, `tag`, `save` and `load`: the local store.

use std::fs::File;
use std::io::{BufReader, BufWriter, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use kiln_oci::reference;
use serde::Serialize;

use super::progress::short;
use super::{find, open_store};
use crate::Outcome;
use crate::exit_code::{Failure, HOST, USAGE};
use crate::guest_build::human_size;
use crate::instance::commands::Format;

/// One stored image, as `kiln images --format json` prints it.
#[derive(Serialize)]
struct Listed {
    reference: String,
    repository: String,
    tag: String,
    digest: String,
    size: u64,
    created: Option<String>,
}

/// `kiln images`: every stored reference.
pub fn images(format: Format) -> Outcome {
    let store = open_store()?;
    let mut listed = Vec::new();
    for tag in store.tags()? {
        let summary = kiln_oci::format::summary(&store, &tag)?;
        let familiar = reference::familiar(&tag.reference);
        let (repository, name) = familiar
            .rsplit_once(':')
            .filter(|(_, t)| !t.contains('/'))
            .unwrap_or((familiar, ""));
        listed.push((
            Listed {
                reference: tag.reference.clone(),
                repository: repository.to_string(),
                tag: name.to_string(),
                digest: tag.manifest.to_string(),
                size: summary.size,
                created: summary.created.map(|c| c.to_rfc3339()),
            },
            summary.created,
        ));
    }
    match format {
        Format::Json => {
            let entries: Vec<&Listed> = listed.iter().map(|(l, _)| l).collect();
            say!(
                "{}",
                serde_json::to_string_pretty(&entries).expect("strings and numbers serialize")
            );
        }
        Format::Table => {
            let width = listed
                .iter()
                .map(|(l, _)| l.repository.len())
                .max()
                .unwrap_or(0)
                .max(10);
            say!(
                "{:<width$}  {:<10}  {:<12}  {:<15}  SIZE",
                "REPOSITORY",
                "TAG",
                "DIGEST",
                "CREATED"
            );
            for (entry, created) in &listed {
                say!(
                    "{:<width$}  {:<10}  {:<12}  {:<15}  {}",
                    entry.repository,
                    entry.tag,
                    short(&entry.digest),
                    created.map_or_else(|| "-".into(), age),
                    human_size(entry.size)
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// "3 minutes ago", as Docker says it.
fn age(created: chrono::DateTime<chrono::Utc>) -> String {
    let seconds = (chrono::Utc::now() - created).num_seconds().max(0);
    let (n, unit) = match seconds {
        s if s < 60 => (s, "second"),
        s if s < 3600 => (s / 60, "minute"),
        s if s < 86_400 => (s / 3600, "hour"),
        s => (s / 86_400, "day"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

/// `kiln rmi [-f] REF...`: removes references; blobs no reference needs
/// any more go with them. As Docker does, an image an instance was created
/// from stays unless forced (`kiln start` would need it again).
pub fn rmi(references: &[String], force: bool) -> Outcome {
    let store = open_store()?;
    for text in references {
        let tag = find(&store, text)?;
        let last = !store
            .tags()?
            .iter()
            .any(|other| other.manifest == tag.manifest && other.reference != tag.reference);
        if last && !force {
            let users = instances_using(&store, &tag)?;
            if !users.is_empty() {
                return Err(Failure::new(
                    USAGE,
                    format!(
                        "{text} is used by instance {} (kiln rm it first, or kiln rmi -f)",
                        users.join(", ")
                    ),
                ));
            }
        }
        store.remove_tag(&tag.reference)?;
        say!("Untagged: {}", reference::familiar(&tag.reference));
    }
    let removed = store.collect_garbage()?;
    if removed > 0 {
        say!(
            "Deleted: {removed} blob{}",
            if removed == 1 { "" } else { "s" }
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The names of the instances (running or not) whose program was unpacked
/// from the image `tag` names.
fn instances_using(
    store: &kiln_oci::store::Store,
    tag: &kiln_oci::store::Tag,
) -> Result<Vec<String>, Failure> {
    let manifest = store.manifest(&tag.manifest)?;
    let layers: Vec<PathBuf> = manifest
        .layers()
        .iter()
        .map(|layer| store.root().join("unpacked").join(layer.digest().digest()))
        .collect();
    Ok(crate::instance::Store::open()?
        .list()?
        .into_iter()
        .filter(|instance| {
            layers
                .iter()
                .any(|dir| instance.config.image.starts_with(dir))
        })
        .map(|instance| instance.config.name)
        .collect())
}

/// `kiln tag SOURCE TARGET`.
pub fn tag(source: &str, target: &str) -> Outcome {
    let store = open_store()?;
    let tag = find(&store, source)?;
    let target = reference::parse(target)?.whole();
    store.set_tag(&target, &tag.manifest, tag.size)?;
    store.collect_garbage()?;
    Ok(ExitCode::SUCCESS)
}

/// `kiln save REF... [-o FILE]`: an OCI image layout archive, to the file
/// or to stdout (never to a terminal).
pub fn save(references: &[String], output: Option<&Path>) -> Outcome {
    let store = open_store()?;
    let tags = references
        .iter()
        .map(|text| find(&store, text))
        .collect::<Result<Vec<_>, _>>()?;
    match output {
        Some(path) => {
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            // Written beside the target and renamed: a failed save leaves
            // no truncated archive under the name asked for.
            let temp = dir.join(format!(
                ".{}.{}",
                path.file_name().unwrap_or_default().to_string_lossy(),
                std::process::id()
            ));
            let file = File::create(&temp)
                .map_err(|e| Failure::new(HOST, format!("creating {}: {e}", temp.display())))?;
            let saved = kiln_oci::layout::save(&store, &tags, BufWriter::new(file));
            if let Err(e) = saved {
                let _ = std::fs::remove_file(&temp);
                return Err(e.into());
            }
            std::fs::rename(&temp, path)
                .map_err(|e| Failure::new(HOST, format!("writing {}: {e}", path.display())))?;
        }
        None if std::io::stdout().is_terminal() => {
            return Err(Failure::new(
                USAGE,
                "refusing to write an archive to a terminal: use -o FILE or redirect stdout",
            ));
        }
        None => kiln_oci::layout::save(&store, &tags, std::io::stdout().lock())?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `kiln load [-i FILE]`: reads an archive from the file or from stdin.
pub fn load(input: Option<&Path>) -> Outcome {
    let store = open_store()?;
    let tags = match input {
        Some(path) => {
            let file = File::open(path)
                .map_err(|e| Failure::new(USAGE, format!("{}: {e}", path.display())))?;
            kiln_oci::layout::load(&store, BufReader::new(file), path, kiln_abi::ABI_VERSION)?
        }
        None => kiln_oci::layout::load(
            &store,
            std::io::stdin().lock(),
            Path::new("stdin"),
            kiln_abi::ABI_VERSION,
        )?,
    };
    for tag in tags {
        say!("Loaded image: {}", reference::familiar(&tag.reference));
    }
    store.collect_garbage()?;
    Ok(ExitCode::SUCCESS)
}

/// Whether `text` names a stored image.
pub fn is_stored(text: &str) -> bool {
    open_store().is_ok_and(|store| find(&store, text).is_ok())
}

/// A stored image, as `kiln inspect REF` shows it.
#[derive(Serialize)]
struct Inspected {
    reference: String,
    digest: String,
    size: u64,
    created: Option<String>,
    abi_version: u32,
    program: String,
    args: Vec<String>,
    env: Vec<String>,
    memory: Option<u64>,
    exposed_ports: Vec<String>,
    unpacked: String,
}

/// `kiln inspect REF` of a stored image (its program is unpacked if it was
/// not yet, checking every digest on the way).
pub fn inspect(text: &str, format: Format) -> Outcome {
    let store = open_store()?;
    let tag = find(&store, text)?;
    let summary = kiln_oci::format::summary(&store, &tag)?;
    let runnable = kiln_oci::format::unpack(&store, &tag, kiln_abi::ABI_VERSION)?;
    let settings = runnable.settings;
    let inspected = Inspected {
        reference: tag.reference.clone(),
        digest: tag.manifest.to_string(),
        size: summary.size,
        created: summary.created.map(|c| c.to_rfc3339()),
        abi_version: kiln_abi::ABI_VERSION,
        program: settings.name,
        args: settings.args,
        env: settings.env,
        memory: settings.memory,
        exposed_ports: settings.exposed_ports,
        unpacked: runnable.elf.display().to_string(),
    };
    match format {
        Format::Json => say!(
            "{}",
            serde_json::to_string_pretty(&inspected).expect("strings and numbers serialize")
        ),
        Format::Table => {
            say!("image:     {}", inspected.reference);
            say!("digest:    {}", inspected.digest);
            say!("size:      {}", human_size(inspected.size));
            say!("created:   {}", inspected.created.as_deref().unwrap_or("-"));
            say!("abi:       {}", inspected.abi_version);
            say!(
                "program:   /{} {}",
                inspected.program,
                inspected.args.join(" ")
            );
            for entry in &inspected.env {
                say!("env:       {entry}");
            }
            if let Some(memory) = inspected.memory {
                say!("memory:    {} MiB", memory >> 20);
            }
            if !inspected.exposed_ports.is_empty() {
                say!("exposes:   {}", inspected.exposed_ports.join(", "));
            }
            say!("file:      {}", inspected.unpacked);
        }
    }
    Ok(ExitCode::SUCCESS)
}
