//! Secrets: the host-side store (a 0600 file) and the rules saying where a
//! secret is injected.
//!
//! A skill never reads a secret: the host adds it to matching outbound
//! requests (see `net`), refuses guest-set headers of the same name, and
//! scrubs the value from responses, outputs and logs (see [`crate::redact`]).

use super::net::rules::{HostPattern, NetRule, RuleError};
use super::{CallParts, Factor, SetupError};
use crate::audit::Capability;
use crate::redact::Redactor;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use thiserror::Error;

/// Errors of the secret store and secret rules.
#[derive(Debug, Error)]
pub enum SecretError {
    /// The name is not `[A-Za-z_][A-Za-z0-9_]*`.
    #[error(
        "invalid secret name `{0}`: use letters, digits and `_`, not starting with a digit (e.g. GITHUB_TOKEN)"
    )]
    BadName(String),
    /// The value is too short to be redacted safely.
    #[error(
        "the value of secret `{0}` is shorter than {MIN_LEN} characters; Chitin refuses it because it could not be redacted reliably"
    )]
    TooShort(String),
    /// Reading or writing the store failed.
    #[error("secret store {path}: {source}")]
    Io {
        /// The store file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The store file is not valid.
    #[error("secret store {path} is corrupt: {detail}; fix or remove the file")]
    Corrupt {
        /// The store file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The store file can be read by others.
    #[error(
        "secret store {path} has permissions {mode:o}; it must be 600 (run `chmod 600 {path}`)"
    )]
    Permissions {
        /// The store file.
        path: PathBuf,
        /// Its current mode.
        mode: u32,
    },
    /// The rule's host is not a single exact host.
    #[error(
        "secret `{name}`: `{host}` must name one exact host (no wildcards): a secret is sent only there"
    )]
    WildcardHost {
        /// Secret name.
        name: String,
        /// The offending host entry.
        host: String,
    },
    /// The rule's host entry does not parse.
    #[error("secret `{name}`: {source}")]
    Host {
        /// Secret name.
        name: String,
        /// Parse error.
        source: RuleError,
    },
    /// The header name is not a valid HTTP header name.
    #[error("secret `{name}`: `{header}` is not a valid HTTP header name")]
    BadHeader {
        /// Secret name.
        name: String,
        /// The header.
        header: String,
    },
}

/// Shortest secret value accepted.
pub const MIN_LEN: usize = 6;

/// Check a secret name.
pub fn validate_name(name: &str) -> Result<(), SecretError> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(SecretError::BadName(name.to_string()))
    }
}

/// Where and how a secret is injected: into requests to exactly `host`, as
/// header `header` with value `prefix + secret`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRule {
    /// Secret name in the store.
    pub name: String,
    /// The one host (scheme, host, port) it is sent to.
    pub host: String,
    /// Header name (lowercase), e.g. `authorization`.
    #[serde(default = "default_header")]
    pub header: String,
    /// Text before the value, e.g. `Bearer `.
    #[serde(default)]
    pub prefix: String,
}

fn default_header() -> String {
    "authorization".to_string()
}

impl SecretRule {
    /// Validate the rule and return its parsed host.
    pub fn target(&self) -> Result<NetRule, SecretError> {
        validate_name(&self.name)?;
        let rule = NetRule::parse(&self.host).map_err(|source| SecretError::Host {
            name: self.name.clone(),
            source,
        })?;
        if !matches!(rule.host, HostPattern::Exact(_)) || rule.port.is_none() {
            return Err(SecretError::WildcardHost {
                name: self.name.clone(),
                host: self.host.clone(),
            });
        }
        if http::HeaderName::from_bytes(self.header.as_bytes()).is_err() {
            return Err(SecretError::BadHeader {
                name: self.name.clone(),
                header: self.header.clone(),
            });
        }
        Ok(rule)
    }
}

/// A rule with its value, ready for the network hook.
#[derive(Clone)]
pub struct InjectedSecret {
    /// The rule.
    pub rule: SecretRule,
    /// Parsed target host.
    pub target: NetRule,
    /// The value (never shown).
    pub value: String,
}

impl std::fmt::Debug for InjectedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InjectedSecret")
            .field("rule", &self.rule)
            .field("value", &crate::redact::REDACTED)
            .finish()
    }
}

/// Where secret values come from (the host's secret store, or a test map).
pub trait SecretSource: Sync {
    /// The value of `name`, if set.
    fn secret(&self, name: &str) -> Option<String>;
}

impl SecretSource for SecretStore {
    fn secret(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_string)
    }
}

impl SecretSource for std::collections::HashMap<String, String> {
    fn secret(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// No secrets at all.
pub struct NoSecrets;

impl SecretSource for NoSecrets {
    fn secret(&self, _: &str) -> Option<String> {
        None
    }
}

/// A granted secret that cannot be injected, and why (audited in every call).
#[derive(Debug, Clone)]
struct Refusal {
    name: String,
    reason: String,
    hint: Option<String>,
}

/// The secrets' part of a skill's calls, prepared once: every granted rule
/// parsed, every value read from the source, the redactor built. Each call
/// records again why a granted secret is missing.
pub struct SecretsPlan {
    injected: Arc<[InjectedSecret]>,
    redactor: Redactor,
    refusals: Vec<Refusal>,
}

impl SecretsPlan {
    /// Resolve `rules` against `source`. A rule that does not parse, a value
    /// that is not set, and a value too short to redact reliably (from any
    /// source, not only the store) are never injected.
    pub fn new(rules: &[SecretRule], source: &dyn SecretSource) -> Self {
        let mut injected = Vec::new();
        let mut refusals = Vec::new();
        for rule in rules {
            let refuse = |reason: String, hint: Option<String>| Refusal {
                name: rule.name.clone(),
                reason,
                hint,
            };
            let target = match rule.target() {
                Ok(t) => t,
                Err(e) => {
                    refusals.push(refuse(e.to_string(), None));
                    continue;
                }
            };
            match source.secret(&rule.name) {
                Some(value) if value.chars().count() < MIN_LEN => refusals.push(refuse(
                    format!(
                        "secret {} is shorter than {MIN_LEN} characters, too short to redact reliably; not injected",
                        rule.name
                    ),
                    None,
                )),
                Some(value) => injected.push(InjectedSecret {
                    rule: rule.clone(),
                    target,
                    value,
                }),
                None => refusals.push(refuse(
                    format!("secret {} is granted but not set", rule.name),
                    Some(format!("set it with `chitin secret set {}`", rule.name)),
                )),
            }
        }
        let redactor = Redactor::new(injected.iter().map(|s| s.value.as_str()));
        SecretsPlan {
            injected: injected.into(),
            redactor,
            refusals,
        }
    }

    /// The secrets to inject.
    pub fn injected(&self) -> Arc<[InjectedSecret]> {
        self.injected.clone()
    }

    /// Redacts every injected value.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }
}

impl Factor for SecretsPlan {
    fn install(&self, call: &mut CallParts) -> Result<(), SetupError> {
        for r in &self.refusals {
            call.audit
                .deny(Capability::Secret, &r.name, &r.reason, r.hint.clone());
        }
        Ok(())
    }
}

/// The host's secret store: a JSON map in a file only the user can read.
#[derive(Debug)]
pub struct SecretStore {
    path: PathBuf,
    values: BTreeMap<String, String>,
}

impl SecretStore {
    /// Open the store at `path` (empty if the file does not exist yet).
    pub fn open(path: &Path) -> Result<Self, SecretError> {
        let io = |source| SecretError::Io {
            path: path.to_path_buf(),
            source,
        };
        let values = match std::fs::read(path) {
            Ok(bytes) => {
                check_mode(path)?;
                serde_json::from_slice(&bytes).map_err(|e| SecretError::Corrupt {
                    path: path.to_path_buf(),
                    detail: e.to_string(),
                })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(io(e)),
        };
        Ok(SecretStore {
            path: path.to_path_buf(),
            values,
        })
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Names of all secrets (never values).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    /// Set `name` and save.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), SecretError> {
        validate_name(name)?;
        if value.chars().count() < MIN_LEN {
            return Err(SecretError::TooShort(name.to_string()));
        }
        self.values.insert(name.to_string(), value.to_string());
        self.save()
    }

    /// Remove `name` and save; false if it was not set.
    pub fn remove(&mut self, name: &str) -> Result<bool, SecretError> {
        let had = self.values.remove(name).is_some();
        if had {
            self.save()?;
        }
        Ok(had)
    }

    /// Write atomically: a 0600 temp file in the same directory, then rename.
    fn save(&self) -> Result<(), SecretError> {
        let io = |source| SecretError::Io {
            path: self.path.clone(),
            source,
        };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        create_private_dir(dir).map_err(io)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
        set_mode(tmp.path(), 0o600).map_err(io)?;
        let json = serde_json::to_vec_pretty(&self.values).map_err(|e| SecretError::Corrupt {
            path: self.path.clone(),
            detail: e.to_string(),
        })?;
        tmp.write_all(&json).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(&self.path).map_err(|e| io(e.error))?;
        Ok(())
    }
}

/// Create `dir` (and parents) readable by the user only.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if !dir.exists() {
        std::fs::create_dir_all(dir)?;
        set_mode(dir, 0o700)?;
    }
    Ok(())
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn check_mode(path: &Path) -> Result<(), SecretError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|source| SecretError::Io {
            path: path.to_path_buf(),
            source,
        })?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(SecretError::Permissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_mode(_path: &Path) -> Result<(), SecretError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_is_private_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("secrets.json");
        let mut s = SecretStore::open(&path).unwrap();
        s.set("GITHUB_TOKEN", "ghp_abcdef").unwrap();
        assert!(matches!(
            s.set("bad name", "x123456"),
            Err(SecretError::BadName(_))
        ));
        assert!(matches!(
            s.set("SHORT", "abc"),
            Err(SecretError::TooShort(_))
        ));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(
                SecretStore::open(&path),
                Err(SecretError::Permissions { .. })
            ));
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let mut s = SecretStore::open(&path).unwrap();
        assert_eq!(s.get("GITHUB_TOKEN"), Some("ghp_abcdef"));
        assert!(s.remove("GITHUB_TOKEN").unwrap());
        assert!(!s.remove("GITHUB_TOKEN").unwrap());
    }

    #[test]
    fn rules_need_one_exact_host() {
        let rule = |host: &str| SecretRule {
            name: "T".into(),
            host: host.into(),
            header: "authorization".into(),
            prefix: "Bearer ".into(),
        };
        assert!(rule("api.github.com").target().is_ok());
        assert!(rule("http://127.0.0.1:8080").target().is_ok());
        assert!(matches!(
            rule("https://*.github.com").target(),
            Err(SecretError::WildcardHost { .. })
        ));
        assert!(matches!(
            rule("https://*").target(),
            Err(SecretError::WildcardHost { .. })
        ));
    }
}
