//! What a skill's manifest requests that its grants do not give: shown to
//! the user with the way to grant it, and to the model as the host's note.

use crate::audit::Capability;
use crate::capabilities::Grants;
use crate::capabilities::fs::Access;
use crate::capabilities::id::CapabilityId;
use crate::skill::manifest::Manifest;
use serde::{Deserialize, Serialize};

/// A capability the manifest requests that this call was not granted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ungranted {
    /// Which capability.
    pub capability: Capability,
    /// Its ID: `fs:/workspace`, `net:https://host`, `secret:NAME`.
    pub id: CapabilityId,
    /// What was requested, in words.
    pub what: String,
    /// The flag that would grant it.
    pub hint: String,
}

/// The requests of `manifest` that `grants` do not cover.
pub fn ungranted(manifest: Option<&Manifest>, grants: &Grants) -> Vec<Ungranted> {
    let Some(m) = manifest else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for r in &m.capabilities.fs {
        if !grants.fs.iter().any(|g| g.guest == r.guest) {
            let access = if r.access == Access::ReadWrite {
                "rw"
            } else {
                "ro"
            };
            out.push(Ungranted {
                capability: Capability::Fs,
                id: CapabilityId::Fs(r.guest.clone()),
                what: format!("{} access to a directory mounted at {}", r.access, r.guest),
                hint: format!("--allow-dir <DIR>:{}:{access}", r.guest),
            });
        }
    }
    for r in &m.capabilities.net {
        if !grants.net.contains(&r.url) {
            out.push(Ungranted {
                capability: Capability::Net,
                id: CapabilityId::Net(r.url.to_string()),
                what: format!("connect to {}", r.url),
                hint: format!("--allow-host {}", r.url),
            });
        }
    }
    for r in &m.capabilities.secrets {
        if !grants.secrets.iter().any(|g| g.name == r.name) {
            out.push(Ungranted {
                capability: Capability::Secret,
                id: CapabilityId::Secret(r.name.clone()),
                what: format!("use your {} secret, sent only to {}", r.name, r.host),
                hint: format!("--allow-secret {}", r.name),
            });
        }
    }
    out
}
