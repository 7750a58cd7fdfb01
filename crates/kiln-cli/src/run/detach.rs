//! `kiln run -d`: the same run as an instance in the background.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use kiln_monitor::volume::VolumeSpec;

use super::{RunArgs, guest_env};
use crate::Outcome;
use crate::exit_code::{Failure, HOST};
use crate::instance::{Config, commands, now_ms};

fn absolute(path: &Path) -> Result<PathBuf, Failure> {
    std::path::absolute(path).map_err(|e| Failure::new(HOST, format!("{}: {e}", path.display())))
}

/// Creates the instance for `args` (already checked and built) and starts
/// its supervisor; prints the instance's id.
pub(super) fn start(
    args: &RunArgs,
    image: &Path,
    reference: Option<String>,
    volumes: &[VolumeSpec],
) -> Outcome {
    let image = absolute(image)?;
    // The supervisor runs `kiln run` with these arguments later, from
    // another directory and environment: everything is spelled out.
    let mut run_args = vec![format!("--memory={}M", args.memory() >> 20)];
    if let Some(cpus) = args.cpus {
        run_args.push(format!("--cpus={cpus}"));
    }
    for entry in guest_env(&args.env)? {
        run_args.push(format!("--env={entry}"));
    }
    for volume in volumes {
        let host = absolute(volume.host())?;
        let options = match (volume.read_only(), volume.cross_mounts()) {
            (false, false) => "",
            (true, false) => ":ro",
            (false, true) => ":rbind",
            (true, true) => ":ro,rbind",
        };
        run_args.push(format!(
            "--volume={}:{}{options}",
            host.display(),
            volume.guest()
        ));
    }
    for publish in &args.publish {
        run_args.push(format!("--publish={publish}"));
    }
    for (flag, value) in [
        ("hostname", &args.hostname),
        ("workdir", &args.workdir),
        ("net", &args.net),
        ("ip", &args.ip),
        ("gateway", &args.gateway),
        ("mac", &args.mac),
        ("dns", &args.dns),
    ] {
        if let Some(value) = value {
            run_args.push(format!("--{flag}={value}"));
        }
    }
    if let Some(timeout) = args.timeout {
        run_args.push(format!("--timeout={}ms", timeout.as_millis()));
    }
    if args.trace_libc {
        run_args.push("--trace-libc".into());
    }
    if args.verbose {
        run_args.push("--verbose".into());
    }
    run_args.push(image.display().to_string());
    run_args.push("--".into());
    run_args.extend(args.args.iter().cloned());
    let config = Config {
        name: args.name.clone().unwrap_or_default(),
        image,
        reference,
        run_args,
        restart: args.restart,
        memory: args.memory(),
        created_ms: now_ms(),
        served_by: None,
    };
    let instance = commands::launch(config)?;
    say!("{}", instance.id);
    Ok(ExitCode::SUCCESS)
}
