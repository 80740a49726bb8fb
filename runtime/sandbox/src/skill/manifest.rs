//! `skill.toml`: who a skill is and what it requests. Parsing is strict:
//! unknown keys and bad values are refused with a message naming the key.
//!
//! ```toml
//! [skill]
//! name = "github"
//! version = "0.1.0"
//! description = "Read GitHub repositories and issues"
//! publisher = "chitin"
//! contract = "0.1.0"
//! component = "github.wasm"          # optional, relative to this file
//!
//! [[capabilities.fs]]
//! guest = "/workspace"
//! access = "read-write"              # or "read-only"
//! host = "$WORKSPACE"                # optional suggestion: $WORKSPACE, $HOME, ~
//!
//! [[capabilities.net]]
//! url = "https://api.github.com"
//! why = "the GitHub REST API"
//!
//! [[capabilities.secrets]]
//! name = "GITHUB_TOKEN"
//! host = "https://api.github.com"
//! header = "authorization"
//! prefix = "Bearer "
//!
//! [limits]
//! memory_mib = 64
//! ```

use crate::capabilities::fs::{Access, validate_guest_path};
use crate::capabilities::limits::Limits;
use crate::capabilities::net::rules::NetRule;
use crate::capabilities::secrets::SecretRule;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The contract version this host implements.
pub const CONTRACT_VERSION: &str = "0.1.0";

/// Whether a skill built against contract `v` can run on this host
/// (same major, and for 0.x the same minor, not newer than ours).
pub fn contract_supported(v: &semver::Version) -> bool {
    let ours = semver::Version::new(0, 1, 0);
    let req = semver::VersionReq::parse(&format!("^{}.{}", ours.major, ours.minor));
    req.is_ok_and(|r| r.matches(v)) && v.minor <= ours.minor
}

/// A manifest problem.
#[derive(Debug, Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// TOML syntax, an unknown key or a wrongly typed value.
    #[error("{path}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message (names the key and position).
        message: String,
    },
    /// A value that parses but is not acceptable.
    #[error("{path}: `{key}`: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Dotted key, e.g. `capabilities.net[0].url`.
        key: String,
        /// What is wrong and what to write instead.
        message: String,
    },
}

/// The parsed manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Identity.
    pub skill: SkillMeta,
    /// What the skill asks to be granted.
    #[serde(default)]
    pub capabilities: Requests,
    /// Limits the skill asks for (the grant decides).
    #[serde(default)]
    pub limits: Option<Limits>,
}

/// The `[skill]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkillMeta {
    /// Lowercase name: letters, digits, `-`.
    pub name: String,
    /// Semantic version.
    pub version: String,
    /// One-line description.
    pub description: String,
    /// Who publishes it.
    pub publisher: String,
    /// The `chitin:skill` contract version it was built against.
    pub contract: String,
    /// Path of the component, relative to the manifest (default `<name>.wasm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    /// What the package is: a component (the default, omitted when
    /// written) or an Agent Skills folder whose scripts run in interpreters.
    #[serde(default, skip_serializing_if = "SkillKind::is_component")]
    pub kind: SkillKind,
}

/// The kind of a skill package.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SkillKind {
    /// A WebAssembly component exporting the `chitin:skill` tools.
    #[default]
    Component,
    /// An Agent Skills folder (SKILL.md and files); its component is empty
    /// and never instantiated.
    AgentSkill,
}

impl SkillKind {
    /// Whether this is the default kind (for serde's `skip_serializing_if`).
    pub fn is_component(&self) -> bool {
        *self == SkillKind::Component
    }
}

/// The `[capabilities]` table: requests, not grants.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requests {
    /// Directories.
    #[serde(default)]
    pub fs: Vec<FsRequest>,
    /// Hosts.
    #[serde(default)]
    pub net: Vec<NetRequest>,
    /// Secrets and where they go.
    #[serde(default)]
    pub secrets: Vec<SecretRule>,
}

/// A requested directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FsRequest {
    /// Where the skill expects it, e.g. `/workspace`.
    pub guest: String,
    /// Access asked for.
    pub access: Access,
    /// Suggested host directory (`$WORKSPACE`, `$HOME`, `~` expand).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Why, for the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// A requested host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetRequest {
    /// `scheme://host[:port]`, optionally `*.` wildcard.
    pub url: NetRule,
    /// Why, for the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

impl Manifest {
    /// Read and validate `path`.
    /// The file may sit in a directory a skill can write: a symlink or a
    /// special file is refused rather than followed.
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let io = |source| ManifestError::Io {
            path: path.into(),
            source,
        };
        let bytes =
            crate::capabilities::fs::open::read_plain_file(path, 1024 * 1024).map_err(io)?;
        let text = String::from_utf8(bytes).map_err(|_| {
            io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "it is not UTF-8 text",
            ))
        })?;
        Self::parse(&text, path)
    }

    /// Parse and validate manifest text; `path` is used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ManifestError> {
        let m: Manifest = toml::from_str(text).map_err(|e| ManifestError::Syntax {
            path: path.into(),
            message: e.to_string().trim_end().to_string(),
        })?;
        m.validate(path)?;
        Ok(m)
    }

    fn validate(&self, path: &Path) -> Result<(), ManifestError> {
        let bad = |key: String, message: String| {
            Err(ManifestError::Invalid {
                path: path.into(),
                key,
                message,
            })
        };
        let s = &self.skill;
        if !is_skill_name(&s.name) {
            return bad(
                "skill.name".into(),
                format!(
                    "`{}`: use 1-64 lowercase letters, digits and `-`, starting with a letter",
                    s.name
                ),
            );
        }
        if let Err(e) = semver::Version::parse(&s.version) {
            return bad(
                "skill.version".into(),
                format!("`{}` is not a semantic version like 1.2.3 ({e})", s.version),
            );
        }
        if s.description.trim().is_empty() {
            return bad("skill.description".into(), "must not be empty".into());
        }
        if s.publisher.trim().is_empty() {
            return bad("skill.publisher".into(), "must not be empty".into());
        }
        // Text the host shows as part of its own review: one plain line each.
        let mut texts = vec![
            (
                "skill.description".to_string(),
                s.description.as_str(),
                1024,
            ),
            ("skill.publisher".to_string(), s.publisher.as_str(), 128),
        ];
        if let Some(c) = &s.component {
            texts.push(("skill.component".into(), c.as_str(), 1024));
        }
        for (i, fs) in self.capabilities.fs.iter().enumerate() {
            if let Some(h) = &fs.host {
                texts.push((format!("capabilities.fs[{i}].host"), h.as_str(), 1024));
            }
            if let Some(w) = &fs.why {
                texts.push((format!("capabilities.fs[{i}].why"), w.as_str(), 1024));
            }
        }
        for (i, n) in self.capabilities.net.iter().enumerate() {
            if let Some(w) = &n.why {
                texts.push((format!("capabilities.net[{i}].why"), w.as_str(), 1024));
            }
        }
        for (i, sec) in self.capabilities.secrets.iter().enumerate() {
            texts.push((
                format!("capabilities.secrets[{i}].prefix"),
                sec.prefix.as_str(),
                256,
            ));
        }
        for (key, text, max) in texts {
            if let Some(c) = crate::text::find_control(text, false) {
                return bad(
                    key,
                    format!(
                        "contains the control or formatting character {}; use plain text",
                        c.escape_unicode()
                    ),
                );
            }
            if text.len() > max {
                return bad(key, format!("is longer than {max} bytes"));
            }
        }
        match semver::Version::parse(&s.contract) {
            Err(e) => {
                return bad(
                    "skill.contract".into(),
                    format!("`{}` is not a version ({e})", s.contract),
                );
            }
            Ok(v) if !contract_supported(&v) => {
                return bad(
                    "skill.contract".into(),
                    format!(
                        "contract {v} is not supported by this host, which implements chitin:skill@{CONTRACT_VERSION}"
                    ),
                );
            }
            Ok(_) => {}
        }
        if let Some(c) = &s.component
            && (c.is_empty() || Path::new(c).is_absolute())
        {
            return bad(
                "skill.component".into(),
                format!("`{c}` must be a path relative to skill.toml"),
            );
        }
        let mut guests = std::collections::HashSet::new();
        for (i, fs) in self.capabilities.fs.iter().enumerate() {
            if let Err(e) = validate_guest_path(&fs.guest) {
                return bad(format!("capabilities.fs[{i}].guest"), e.to_string());
            }
            if !guests.insert(fs.guest.as_str()) {
                return bad(
                    format!("capabilities.fs[{i}].guest"),
                    format!("`{}` is requested twice", fs.guest),
                );
            }
        }
        for (i, secret) in self.capabilities.secrets.iter().enumerate() {
            let target = match secret.target() {
                Ok(t) => t,
                Err(e) => return bad(format!("capabilities.secrets[{i}]"), e.to_string()),
            };
            let covered = self
                .capabilities
                .net
                .iter()
                .any(|n| n.url == target || n.url.to_string() == target.to_string());
            if !covered {
                return bad(
                    format!("capabilities.secrets[{i}].host"),
                    format!(
                        "`{target}` is not requested in capabilities.net, so the secret could never be sent"
                    ),
                );
            }
        }
        if let Some(l) = &self.limits
            && let Some((field, value, max)) = l.out_of_range()
        {
            return bad(
                format!("limits.{field}"),
                format!("{value} is out of range (1..={max})"),
            );
        }
        Ok(())
    }

    /// Whether the package is an Agent Skills folder (not a component).
    pub fn is_agent_skill(&self) -> bool {
        self.skill.kind == SkillKind::AgentSkill
    }

    /// The limits requested, or the defaults.
    pub fn requested_limits(&self) -> Limits {
        self.limits.unwrap_or_default()
    }
}

/// Whether `name` is a valid skill name: 1-64 lowercase letters, digits
/// and `-`, starting with a letter (it names a directory and a tool prefix,
/// so nothing else is accepted anywhere a skill is named).
pub fn is_skill_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[skill]
name = "github"
version = "0.1.0"
description = "GitHub"
publisher = "chitin"
contract = "0.1.0"

[[capabilities.fs]]
guest = "/workspace"
access = "read-write"

[[capabilities.net]]
url = "https://api.github.com"

[[capabilities.secrets]]
name = "GITHUB_TOKEN"
host = "https://api.github.com"
prefix = "Bearer "

[limits]
memory_mib = 32
"#;

    fn parse(text: &str) -> Result<Manifest, ManifestError> {
        Manifest::parse(text, Path::new("skill.toml"))
    }

    #[test]
    fn kind_defaults_to_component_and_is_omitted() {
        let m = parse(GOOD).unwrap();
        assert!(!m.is_agent_skill());
        assert!(!toml::to_string(&m).unwrap().contains("kind"));
        let text = GOOD.replacen(
            "contract = \"0.1.0\"",
            "contract = \"0.1.0\"\nkind = \"agent-skill\"",
            1,
        );
        let m = parse(&text).unwrap();
        assert!(m.is_agent_skill());
        assert!(
            toml::to_string(&m)
                .unwrap()
                .contains("kind = \"agent-skill\"")
        );
        let bad = GOOD.replacen(
            "contract = \"0.1.0\"",
            "contract = \"0.1.0\"\nkind = \"script\"",
            1,
        );
        assert!(parse(&bad).is_err());
    }

    #[test]
    fn contract_versions_accepted() {
        for (v, ok) in [
            ("0.1.0", true),
            ("0.1.7", true),
            ("0.2.0", false),
            ("0.0.9", false),
            ("1.0.0", false),
            ("0.1.0-rc.1", false),
        ] {
            assert_eq!(
                contract_supported(&semver::Version::parse(v).unwrap()),
                ok,
                "{v}"
            );
        }
    }

    #[test]
    fn good_manifest_parses() {
        let m = parse(GOOD).unwrap();
        assert_eq!(m.skill.name, "github");
        assert_eq!(m.capabilities.secrets[0].header, "authorization");
        assert_eq!(m.requested_limits().memory_mib, 32);
        assert_eq!(m.requested_limits().cpu_ms, Limits::default().cpu_ms);
    }

    #[test]
    fn bad_manifests_name_the_key() {
        // (edit applied to GOOD, key that must appear in the message)
        let table = [
            (("name = \"github\"", "name = \"GitHub!\""), "skill.name"),
            (
                ("version = \"0.1.0\"", "version = \"one\""),
                "skill.version",
            ),
            (
                ("contract = \"0.1.0\"", "contract = \"0.2.0\""),
                "skill.contract",
            ),
            (
                ("contract = \"0.1.0\"", "contract = \"1.0.0\""),
                "skill.contract",
            ),
            (
                ("guest = \"/workspace\"", "guest = \"../etc\""),
                "capabilities.fs[0].guest",
            ),
            (
                ("access = \"read-write\"", "access = \"everything\""),
                "access",
            ),
            (
                ("url = \"https://api.github.com\"", "url = \"ftp://x\""),
                "ftp://x",
            ),
            (
                (
                    "host = \"https://api.github.com\"",
                    "host = \"https://*.github.com\"",
                ),
                "capabilities.secrets[0]",
            ),
            (
                (
                    "host = \"https://api.github.com\"",
                    "host = \"https://uploads.github.com\"",
                ),
                "capabilities.secrets[0].host",
            ),
            (("memory_mib = 32", "memory_mib = 0"), "limits.memory_mib"),
            (("memory_mib = 32", "memory = 32"), "memory"),
            (
                ("guest = \"/workspace\"", "guest = \"/w\\u001b[8m\""),
                "capabilities.fs[0].guest",
            ),
            (
                (
                    "description = \"GitHub\"",
                    "description = \"Git\\u001b[2KHub\"",
                ),
                "skill.description",
            ),
            (
                (
                    "description = \"GitHub\"",
                    "description = \"Git\\u202eHub\"",
                ),
                "skill.description",
            ),
            (
                ("publisher = \"chitin\"", "publisher = \"chi\\ntin\""),
                "skill.publisher",
            ),
            (
                ("prefix = \"Bearer \"", "prefix = \"Bearer\\r\""),
                "capabilities.secrets[0].prefix",
            ),
            (
                (
                    "publisher = \"chitin\"",
                    "publisher = \"chitin\"\nhomepage = \"x\"",
                ),
                "homepage",
            ),
        ];
        for ((from, to), key) in table {
            assert!(GOOD.contains(from), "{from}");
            let text = GOOD.replacen(from, to, 1);
            let err = parse(&text).unwrap_err().to_string();
            assert!(
                err.contains(key),
                "editing `{from}` -> `{to}`: message `{err}` should name `{key}`"
            );
        }
    }
}
