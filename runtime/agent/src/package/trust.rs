//! The trust store: which publisher names the user trusts, with their keys
//! (`trust.toml`, `[publishers] name = "ed25519:…"`).

use super::keys::{self, KeyError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use thiserror::Error;
use wasmsign2::PublicKey;

/// Trust store errors.
#[derive(Debug, Error)]
pub enum TrustError {
    /// File trouble.
    #[error("trust store {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Unreadable file.
    #[error("trust store {path} is corrupt: {detail}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// Bad name.
    #[error("invalid publisher name `{0}`: use letters, digits, `-`, `_` and `.`")]
    BadName(String),
    /// Bad key.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The key is already trusted under another name.
    #[error(
        "that key is already trusted as `{0}`: a key signs as one publisher; sign your packages as `{0}` (`chitin skill pack --publisher {0}`), or run `chitin trust remove {0}` first"
    )]
    DuplicateKey(String),
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    publishers: BTreeMap<String, String>,
}

/// The loaded trust store.
#[derive(Debug)]
pub struct TrustStore {
    path: PathBuf,
    publishers: BTreeMap<String, String>,
}

/// A publisher name the trust store accepts: 1–64 of letters, digits, `-`, `_`, `.`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

impl TrustStore {
    /// Open (empty if missing).
    pub fn open(path: &Path) -> Result<Self, TrustError> {
        let publishers = match std::fs::read_to_string(path) {
            Ok(text) => {
                toml::from_str::<File>(&text)
                    .map_err(|e| TrustError::Corrupt {
                        path: path.to_path_buf(),
                        detail: e.to_string(),
                    })?
                    .publishers
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(source) => {
                return Err(TrustError::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        Ok(TrustStore {
            path: path.to_path_buf(),
            publishers,
        })
    }

    /// Trust `key` as `name` (replacing that name's key) and save.
    pub fn add(&mut self, name: &str, key: &str) -> Result<(), TrustError> {
        if !valid_name(name) {
            return Err(TrustError::BadName(name.to_string()));
        }
        let pk = keys::parse_public(key)?;
        if let Some(other) = self.name_of(&pk).filter(|n| *n != name) {
            return Err(TrustError::DuplicateKey(other.to_string()));
        }
        self.publishers
            .insert(name.to_string(), keys::public_text(&pk));
        self.save()
    }

    /// Stop trusting `name`; false if it was not trusted.
    pub fn remove(&mut self, name: &str) -> Result<bool, TrustError> {
        let had = self.publishers.remove(name).is_some();
        if had {
            self.save()?;
        }
        Ok(had)
    }

    /// `(name, key text)` pairs.
    pub fn list(&self) -> impl Iterator<Item = (&str, &str)> {
        self.publishers
            .iter()
            .map(|(n, k)| (n.as_str(), k.as_str()))
    }

    /// The name under which `pk` is trusted.
    pub fn name_of(&self, pk: &PublicKey) -> Option<&str> {
        let text = keys::public_text(pk);
        self.publishers
            .iter()
            .find(|(_, k)| **k == text)
            .map(|(n, _)| n.as_str())
    }

    fn save(&self) -> Result<(), TrustError> {
        let io = |source| TrustError::Io {
            path: self.path.clone(),
            source,
        };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        chitin_sandbox::capabilities::secrets::create_private_dir(dir).map_err(io)?;
        let text = toml::to_string(&File {
            publishers: self.publishers.clone(),
        })
        .map_err(|e| TrustError::Corrupt {
            path: self.path.clone(),
            detail: e.to_string(),
        })?;
        let tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
        std::fs::write(tmp.path(), text).map_err(io)?;
        tmp.persist(&self.path).map_err(|e| io(e.error))?;
        Ok(())
    }
}
