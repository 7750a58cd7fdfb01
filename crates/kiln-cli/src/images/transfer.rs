//! `kiln push`, `kiln pull`, `kiln login` and `kiln logout`.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use kiln_oci::reference::{self, registry_of};
use kiln_oci::registry::Registry;
use kiln_oci::store::{Store, Tag};
use kiln_oci::{Reference, RegistryAuth};

use super::progress::Reporter;
use super::{credentials, find, open_store};
use crate::Outcome;
use crate::exit_code::{Failure, USAGE};

fn connect(reference: &Reference) -> Result<Registry, Failure> {
    let auth = credentials()?.auth_for(registry_of(reference))?;
    client(reference, auth)
}

/// A registry client trusting the CA certificates kept, as Docker keeps
/// them, in `<state>/certs.d/HOST[:PORT]/*.crt` or
/// `/etc/docker/certs.d/HOST[:PORT]/*.crt`.
fn client(reference: &Reference, auth: RegistryAuth) -> Result<Registry, Failure> {
    let certs_dirs = [
        crate::state::dir()?.join("certs.d"),
        PathBuf::from("/etc/docker/certs.d"),
    ];
    Ok(Registry::for_reference(reference, auth, &certs_dirs)?)
}

/// `kiln push REF`: sends the stored image to its registry.
pub fn push(text: &str) -> Outcome {
    let store = open_store()?;
    let tag = find(&store, text)?;
    let reference = reference::parse(text)?;
    let mut reporter = Reporter::new("pushed");
    let digest = connect(&reference)?.push(&store, &tag, &reference, &mut |e| reporter.show(e))?;
    say!("{}: digest: {digest}", reference.whole());
    Ok(ExitCode::SUCCESS)
}

/// `kiln pull REF`: fetches an image into the store.
pub fn pull(text: &str) -> Outcome {
    let store = open_store()?;
    let reference = reference::parse(text)?;
    let tag = pull_into(&store, &reference)?;
    say!("{}: digest: {}", tag.reference, tag.manifest);
    Ok(ExitCode::SUCCESS)
}

/// Pulls `reference` into `store`, showing progress.
pub fn pull_into(store: &Store, reference: &Reference) -> Result<Tag, Failure> {
    let before = store.find(&reference.whole())?;
    let mut reporter = Reporter::new("pulled");
    let tag = connect(reference)?.pull(store, reference, kiln_abi::ABI_VERSION, &mut |e| {
        reporter.show(e)
    })?;
    // The image the reference named before may now be unreachable.
    if before.is_some_and(|before| before.manifest != tag.manifest) {
        store.collect_garbage()?;
    }
    Ok(tag)
}

/// `kiln login REGISTRY`: checks the credentials with the registry, then
/// keeps them (readable by the user only). What is not given is asked for
/// on a terminal, as `docker login` does (the password without echo).
pub fn login(
    registry: &str,
    user: Option<String>,
    password: Option<String>,
    password_stdin: bool,
) -> Outcome {
    let registry = registry_name(registry)?;
    let user = match user {
        Some(user) => user,
        None => prompt("Username: ", true)?,
    };
    let password = match password {
        Some(password) => {
            tell!(
                "kiln: warning: a password on the command line is visible to other users; use --password-stdin"
            );
            password
        }
        None if password_stdin => {
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .map_err(|e| {
                    Failure::new(USAGE, format!("reading the password from stdin: {e}"))
                })?;
            password.trim_end_matches(['\n', '\r']).to_string()
        }
        None => prompt("Password: ", false)?,
    };
    if user.is_empty() || password.is_empty() {
        return Err(Failure::new(USAGE, "an empty user name or password"));
    }
    let probe = reference::parse(&format!("{registry}/kiln/login-check"))?;
    let auth = RegistryAuth::Basic(user.clone(), password.clone());
    client(&probe, auth)?.check_login()?;
    credentials()?.store(&registry, &user, &password)?;
    say!("Login Succeeded");
    Ok(ExitCode::SUCCESS)
}

/// Asks on the terminal (stdin) and reads one line, echoed or not.
fn prompt(question: &str, echo: bool) -> Result<String, Failure> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(Failure::new(
            USAGE,
            "kiln login needs --username and --password-stdin when stdin is not a terminal",
        ));
    }
    let failed = |e: std::io::Error| Failure::new(USAGE, format!("reading from the terminal: {e}"));
    let saved = tcgetattr(&stdin).map_err(|e| failed(e.into()))?;
    // Echo goes off before the question shows: an answer typed (or pasted)
    // the moment it appears must not be echoed.
    if !echo {
        let mut quiet = saved.clone();
        quiet.local_modes.remove(LocalModes::ECHO);
        tcsetattr(&stdin, OptionalActions::Now, &quiet).map_err(|e| failed(e.into()))?;
    }
    tell_raw!("{question}");
    let mut line = String::new();
    let read = stdin.read_line(&mut line);
    if !echo {
        let _ = tcsetattr(&stdin, OptionalActions::Now, &saved);
        tell!();
    }
    read.map_err(failed)?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// `kiln logout REGISTRY`.
pub fn logout(registry: &str) -> Outcome {
    let registry = registry_name(registry)?;
    if credentials()?.remove(&registry)? {
        say!("Removing login credentials for {registry}");
    } else {
        tell!("kiln: not logged in to {registry}");
    }
    Ok(ExitCode::SUCCESS)
}

/// A registry's host[:port], as references spell it.
fn registry_name(text: &str) -> Result<String, Failure> {
    let host = text
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let probe = reference::parse(&format!("{host}/kiln/probe"))?;
    if probe.registry() != host {
        return Err(Failure::new(
            USAGE,
            format!("invalid registry '{text}': expected HOST[:PORT]"),
        ));
    }
    Ok(host.to_string())
}
