//! `kiln profile NAME --seconds N -o FILE.svg`: a flame graph of a running
//! background instance. The monitor samples the guest's stacks for that
//! long, at the rate asked, and answers on its control socket with the
//! folded stacks; the CLI writes them and draws the flame graph, as `kiln
//! run --profile` does.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::ExitCode;

use super::Store;
use crate::Outcome;
use crate::exit_code::{Failure, HOST, USAGE};
use crate::run::profile::Outputs;

/// Profiles the instance `key` for `seconds` at `hz`, into `svg` and the
/// folded stacks beside it.
pub fn profile(key: &str, seconds: u64, hz: u32, svg: &Path) -> Outcome {
    let instance = Store::open()?.find_running(key)?;
    let name = &instance.config.name;
    let writer = Outputs::create(svg)?.spawn(format!("kiln profile {name}"));
    let unreachable = |e: std::io::Error| {
        Failure::new(HOST, format!("cannot reach the monitor of '{name}': {e}"))
    };
    let mut monitor = UnixStream::connect(instance.control_socket()?).map_err(unreachable)?;
    writeln!(monitor, "profile {hz} {seconds}").map_err(unreachable)?;
    let mut answer = BufReader::new(monitor).lines();
    let first = answer
        .next()
        .transpose()
        .map_err(unreachable)?
        .unwrap_or_default();
    let samples = match first.split_once(' ') {
        Some(("ok", samples)) => samples.parse().unwrap_or(0),
        Some(("error", error)) => return Err(Failure::new(USAGE, format!("{name}: {error}"))),
        _ => {
            return Err(Failure::new(
                HOST,
                format!("the monitor of '{name}' ended before the profile did"),
            ));
        }
    };
    let lines = answer
        .collect::<Result<Vec<String>, _>>()
        .map_err(unreachable)?;
    writer
        .finish_folded(lines, samples)
        .map_err(|e| Failure::new(HOST, e))?;
    Ok(ExitCode::SUCCESS)
}
