//! Chitin: a hardened shell for AI agent skills.
//!
//! Every skill is a WebAssembly component (`chitin:skill@0.1.0`, see `wit/`)
//! that gets nothing by default. The human grants capabilities
//! ([`capabilities`]): directories, hosts, secrets and limits; the host
//! ([`SkillHost`]) enforces them on every call and records an audit trail
//! ([`audit`]).
//!
//! ```text
//! SkillHost ── engine (Engine + Linker + epoch ticker)
//!     │      └─ cache (compiled components by content hash + engine fingerprint)
//!     ├─ skill::loader   locate, compile, InstancePre
//!     ├─ skill::tools    list-tools, validated
//!     └─ skill::call     fresh Store per call, limits, typed outcome
//!            └─ capabilities::{fs, net, secrets, limits, cpu, descriptors, log}
//! ```

pub mod agent;
pub mod audit;
pub mod build;
pub mod cache;
pub mod capabilities;
pub mod daemon;
pub mod dirs;
pub mod engine;
pub mod host;
pub mod package;
pub mod provider;
pub mod skill;
pub mod store;
pub mod text;
pub mod tls;

pub use audit::{AuditEvent, Capability, Decision};
pub use capabilities::Grants;
pub use host::{HostConfig, SkillHost};
pub use skill::call::{CallError, CallOutcome, NoSecrets, SecretSource};
pub use skill::loader::LoadedSkill;
pub use skill::tools::ToolInfo;
