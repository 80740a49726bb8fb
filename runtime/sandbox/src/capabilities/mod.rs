//! Capabilities a human grants to a skill, each its own module and each
//! deny-by-default: [`fs`] (preopened directories, disk quota), [`net`]
//! (outbound HTTP), [`secrets`] (host-side injection, with
//! [`crate::redact`] scrubbing values from everything returned), [`limits`]
//! (memory, CPU, time, output, random bytes), [`descriptors`] (open files
//! and connections), [`sockets`] (never granted; every attempt audited) and
//! [`log`] (bounded skill logs). [`id`] names them the way users do
//! (`fs:/workspace`, `net:https://…`, `secret:NAME`).
//!
//! Each capability owns its setup and its enforcement, in the shape of
//! Spin's factors: from the manifest and the grants it prepares, once per
//! skill, a plan ([`Factor`]); for each call, the plan installs its part of
//! the call's store into [`CallParts`] (preopens and the filesystem guard,
//! the egress hook with its injected secrets, the memory limiter and CPU
//! meter, the log sink, the socket refusals). Building a call's store is a
//! loop over the plans; a new capability is a module and a line in the plan.

pub mod cpu;
pub mod descriptors;
pub mod fs;
pub mod id;
pub mod limits;
pub mod log;
pub mod net;
pub mod secrets;
pub mod sockets;

use crate::audit::Audit;
use crate::redact::Redactor;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use wasmtime_wasi::WasiCtxBuilder;

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

/// What the capabilities prepared for one call, before it becomes the
/// call's store state (see `skill::state::CallState`).
pub struct CallParts {
    /// The call's audit trail.
    pub audit: Audit,
    /// Secret values to scrub from everything returned.
    pub redactor: Redactor,
    /// The call's limits.
    pub limits: limits::Limits,
    /// The WASI context being built (stdio, sockets, random).
    pub wasi: WasiCtxBuilder,
    /// Open files and connections, shared by `fs` and `net`.
    pub descriptors: Arc<descriptors::Descriptors>,
    /// The filesystem guard.
    pub fs: Option<fs::guard::FsGuard>,
    /// The egress hook.
    pub net: Option<net::NetHooks>,
    /// The memory limiter.
    pub memory: Option<limits::MemoryLimiter>,
    /// The CPU meter.
    pub cpu: Option<Arc<cpu::CpuMeter>>,
    /// The log sink.
    pub logs: Option<log::LogSink>,
}

impl CallParts {
    /// Empty parts for a call with `limits`, recording into `audit`.
    pub fn new(audit: Audit, redactor: Redactor, limits: limits::Limits) -> Self {
        CallParts {
            audit,
            redactor,
            limits,
            wasi: WasiCtxBuilder::new(),
            descriptors: descriptors::Descriptors::new(),
            fs: None,
            net: None,
            memory: None,
            cpu: None,
            logs: None,
        }
    }
}

/// Why a capability could not set up its part of a call.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The grant was refused (e.g. a swapped or protected directory).
    #[error("{0}")]
    Denied(String),
    /// The host could not set it up (e.g. a granted directory vanished).
    #[error("{0}")]
    Host(String),
}

/// One capability's plan: prepared once per skill and grants, installed
/// into every call.
pub trait Factor: Send + Sync {
    /// Install this capability's part of one call.
    fn install(&self, call: &mut CallParts) -> Result<(), SetupError>;
}
