//! The names users give capabilities, one vocabulary for review, `skill
//! grant`/`revoke`/`info`, the agent's hints and the doctor:
//! `fs:/workspace`, `net:https://api.github.com`, `secret:GITHUB_TOKEN`,
//! and `limits` (the limits a manifest asks above the defaults).

use super::Grants;
use serde::{Deserialize, Serialize};
use std::fmt;

/// One capability, as requested by a manifest or held by a grant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum CapabilityId {
    /// A directory, by the path the skill sees.
    Fs(String),
    /// An origin (or wildcard rule), as written in the manifest.
    Net(String),
    /// A secret, by its name in the store.
    Secret(String),
    /// Limits above the defaults.
    Limits,
}

/// Text that is not a capability ID.
#[derive(Debug, thiserror::Error)]
#[error(
    "`{0}` is not a capability ID; IDs look like fs:/workspace, net:https://api.example.com, secret:NAME or limits"
)]
pub struct BadId(pub String);

impl CapabilityId {
    /// Parse `fs:…`, `net:…`, `secret:…` or `limits`.
    pub fn parse(text: &str) -> Result<Self, BadId> {
        let bad = || BadId(crate::text::one_line(text, 200));
        let id = if text == "limits" {
            CapabilityId::Limits
        } else if let Some(guest) = text.strip_prefix("fs:") {
            CapabilityId::Fs(guest.to_string())
        } else if let Some(url) = text.strip_prefix("net:") {
            CapabilityId::Net(url.to_string())
        } else if let Some(name) = text.strip_prefix("secret:") {
            CapabilityId::Secret(name.to_string())
        } else {
            return Err(bad());
        };
        match &id {
            CapabilityId::Fs(s) | CapabilityId::Net(s) | CapabilityId::Secret(s)
                if s.is_empty() =>
            {
                Err(bad())
            }
            _ => Ok(id),
        }
    }
}

impl fmt::Display for CapabilityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CapabilityId::Fs(guest) => write!(f, "fs:{guest}"),
            CapabilityId::Net(url) => write!(f, "net:{url}"),
            CapabilityId::Secret(name) => write!(f, "secret:{name}"),
            CapabilityId::Limits => f.write_str("limits"),
        }
    }
}

impl From<CapabilityId> for String {
    fn from(id: CapabilityId) -> String {
        id.to_string()
    }
}

impl TryFrom<String> for CapabilityId {
    type Error = BadId;
    fn try_from(text: String) -> Result<Self, BadId> {
        CapabilityId::parse(&text)
    }
}

impl Grants {
    /// The IDs of every directory, origin and secret granted.
    pub fn ids(&self) -> Vec<CapabilityId> {
        self.fs
            .iter()
            .map(|f| CapabilityId::Fs(f.guest.clone()))
            .chain(self.net.iter().map(|n| CapabilityId::Net(n.to_string())))
            .chain(
                self.secrets
                    .iter()
                    .map(|s| CapabilityId::Secret(s.name.clone())),
            )
            .collect()
    }

    /// Whether `id` is granted.
    pub fn holds(&self, id: &CapabilityId) -> bool {
        match id {
            CapabilityId::Fs(guest) => self.fs.iter().any(|g| &g.guest == guest),
            CapabilityId::Net(url) => self.net.iter().any(|r| &r.to_string() == url),
            CapabilityId::Secret(name) => self.secrets.iter().any(|s| &s.name == name),
            CapabilityId::Limits => false,
        }
    }

    /// Remove `id`; whether it was granted. (`limits` is not revoked this
    /// way: the defaults are the floor.)
    pub fn revoke(&mut self, id: &CapabilityId) -> bool {
        let before = self.ids().len();
        match id {
            CapabilityId::Fs(guest) => self.fs.retain(|g| &g.guest != guest),
            CapabilityId::Net(url) => self.net.retain(|r| &r.to_string() != url),
            CapabilityId::Secret(name) => self.secrets.retain(|s| &s.name != name),
            CapabilityId::Limits => {}
        }
        self.ids().len() != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_bad_ones_are_refused() {
        for text in [
            "fs:/workspace",
            "net:https://api.github.com",
            "net:https://*.example.com:8443",
            "secret:GITHUB_TOKEN",
            "limits",
        ] {
            assert_eq!(CapabilityId::parse(text).unwrap().to_string(), text);
        }
        for bad in ["", "fs:", "workspace", "file:/x", "limits:x", "secret:"] {
            assert!(CapabilityId::parse(bad).is_err(), "{bad}");
        }
    }
}
