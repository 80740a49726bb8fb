//! Publisher keys: Ed25519, stored as PEM in a 0600 file; public keys shown
//! in a copyable text form `ed25519:<hex>` with a short fingerprint.

use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use thiserror::Error;
use wasmsign2::{KeyPair, PublicKey, SecretKey};

const TEXT_PREFIX: &str = "ed25519:";

/// Key errors.
#[derive(Debug, Error)]
pub enum KeyError {
    /// Refusing to overwrite a key.
    #[error(
        "{0} already exists; refusing to overwrite a key (remove it yourself if you really mean to)"
    )]
    Exists(PathBuf),
    /// File trouble.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Not a key.
    #[error("{0} is not an Ed25519 private key in PEM form (make one with `chitin key generate`)")]
    BadSecret(PathBuf),
    /// Not a public key text.
    #[error(
        "`{0}` is not a public key; expected `ed25519:` followed by 64 hex digits (as `chitin key show` prints)"
    )]
    BadPublic(String),
}

/// A public key in text form, e.g. `ed25519:3b6a…`.
pub fn public_text(pk: &PublicKey) -> String {
    format!("{TEXT_PREFIX}{}", hex::encode(pk.pk.as_ref()))
}

/// Parse the text form.
pub fn parse_public(text: &str) -> Result<PublicKey, KeyError> {
    let bad = || KeyError::BadPublic(text.to_string());
    let hex_part = text.trim().strip_prefix(TEXT_PREFIX).ok_or_else(bad)?;
    let raw = hex::decode(hex_part).map_err(|_| bad())?;
    if raw.len() != 32 {
        return Err(bad());
    }
    let mut bytes = vec![0x01];
    bytes.extend_from_slice(&raw);
    PublicKey::from_bytes(&bytes).map_err(|_| bad())
}

/// A short fingerprint: `SHA256:` and the first 16 bytes, hex.
pub fn fingerprint(pk: &PublicKey) -> String {
    format!(
        "SHA256:{}",
        hex::encode(&Sha256::digest(pk.pk.as_ref())[..16])
    )
}

/// Generate a key pair and write the private key to `path` (0600, never
/// overwriting). Returns the key pair.
pub fn generate(path: &Path) -> Result<KeyPair, KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    if path.exists() {
        return Err(KeyError::Exists(path.to_path_buf()));
    }
    if let Some(dir) = path.parent() {
        chitin_sandbox::capabilities::secrets::create_private_dir(dir).map_err(io)?;
    }
    let pair = KeyPair::generate();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => KeyError::Exists(path.to_path_buf()),
        _ => io(e),
    })?;
    file.write_all(pair.sk.to_pem().as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok(pair)
}

/// Load a private key (and derive its public key).
pub fn load(path: &Path) -> Result<KeyPair, KeyError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let sk = SecretKey::from_pem(&text).map_err(|_| KeyError::BadSecret(path.to_path_buf()))?;
    let pk = PublicKey {
        pk: sk.sk.public_key(),
        key_id: None,
    };
    Ok(KeyPair { pk, sk })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_load_and_text_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k").join("publisher.pem");
        let pair = generate(&path).unwrap();
        assert!(matches!(generate(&path), Err(KeyError::Exists(_))));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let loaded = load(&path).unwrap();
        assert_eq!(loaded.pk, pair.pk);
        let text = public_text(&pair.pk);
        assert_eq!(parse_public(&text).unwrap(), pair.pk);
        for bad in [
            "",
            "ed25519:",
            "ed25519:zz",
            "rsa:00",
            &text[..text.len() - 2],
        ] {
            assert!(parse_public(bad).is_err(), "{bad}");
        }
        assert!(fingerprint(&pair.pk).starts_with("SHA256:"));
    }
}
