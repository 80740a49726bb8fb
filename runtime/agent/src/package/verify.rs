//! Verifying a package against the trust store: the signature must be
//! valid for the key the package names, that key must be trusted, and the
//! trusted name must be the publisher the manifest claims.

use super::format::Package;
use super::keys;
use super::trust::TrustStore;
use thiserror::Error;

/// Why a package is not accepted.
#[derive(Debug, Error)]
pub enum VerifyError {
    /// No signature section.
    #[error(
        "the package is not signed; refusing it (pass --allow-unsigned to install it anyway, marked unverified)"
    )]
    Unsigned,
    /// The signature does not verify.
    #[error(
        "the signature does not match the package: it was modified after signing, or signed by another key than the one it names"
    )]
    BadSignature,
    /// Signed, but the key names nothing usable.
    #[error("the package names no valid publisher key")]
    NoKey,
    /// Valid signature by an untrusted key.
    #[error(
        "the package is signed by a key you do not trust ({fingerprint}). If you trust publisher `{publisher}`, run:\n    chitin trust add {publisher} {key}"
    )]
    UnknownPublisher {
        /// The publisher the manifest claims.
        publisher: String,
        /// The key text.
        key: String,
        /// Its fingerprint.
        fingerprint: String,
    },
    /// Trusted key, but under another name than the manifest claims.
    #[error(
        "the package claims publisher `{claimed}` but is signed by the key you trust as `{trusted}`; refusing (a key signs as one publisher: if you packed it yourself, pack it again with `chitin skill pack --publisher {trusted}`)"
    )]
    PublisherMismatch {
        /// The claim.
        claimed: String,
        /// The trusted name.
        trusted: String,
    },
}

/// Who signed a package, or that it is unverified.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Provenance {
    /// Trusted publisher name; `None` when unverified.
    pub publisher: Option<String>,
    /// The signing key (text form), if the package names one.
    pub key: Option<String>,
    /// The key's fingerprint.
    pub fingerprint: Option<String>,
    /// SHA-256 of the package file.
    pub digest: String,
    /// True only when the signature verified against a trusted key.
    pub verified: bool,
}

/// Check the signature only (no trust decision): the key it names, if valid.
pub fn check_signature(pkg: &Package) -> Result<wasmsign2::PublicKey, VerifyError> {
    if !pkg.signed {
        return Err(VerifyError::Unsigned);
    }
    let key_text = pkg.publisher_key.as_deref().ok_or(VerifyError::NoKey)?;
    let pk = keys::parse_public(key_text).map_err(|_| VerifyError::NoKey)?;
    pk.verify(&mut pkg.bytes.as_slice(), None)
        .map_err(|_| VerifyError::BadSignature)?;
    Ok(pk)
}

/// Verify `pkg` against `trust`. With `allow_unsigned`, an unsigned package
/// is accepted as unverified; a package with a bad signature never is.
pub fn verify(
    pkg: &Package,
    trust: &TrustStore,
    allow_unsigned: bool,
) -> Result<Provenance, VerifyError> {
    let pk = match check_signature(pkg) {
        Ok(pk) => pk,
        Err(VerifyError::Unsigned) if allow_unsigned => {
            return Ok(Provenance {
                publisher: None,
                key: None,
                fingerprint: None,
                digest: pkg.digest.clone(),
                verified: false,
            });
        }
        Err(e) => return Err(e),
    };
    let key = keys::public_text(&pk);
    let fingerprint = keys::fingerprint(&pk);
    let claimed = pkg.manifest.skill.publisher.clone();
    let trusted = trust
        .name_of(&pk)
        .ok_or_else(|| VerifyError::UnknownPublisher {
            publisher: claimed.clone(),
            key: key.clone(),
            fingerprint: fingerprint.clone(),
        })?;
    if trusted != claimed {
        return Err(VerifyError::PublisherMismatch {
            claimed,
            trusted: trusted.to_string(),
        });
    }
    Ok(Provenance {
        publisher: Some(trusted.to_string()),
        key: Some(key),
        fingerprint: Some(fingerprint),
        digest: pkg.digest.clone(),
        verified: true,
    })
}
