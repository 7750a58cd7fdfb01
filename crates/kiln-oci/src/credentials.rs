//! Registry credentials: `kiln login` stores them in Docker's
//! `config.json` format in the state directory, readable by the user only;
//! lookups fall back to Docker's own configuration (and its credential
//! helpers), so a user already logged in with Docker need not log in again.

use std::collections::BTreeMap;
use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use oci_client::secrets::RegistryAuth;
use serde::{Deserialize, Serialize};

use crate::durable::{create_private_dir, write_atomically};
use crate::error::{Error, Result};

/// The credentials file, in Docker's format.
#[derive(Default, Serialize, Deserialize)]
struct File {
    #[serde(default)]
    auths: BTreeMap<String, Entry>,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    /// base64 of `user:password`, as Docker writes it.
    auth: String,
}

/// Kiln's credentials for registries.
pub struct Credentials {
    path: PathBuf,
}

impl Credentials {
    /// The credentials kept at `path`.
    pub fn at(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
        }
    }

    /// How to authenticate to `registry`: Kiln's stored login, else
    /// Docker's, else anonymously.
    pub fn auth_for(&self, registry: &str) -> Result<RegistryAuth> {
        if let Some(entry) = self.read()?.auths.get(registry) {
            return decode(&entry.auth, &self.path, registry);
        }
        Ok(match docker_credential::get_credential(registry) {
            Ok(docker_credential::DockerCredential::UsernamePassword(user, password)) => {
                RegistryAuth::Basic(user, password)
            }
            Ok(docker_credential::DockerCredential::IdentityToken(token)) => {
                RegistryAuth::Bearer(token)
            }
            Err(_) => RegistryAuth::Anonymous,
        })
    }

    /// Stores a login (replacing one for the same registry).
    pub fn store(&self, registry: &str, user: &str, password: &str) -> Result<()> {
        let mut file = self.read()?;
        file.auths.insert(
            registry.to_string(),
            Entry {
                auth: BASE64.encode(format!("{user}:{password}")),
            },
        );
        self.write(&file)
    }

    /// Forgets the login for `registry`; whether there was one.
    pub fn remove(&self, registry: &str) -> Result<bool> {
        let mut file = self.read()?;
        let removed = file.auths.remove(registry).is_some();
        if removed {
            self.write(&file)?;
        }
        Ok(removed)
    }

    fn read(&self) -> Result<File> {
        match fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                Error::BadImage(format!(
                    "{}: not a credentials file: {e}",
                    self.path.display()
                ))
            }),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(File::default()),
            Err(e) => Err(Error::io("reading", &self.path)(e)),
        }
    }

    fn write(&self, file: &File) -> Result<()> {
        if let Some(dir) = self.path.parent() {
            create_private_dir(dir)?;
        }
        let json = serde_json::to_vec_pretty(file).expect("a map of strings serializes");
        write_atomically(&self.path, &json, 0o600)?;
        // A file that existed with wider permissions is narrowed too.
        fs::set_permissions(&self.path, fs::Permissions::from_mode(0o600))
            .map_err(Error::io("restricting", &self.path))
    }
}

fn decode(auth: &str, path: &Path, registry: &str) -> Result<RegistryAuth> {
    let bad = || {
        Error::BadImage(format!(
            "{}: the login for {registry} is malformed",
            path.display()
        ))
    };
    let text = String::from_utf8(BASE64.decode(auth).map_err(|_| bad())?).map_err(|_| bad())?;
    let (user, password) = text.split_once(':').ok_or_else(bad)?;
    Ok(RegistryAuth::Basic(user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn logins_are_kept_readable_by_the_user_only() {
        // The state directory need not exist yet.
        let dir = std::env::temp_dir().join(format!("kiln-credentials-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let path = dir.join("credentials.json");
        let credentials = Credentials::at(&path);
        credentials
            .store("localhost:5000", "alice", "s3:cret")
            .expect("succeeds");
        assert_eq!(fs::metadata(&path).expect("succeeds").mode() & 0o777, 0o600);
        let auth = credentials.auth_for("localhost:5000").expect("succeeds");
        assert!(matches!(auth, RegistryAuth::Basic(u, p) if u == "alice" && p == "s3:cret"));
        assert!(credentials.remove("localhost:5000").expect("succeeds"));
        assert!(!credentials.remove("localhost:5000").expect("succeeds"));
        fs::remove_dir_all(&dir).expect("succeeds");
    }
}
