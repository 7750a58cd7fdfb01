//! Images by reference: the local store, registries and archives, through
//! `kiln-oci`. `kiln build -t` stores, `kiln run REF` unpacks (pulling
//! first when the image is missing, as `docker run` does).

pub mod commands;
mod progress;
pub mod transfer;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use kiln_oci::format::{Runnable, Settings};
use kiln_oci::store::{Store, Tag};
use kiln_oci::{Error, reference};

use crate::exit_code::{Failure, HOST, IMAGE, REGISTRY, USAGE};
use crate::{BuildOptions, ImageOptions, Outcome, guest_build};

/// The local image store, `<state>/images`.
pub fn open_store() -> Result<Store, Failure> {
    Ok(Store::open(&crate::state::dir()?.join("images"))?)
}

/// Registry logins, `<state>/credentials.json`.
fn credentials() -> Result<kiln_oci::credentials::Credentials, Failure> {
    Ok(kiln_oci::credentials::Credentials::at(
        &crate::state::dir()?.join("credentials.json"),
    ))
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        let code = match &error {
            Error::BadReference { .. } => USAGE,
            Error::NotFound(_) | Error::Registry { .. } => REGISTRY,
            Error::DigestMismatch { .. } | Error::BadImage(_) | Error::AbiMismatch { .. } => IMAGE,
            Error::Io { .. } => HOST,
        };
        Failure::new(code, error)
    }
}

/// The stored image `text` names, in the store's full spelling.
fn find(store: &Store, text: &str) -> Result<Tag, Failure> {
    let full = reference::parse(text)?.whole();
    Ok(store
        .find(&full)?
        .ok_or(Error::NotFound(text.to_string()))?)
}

/// `kiln build [-t REF...]`: builds, and stores the image under each
/// reference with the settings of `[package.metadata.kiln.image]` and the
/// command line (whose `-e` entries win, `-m` and arguments replace, and
/// `--expose` ports add).
pub fn build(dir: &Path, options: &BuildOptions, image: &ImageOptions) -> Outcome {
    // Everything given is checked before the (long) build starts.
    let references = image
        .tags
        .iter()
        .map(|tag| Ok(reference::parse(tag)?.whole()))
        .collect::<Result<Vec<_>, Failure>>()?;
    let env = crate::run::guest_env(&image.env)?;
    image
        .expose
        .iter()
        .try_for_each(|port| exposed_port(port).map(drop))?;
    let built = guest_build::build_and_report(dir, options)?;
    if references.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let defaults = &built.image_defaults;
    let memory = match (&image.memory, &defaults.memory) {
        (Some(memory), _) => Some(*memory),
        (None, Some(text)) => Some(crate::units::parse_memory(text).map_err(|why| {
            Failure::new(
                USAGE,
                format!("[package.metadata.kiln.image] memory '{text}': {why}"),
            )
        })?),
        (None, None) => None,
    };
    let mut exposed_ports = Vec::new();
    for port in defaults.expose.iter().chain(&image.expose) {
        let port = exposed_port(port)?;
        if !exposed_ports.contains(&port) {
            exposed_ports.push(port);
        }
    }
    let settings = Settings {
        name: built.name,
        args: if image.args.is_empty() {
            defaults.args.clone()
        } else {
            image.args.clone()
        },
        env: merge_env(&crate::run::guest_env(&defaults.env)?, &env),
        memory,
        exposed_ports,
    };
    let store = open_store()?;
    let (digest, size) =
        kiln_oci::format::pack(&store, &built.image, &settings, kiln_abi::ABI_VERSION)?;
    for full in &references {
        store.set_tag(full, &digest, size)?;
        say!(
            "Tagged {} ({})",
            reference::familiar(full),
            progress::short(&digest.to_string())
        );
    }
    // The image a reference named before may now be unreachable.
    store.collect_garbage()?;
    Ok(ExitCode::SUCCESS)
}

/// `--expose PORT[/tcp|/udp]` in the config's spelling, `8080/tcp`.
fn exposed_port(text: &str) -> Result<String, Failure> {
    let (port, protocol) = text.split_once('/').unwrap_or((text, "tcp"));
    match (port.parse::<u16>(), protocol) {
        (Ok(port), "tcp" | "udp") if port > 0 => Ok(format!("{port}/{protocol}")),
        _ => Err(Failure::new(
            USAGE,
            format!("invalid --expose '{text}': expected PORT[/tcp|/udp]"),
        )),
    }
}

/// What `kiln run REF` boots.
pub struct Resolved {
    /// The unpacked ELF.
    pub elf: PathBuf,
    /// How the image says to run it.
    pub settings: Settings,
}

impl Resolved {
    /// Fills in what a command line left out from the image's settings:
    /// the memory limit, the environment (the command line's entries win)
    /// and the arguments (replaced by any given). Returns the program name.
    pub fn fill_in(
        &self,
        memory: &mut Option<u64>,
        env: &mut Vec<String>,
        args: &mut Vec<String>,
    ) -> String {
        *memory = memory.or(self.settings.memory);
        *env = merge_env(&self.settings.env, env);
        if args.is_empty() {
            args.clone_from(&self.settings.args);
        }
        self.settings.name.clone()
    }
}

/// Whether a `run`/`serve` target means an image reference: it is not an
/// existing file or directory, and not spelled as a path (`/…`, `./…`,
/// `../…`), which stays a missing file.
pub fn is_reference_like(target: &Path) -> bool {
    !target.exists() && !target.to_string_lossy().starts_with(['/', '.'])
}

/// The image `text` (not an existing path) names, pulled first if the
/// store lacks it.
pub fn resolve_for_run(text: &str) -> Result<Resolved, Failure> {
    let parsed = reference::parse(text).map_err(|e| {
        Failure::new(
            USAGE,
            format!("{text}: no such file or directory, and not an image reference ({e})"),
        )
    })?;
    let store = open_store()?;
    let tag = match store.find(&parsed.whole())? {
        Some(tag) => tag,
        None => {
            tell!("kiln: {text} is not here; pulling it");
            transfer::pull_into(&store, &parsed)?
        }
    };
    let Runnable { elf, settings } = kiln_oci::format::unpack(&store, &tag, kiln_abi::ABI_VERSION)?;
    Ok(Resolved { elf, settings })
}

/// An image's environment with the command line's `-e` entries after it,
/// and without the image's entries those replace (a guest sees each key
/// once).
fn merge_env(image: &[String], given: &[String]) -> Vec<String> {
    let key = |entry: &str| entry.split('=').next().unwrap_or_default().to_string();
    let given_keys: std::collections::HashSet<String> = given.iter().map(|e| key(e)).collect();
    image
        .iter()
        .filter(|entry| !given_keys.contains(&key(entry)))
        .chain(given)
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::merge_env;

    #[test]
    fn the_command_lines_environment_replaces_the_images() {
        let image = ["A=1".to_string(), "B=2".to_string()];
        let given = ["B=3".to_string(), "C".to_string()];
        assert_eq!(merge_env(&image, &given), ["A=1", "B=3", "C"]);
    }
}
