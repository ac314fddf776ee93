//! Where the binaries find the pre-shared key: `--key-file`, then the environment variable
//! `KCPQ_AES256_KEY_HEX`, then `./kcpq.key`. Only the server creates a key, and only at
//! `./kcpq.key` when none of the three exists.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use kcpq_core::crypto::key::KEY_ENV_VAR;
use kcpq_core::crypto::{KeyError, KeySet, generate_key_file};
use kcpq_core::rng::Rng;

use kcpq_os::fresh_seed;

/// The key file used when neither `--key-file` nor the environment names a key.
pub const DEFAULT_KEY_FILE: &str = "kcpq.key";

/// Where the key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeySource {
    /// A key file that already existed.
    File(PathBuf),
    /// The environment variable `KCPQ_AES256_KEY_HEX`.
    Env,
    /// A key file created now, with a fresh random key.
    Created(PathBuf),
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::File(path) => write!(f, "key file {}", path.display()),
            KeySource::Env => write!(f, "environment variable {KEY_ENV_VAR}"),
            KeySource::Created(path) => write!(f, "new key file {}", path.display()),
        }
    }
}

/// Why no key was found.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyDiscoveryError {
    /// A key was found but is invalid, or the file is unreadable.
    #[error(transparent)]
    Invalid(#[from] KeyError),
    /// No key anywhere (clients never create one).
    #[error(
        "no key found: pass --key-file PATH, set {KEY_ENV_VAR} to 64 hex characters, or put the server's key file at ./{DEFAULT_KEY_FILE} (the server creates it on first start)"
    )]
    NotFound,
    /// The server could not create its key file.
    #[error("cannot create the key file {path}: {source}")]
    Create {
        /// The file.
        path: PathBuf,
        /// The system's reason.
        source: std::io::Error,
    },
}

/// The key a client uses: `key_file`, else the environment, else `./kcpq.key` in `dir`.
pub fn client_keys(
    key_file: Option<&Path>,
    dir: &Path,
) -> Result<(KeySet, KeySource), KeyDiscoveryError> {
    if let Some(found) = existing_keys(key_file, dir)? {
        return Ok(found);
    }
    Err(KeyDiscoveryError::NotFound)
}

/// The keys a server accepts: as [`client_keys`], but with no key anywhere it creates
/// `./kcpq.key` in `dir` (mode 0600 on Unix) holding a fresh random key.
pub fn server_keys(
    key_file: Option<&Path>,
    dir: &Path,
) -> Result<(KeySet, KeySource), KeyDiscoveryError> {
    if let Some(found) = existing_keys(key_file, dir)? {
        return Ok(found);
    }
    let path = dir.join(DEFAULT_KEY_FILE);
    let create = |source| KeyDiscoveryError::Create {
        path: path.clone(),
        source,
    };
    let mut rng = Rng::from_seed(fresh_seed().map_err(create)?);
    let text = generate_key_file(&mut rng);
    let mut file = new_private_file(&path).map_err(create)?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(create)?;
    let keys = KeySet::load_file(&path)?;
    Ok((keys, KeySource::Created(path)))
}

fn existing_keys(
    key_file: Option<&Path>,
    dir: &Path,
) -> Result<Option<(KeySet, KeySource)>, KeyDiscoveryError> {
    if let Some(path) = key_file {
        let keys = KeySet::load_file(path)?;
        return Ok(Some((keys, KeySource::File(path.to_owned()))));
    }
    if std::env::var_os(KEY_ENV_VAR).is_some() {
        return Ok(Some((KeySet::from_env()?, KeySource::Env)));
    }
    let default = dir.join(DEFAULT_KEY_FILE);
    if default.exists() {
        let keys = KeySet::load_file(&default)?;
        return Ok(Some((keys, KeySource::File(default))));
    }
    Ok(None)
}

/// Creates `path`, failing if it exists, readable by its owner only.
fn new_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}
