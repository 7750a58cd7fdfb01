//! Parsing sizes (`8M`, `512KiB`) and durations (`10s`, `500ms`).

use std::time::Duration;

/// Parses a byte size: a number with an optional `K`, `M` or `G` suffix
/// (binary units; `KiB`/`KB`/`k` spellings accepted). A bare number is bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a size (try 8M or 512K)"))?;
    let shift = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return Err(format!("'{text}' has an unknown unit (use K, M or G)")),
    };
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("'{text}' is too large"))
}

/// Parses a guest memory size and checks it against what the monitor accepts.
pub fn parse_memory(text: &str) -> Result<u64, String> {
    use kiln_abi::layout::{MAX_MEMORY, MIN_MEMORY, is_valid_memory_size};
    let size = parse_size(text)?;
    if is_valid_memory_size(size) {
        Ok(size)
    } else {
        Err(format!(
            "'{text}': guest memory must be a multiple of 2 MiB from {} MiB to {} GiB",
            MIN_MEMORY >> 20,
            MAX_MEMORY >> 30
        ))
    }
}

/// Parses `--cpus`: 1 to `MAX_VCPUS`.
pub fn parse_cpus(text: &str) -> Result<u32, String> {
    use kiln_abi::boot::MAX_VCPUS;
    text.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_VCPUS as u32).contains(n))
        .ok_or_else(|| format!("'{text}': the number of vCPUs must be from 1 to {MAX_VCPUS}"))
}

/// The vCPUs a guest gets without `--cpus`: the host's CPUs as this process
/// may use them (its affinity and cgroup CPU limit), at most `MAX_VCPUS`.
pub fn default_cpus() -> u32 {
    let host = std::thread::available_parallelism().map_or(1, |n| n.get());
    host.min(kiln_abi::boot::MAX_VCPUS) as u32
}

/// Parses a duration: a number with `ms`, `s`, `m` or `h`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a duration (try 10s or 500ms)"))?;
    let seconds = match unit {
        "ms" => number / 1000.0,
        "" | "s" => number,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        _ => return Err(format!("'{text}' has an unknown unit (use ms, s, m or h)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("'{text}' is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("8M"), Ok(8 << 20));
        assert_eq!(parse_size("512KiB"), Ok(512 << 10));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("M").is_err());
        assert!(parse_size("8X").is_err());
        assert!(parse_size("99999999999999999999G").is_err());
        assert!(parse_size("18446744073709551615G").is_err());
    }

    #[test]
    fn memory_sizes() {
        assert_eq!(parse_memory("2M"), Ok(2 << 20));
        assert_eq!(parse_memory("4G"), Ok(4 << 30));
        for bad in ["1M", "3M", "5G", "0"] {
            assert!(parse_memory(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cpus() {
        assert_eq!(parse_cpus("1"), Ok(1));
        assert_eq!(parse_cpus("16"), Ok(16));
        for bad in ["0", "17", "-1", "two", ""] {
            let error = parse_cpus(bad).expect_err(bad);
            assert!(error.contains("from 1 to 16"), "{error}");
        }
        assert!((1..=16).contains(&default_cpus()));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5m"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5y").is_err());
    }
}
