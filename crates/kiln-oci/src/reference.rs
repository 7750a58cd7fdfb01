//! Image references as Docker spells them: `app`, `app:v1`,
//! `localhost:5000/team/app:v1`, `…@sha256:…`.

use oci_client::Reference;

use crate::error::{Error, Result};

/// Docker Hub's name, which references without a registry mean.
const DOCKER_HUB: &str = "docker.io";

/// Parses `text` into its full form (registry, repository, tag defaulting to
/// `latest`), as the store keys and registries expect.
pub fn parse(text: &str) -> Result<Reference> {
    let bad = |why: String| Error::BadReference {
        reference: text.chars().take(200).collect(),
        why,
    };
    if text.len() > 512 {
        return Err(bad("longer than 512 bytes".into()));
    }
    let reference: Reference = text.parse().map_err(|e| bad(format!("{e}")))?;
    if reference
        .repository()
        .chars()
        .any(|c| c.is_ascii_uppercase())
    {
        return Err(bad("repository names must be lowercase".into()));
    }
    Ok(reference)
}

/// The short form Docker shows: no `docker.io/` or `docker.io/library/`.
pub fn familiar(full: &str) -> &str {
    match full.strip_prefix("docker.io/") {
        Some(rest) => rest.strip_prefix("library/").unwrap_or(rest),
        None => full,
    }
}

/// Whether Kiln speaks plain HTTP to `registry`, as Docker does for a
/// registry on the loopback: `localhost`, `127.0.0.0/8` and `::1`, with any
/// port. Every other registry gets HTTPS.
pub fn is_loopback_registry(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => registry.rsplit_once(':').map_or(registry, |(host, _)| host),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The registry part of a reference, with Docker Hub's canonical name.
pub fn registry_of(reference: &Reference) -> &str {
    match reference.registry() {
        "" => DOCKER_HUB,
        registry => registry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_take_their_full_form() {
        let full = |s: &str| parse(s).expect("succeeds").whole();
        assert_eq!(full("app"), "docker.io/library/app:latest");
        assert_eq!(full("team/app:v1"), "docker.io/team/app:v1");
        assert_eq!(full("localhost:5000/app"), "localhost:5000/app:latest");
        assert_eq!(familiar("docker.io/library/app:latest"), "app:latest");
        assert_eq!(familiar("docker.io/team/app:v1"), "team/app:v1");
        assert_eq!(familiar("localhost:5000/app:v1"), "localhost:5000/app:v1");
    }

    #[test]
    fn bad_references_say_why() {
        for bad in [
            "",
            "App",
            "app:",
            "app:-x",
            "a//b",
            "app@sha256:12",
            &"a".repeat(600),
        ] {
            let error = parse(bad).expect_err("fails").to_string();
            assert!(error.starts_with("invalid reference"), "{bad}: {error}");
        }
    }

    #[test]
    fn only_loopback_registries_are_plain_http() {
        for registry in [
            "localhost:5000",
            "localhost",
            "127.0.0.1:5000",
            "127.1.2.3",
            "[::1]:5000",
        ] {
            assert!(is_loopback_registry(registry), "{registry}");
        }
        for registry in [
            "docker.io",
            "ghcr.io",
            "10.0.0.1:5000",
            "localhost.example.com:5000",
        ] {
            assert!(!is_loopback_registry(registry), "{registry}");
        }
    }
}
