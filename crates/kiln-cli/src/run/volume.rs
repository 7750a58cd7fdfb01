//! `-v HOST_DIR:GUEST_DIR[:OPTIONS]`: host directories for the guest, in
//! Docker's syntax; the options, comma-separated, are `ro` or `rw`, and
//! `rbind` to let paths cross into filesystems mounted inside the host
//! directory (refused by default, see the monitor's `volume::resolve`).
//! Checked before anything is built or booted, so a typo costs one clear
//! line.

use std::collections::HashSet;

use kiln_monitor::volume::VolumeSpec;

use crate::exit_code::{Failure, USAGE};

/// The `--volume` values as volumes, in order; the first bad one is a
/// usage error naming it.
pub fn parse_volumes(values: &[String]) -> Result<Vec<VolumeSpec>, Failure> {
    let max = kiln_abi::file::MAX_VOLUMES;
    if values.len() > max {
        return Err(Failure::new(
            USAGE,
            format!(
                "{} volumes given; a VM may have at most {max}",
                values.len()
            ),
        ));
    }
    let mut guest_paths = HashSet::new();
    let mut specs = Vec::with_capacity(values.len());
    for value in values {
        let invalid =
            |why: String| Failure::new(USAGE, format!("invalid --volume '{value}': {why}"));
        let spec = parse_volume(value).map_err(invalid)?;
        if !guest_paths.insert(spec.guest().to_string()) {
            return Err(invalid(format!(
                "{} is already a volume's guest path",
                spec.guest()
            )));
        }
        specs.push(spec);
    }
    Ok(specs)
}

/// One `HOST_DIR:GUEST_DIR[:OPTIONS]`, whose host directory must exist.
fn parse_volume(value: &str) -> Result<VolumeSpec, String> {
    let mut parts = value.splitn(3, ':');
    let host = parts.next().unwrap_or_default();
    let Some(guest) = parts.next() else {
        return Err("expected HOST_DIR:GUEST_DIR[:ro]".into());
    };
    let (mut read_only, mut submounts) = (false, false);
    for option in parts.next().map(|o| o.split(',')).into_iter().flatten() {
        match option {
            "rw" => read_only = false,
            "ro" => read_only = true,
            "rbind" => submounts = true,
            other => {
                return Err(format!(
                    "unknown option '{other}' (expected ro, rw or rbind)"
                ));
            }
        }
    }
    if host.is_empty() {
        return Err("the host directory is empty".into());
    }
    if guest.is_empty() {
        return Err("the guest path is empty".into());
    }
    let mut spec = VolumeSpec::new(host, guest, read_only).map_err(|e| e.to_string())?;
    if submounts {
        spec = spec.with_submounts();
    }
    match std::fs::metadata(host) {
        Ok(meta) if meta.is_dir() => Ok(spec),
        Ok(_) => Err(format!("{host} is not a directory")),
        Err(e) => Err(format!("{host}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> String {
        std::env::temp_dir().display().to_string()
    }

    fn parse(values: &[String]) -> Result<Vec<(String, bool)>, String> {
        parse_volumes(values)
            .map(|specs| {
                specs
                    .iter()
                    .map(|s| (s.guest().to_string(), s.read_only()))
                    .collect()
            })
            .map_err(|f| {
                assert_eq!(f.code, USAGE);
                f.message
            })
    }

    #[test]
    fn good_volumes_parse() {
        let h = host();
        let values = [
            format!("{h}:/data"),
            format!("{h}:/ro/:ro"),
            format!("{h}://rw/./x:rw"),
        ];
        assert_eq!(
            parse(&values),
            Ok(vec![
                ("/data".to_string(), false),
                ("/ro".to_string(), true),
                ("/rw/x".to_string(), false),
            ])
        );
        let specs = parse_volumes(&values[..1]).expect("parses");
        assert_eq!(specs[0].host(), std::path::Path::new(&h));
    }

    #[test]
    fn bad_volumes_are_usage_errors() {
        let h = host();
        for (value, why) in [
            (h.clone(), "expected HOST_DIR:GUEST_DIR[:ro]"),
            (format!("{h}:"), "the guest path is empty"),
            (":/data".to_string(), "the host directory is empty"),
            (format!("{h}:data"), "the guest path must be absolute"),
            (format!("{h}:/"), "the guest path cannot be /"),
            (
                format!("{h}:/a/../b"),
                "the guest path must not contain '..'",
            ),
            (
                format!("{h}:/data:rx"),
                "unknown option 'rx' (expected ro, rw or rbind)",
            ),
            (format!("{h}:/data:ro:x"), "unknown option 'ro:x'"),
            (
                "/nonexistent/kiln:/data".to_string(),
                "/nonexistent/kiln: No such file or directory (os error 2)",
            ),
            (
                "/dev/null:/data".to_string(),
                "/dev/null is not a directory",
            ),
        ] {
            let message = parse(std::slice::from_ref(&value)).expect_err(&value);
            assert!(
                message.starts_with(&format!("invalid --volume '{value}': ")),
                "{message}"
            );
            assert!(message.contains(why), "{value}: {message}");
        }
    }

    #[test]
    fn one_guest_path_takes_one_volume() {
        let h = host();
        let message = parse(&[format!("{h}:/data"), format!("{h}:/data/:ro")]).expect_err("twice");
        assert!(
            message.ends_with("/data is already a volume's guest path"),
            "{message}"
        );
    }
}
