//! A skill's calls, prepared once: each capability's plan made from the
//! manifest and the grants (secret values read, rules parsed, the redactor
//! built), so a call only installs them ([`crate::capabilities::Factor`]).

use super::loader::LoadedSkill;
use super::requests::{Ungranted, ungranted};
use crate::capabilities::fs::FsPlan;
use crate::capabilities::fs::protected::ProtectedPaths;
use crate::capabilities::limits::{Limits, LimitsPlan};
use crate::capabilities::log::LogPlan;
use crate::capabilities::net::NetPlan;
use crate::capabilities::net::dns::Dns;
use crate::capabilities::secrets::{NoSecrets, SecretSource, SecretsPlan};
use crate::capabilities::sockets::SocketsPlan;
use crate::capabilities::{Factor, Grants};
use crate::redact::Redactor;

/// Everything about a skill's calls under some grants that does not change
/// from one call to the next.
pub struct CallPlan {
    secrets: SecretsPlan,
    fs: FsPlan,
    net: NetPlan,
    limits: Limits,
    ungranted: Vec<Ungranted>,
}

impl CallPlan {
    /// Prepare `skill`'s calls under `grants`, with secret values from
    /// `secrets`; no directory may overlap `protected`; names resolve
    /// through `dns`.
    pub fn new(
        skill: &LoadedSkill,
        grants: &Grants,
        secrets: &dyn SecretSource,
        protected: &ProtectedPaths,
        dns: &Dns,
    ) -> Self {
        let secrets = SecretsPlan::new(&grants.secrets, secrets);
        CallPlan {
            fs: FsPlan::new(grants.fs.clone(), protected.clone()),
            net: NetPlan::new(&grants.net, secrets.injected(), dns.clone()),
            secrets,
            limits: grants.limits,
            ungranted: ungranted(skill.manifest.as_ref(), grants),
        }
    }

    /// The same plan with directories the host mounts itself (a scratch
    /// directory, a signed skill's own files; see [`FsPlan::with_host_mounts`]).
    pub fn with_host_mounts(mut self, mounts: Vec<crate::capabilities::fs::FsGrant>) -> Self {
        self.fs = self.fs.with_host_mounts(mounts);
        self
    }

    /// Nothing granted, default limits (what `list-tools` runs with).
    pub fn nothing() -> Self {
        let secrets = SecretsPlan::new(&[], &NoSecrets);
        CallPlan {
            fs: FsPlan::new(Vec::new(), ProtectedPaths::none()),
            net: NetPlan::new(&[], secrets.injected(), Dns::system()),
            secrets,
            limits: Limits::default(),
            ungranted: Vec::new(),
        }
    }

    /// Every capability's plan, in the order a call installs them.
    pub(crate) fn factors(&self) -> [&dyn Factor; 6] {
        [
            &self.secrets,
            &LimitsPlan,
            &LogPlan,
            &SocketsPlan,
            &self.fs,
            &self.net,
        ]
    }

    /// The limits of every call.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Scrubs the injected secrets from everything a call returns.
    pub fn redactor(&self) -> &Redactor {
        self.secrets.redactor()
    }

    /// What the manifest requests that the grants do not give.
    pub fn ungranted(&self) -> &[Ungranted] {
        &self.ungranted
    }
}
