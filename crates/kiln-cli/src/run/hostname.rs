//! `kiln run --hostname`: the name the guest's `uname` and `gethostname`
//! report.

use kiln_abi::boot::HOST_NAME_MAX;

use crate::exit_code::Failure;
use crate::instance::{generated_name, random_id};

/// `--hostname`'s value checked: 1 to `HOST_NAME_MAX` (64) characters,
/// letters, digits, `_`, `.` and `-`, starting with a letter or digit (the
/// instance names' rule, so every instance name is a valid host name).
pub fn check(name: &str) -> Result<String, String> {
    let valid = (1..=HOST_NAME_MAX).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if valid {
        Ok(name.to_owned())
    } else {
        Err(format!(
            "use 1 to {HOST_NAME_MAX} letters, digits, '_', '.' and '-', starting with a letter or digit"
        ))
    }
}

/// The host name of a run: `--hostname`'s, or for a foreground run one made
/// like a background instance's generated name (the program's name and six
/// random hex digits), as Docker names a container's host after its id.
pub fn choose(given: Option<&str>, program: &str) -> Result<String, Failure> {
    match given {
        Some(name) => Ok(name.to_owned()),
        None => Ok(generated_name(program, &random_id()?)),
    }
}
