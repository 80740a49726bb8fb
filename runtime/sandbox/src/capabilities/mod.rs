//! Capabilities a human grants to a skill, each its own module and each
//! deny-by-default: [`fs`] (preopened directories, disk quota), [`net`]
//! (outbound HTTP), [`secrets`] (host-side injection, with
//! [`crate::redact`] scrubbing values from everything returned), [`limits`] (memory, CPU,
//! time, output, logs), [`descriptors`] (open files and connections),
//! [`sockets`] (never granted; every attempt audited) and [`log`] (bounded
//! skill logs).

pub mod cpu;
pub mod descriptors;
pub mod fs;
pub mod limits;
pub mod log;
pub mod net;
pub mod secrets;
pub mod sockets;

use serde::{Deserialize, Serialize};

/// Everything a skill is allowed for one call. `Grants::default()` grants
/// nothing (and the default limits).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grants {
    /// Directories.
    #[serde(default)]
    pub fs: Vec<fs::FsGrant>,
    /// Network allow-list.
    #[serde(default)]
    pub net: Vec<net::rules::NetRule>,
    /// Secrets injected into matching requests.
    #[serde(default)]
    pub secrets: Vec<secrets::SecretRule>,
    /// Resource limits.
    #[serde(default)]
    pub limits: limits::Limits,
}
