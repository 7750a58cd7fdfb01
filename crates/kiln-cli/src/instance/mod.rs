//! Instances: unikernels running in the background (`kiln run -d`).
//!
//! Kiln is daemonless. Each instance has a *supervisor*, a `kiln supervise
//! ID` process started by `kiln run -d` in a process group of its own, which
//! runs the monitor (`kiln run IMAGE ...`) as its child, writes the console
//! to the instance's log, applies the restart policy and records the state.
//! The other commands (`ps`, `logs`, `stop`...) only read those records and
//! signal supervisors; nothing else runs in the background, and instances
//! outlive the CLI.
//!
//! Each instance is a directory under the state directory ([`Store`]):
//! `config.json` (what to run, written once), `state.json` (written by the
//! supervisor, atomically), `console.log` (rotated by size), and
//! `last-error.txt` (the monitor's stderr of the last run that crashed).
//! A name is taken in `names/` before the record is built, and the record
//! appears whole (renamed into place): a creation killed at any moment
//! leaves a complete instance, or nothing once the next reader has cleared
//! its claim (`names`).
//! The running monitor listens on `control`, a Unix socket (mode 0600),
//! for `kiln debug` ([`debug`]) and `kiln profile` ([`profile`]).
//! A supervisor that died without recording its end is found by `ps`, which
//! records the instance as exited rather than leaving a ghost.

mod debug;
mod log;
mod names;
mod proc;
mod profile;
mod store;
mod supervise;

pub mod commands;

pub use debug::debug;
pub use proc::{SUPERVISOR_ENV, die_with_supervisor, me, signal};
pub use profile::profile;
pub use store::{
    Config, Instance, RestartPolicy, ServedBy, State, Status, Store, generated_name, now_ms,
    random_id,
};
pub use supervise::supervise;
