//! Image references as Docker spells them: `app`, `app:v1`,
//! `localhost:5000/team/app:v1`, `…@sha256:…`.

use oci_client::Reference;

use crate::error::{Error, Result};

/// Docker Hub's name, which references without a registry mean.
const DOCKER_HUB: &str = "docker.io";

/// Parses `text` into its full form (registry, repository, tag defaulting to
/// `latest`), as the store keys and registries expect.
///
/// Written by hand after distribution's reference grammar rather than taken
/// from `oci-spec`'s parser: that one compiles a large regular expression
/// on first use, ~40 ms here, paid by every `kiln run REF` before the boot.
/// The tests check this parser against `oci-spec`'s on valid and invalid
/// references.
pub fn parse(text: &str) -> Result<Reference> {
    let bad = |why: &str| Error::BadReference {
        reference: text.chars().take(200).collect(),
        why: why.to_string(),
    };
    if text.is_empty() {
        return Err(bad("empty"));
    }
    if text.len() > 512 {
        return Err(bad("longer than 512 bytes"));
    }
    let (rest, digest) = match text.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (text, None),
    };
    if let Some(digest) = digest {
        let valid = digest.strip_prefix("sha256:").is_some_and(|hex| {
            hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        });
        if !valid {
            return Err(bad("a digest is sha256: and 64 lowercase hex digits"));
        }
    }
    // A ':' after the last '/' starts the tag; one before it is a port.
    let (name, tag) = match rest.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, Some(tag)),
        _ => (rest, None),
    };
    if let Some(tag) = tag
        && !is_tag(tag)
    {
        return Err(bad(
            "a tag is 1 to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'",
        ));
    }
    // Valid as a whole: a host and a path, or all path (then a first
    // part with a '.' or ':' still names the registry, as Docker splits it).
    let valid = match name.split_once('/') {
        Some((host, path)) if is_registry(host) && path.split('/').all(is_path_component) => true,
        _ => name.split('/').all(is_path_component),
    };
    if !valid {
        return Err(bad(
            "expected [HOST[:PORT]/]NAME[:TAG][@DIGEST], NAME lowercase letters and digits with single '.' or '_', '__' or runs of '-' between them, in '/'-separated parts",
        ));
    }
    let (registry, path) = match name.split_once('/') {
        Some((first, path)) if first.contains(['.', ':']) || first == "localhost" => {
            (first.to_string(), path.to_string())
        }
        _ => (DOCKER_HUB.to_string(), name.to_string()),
    };
    if path.len() > 255 {
        return Err(bad("the repository is longer than 255 bytes"));
    }
    let registry = if registry == "index.docker.io" {
        DOCKER_HUB.to_string()
    } else {
        registry
    };
    let path = if registry == DOCKER_HUB && !path.contains('/') {
        format!("library/{path}")
    } else {
        path
    };
    let digest = digest.map(str::to_string);
    Ok(match (tag, digest) {
        (Some(tag), Some(digest)) => {
            Reference::with_tag_and_digest(registry, path, tag.to_string(), digest)
        }
        (None, Some(digest)) => Reference::with_digest(registry, path, digest),
        (tag, None) => Reference::with_tag(registry, path, tag.unwrap_or("latest").to_string()),
    })
}

/// `[\w][\w.-]{0,127}`.
fn is_tag(tag: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && word(bytes[0])
        && bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-')
}

/// `alpha-numeric (separator alpha-numeric)*`, where a separator is `.`,
/// `_`, `__` or one or more `-`.
fn is_path_component(component: &str) -> bool {
    let lower = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = component.as_bytes();
    if bytes.is_empty() || !lower(bytes[0]) || !lower(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if lower(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !lower(bytes[i]) {
            i += 1;
        }
        let separator = &component[start..i];
        let valid = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if !valid {
            return false;
        }
    }
    true
}

/// `host[:port]`: DNS labels (or an IPv4 address) separated by '.'; the
/// port is digits. (Bracketed IPv6 hosts are left out, as `oci-spec`'s
/// grammar leaves them out.)
fn is_registry(registry: &str) -> bool {
    let (host, port) = match registry.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (registry, None),
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let label = |l: &str| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    port_ok && host.split('.').all(label)
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

    /// The parser agrees with `oci-spec`'s (a regular expression from
    /// distribution's grammar) on what is valid and what it means.
    #[test]
    fn the_parser_agrees_with_oci_specs() {
        let cases = [
            "app",
            "app:v1",
            "team/app",
            "team/app:1.0-rc_2",
            "a.b/c",
            "a:5000/c/d:e",
            "localhost/app",
            "localhost:5000/app",
            "127.0.0.1:5000/x/y/z:t",
            "[::1]:5000/app",
            "index.docker.io/app",
            "docker.io/library/app:latest",
            "my-app",
            "my--app",
            "my__app",
            "my_app",
            "my.app",
            "a-b.c_d/e",
            "app@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "app:v1@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "App",
            "app:",
            ":v1",
            "app:-x",
            "app:.x",
            "a//b",
            "/app",
            "app/",
            "-app",
            "app-",
            "a___b",
            "a..b",
            "a._b",
            "Host/app",
            "ho_st.com/app",
            "host.com:/app",
            "host.com:x/app",
            "app@sha256:12",
            "app@md5:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "a b",
            "app:v 1",
            "app!",
            "ex\u{e4}mple.com/app",
        ];
        for case in cases {
            let ours = parse(case).map(|r| r.whole());
            let theirs = case.parse::<Reference>().map(|r| r.whole());
            match (&ours, &theirs) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{case}"),
                (Err(_), Err(_)) => {}
                _ => panic!("{case}: ours {ours:?}, oci-spec's {theirs:?}"),
            }
        }
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
