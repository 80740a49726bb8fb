//! The Chitin sandbox: run WebAssembly skill components
//! (`chitin:skill@0.1.0`, see `wit/`) that get nothing by default. The human
//! grants capabilities ([`capabilities`]): directories, hosts, secrets and
//! limits; the host ([`SkillHost`]) enforces them on every call and records
//! an audit trail ([`audit`]). No database, web server or command line:
//! embed it as `wasmtime-wasi` embeds WASI.
//!
//! ```text
//! SkillHost ── engine (Engine + epoch ticker), skill::linker
//!     │      └─ cache (compiled components by content hash + engine fingerprint)
//!     ├─ skill::loader   locate, compile, InstancePre
//!     ├─ skill::tools    list-tools, validated
//!     ├─ skill::plan     each capability's plan, made once per skill + grants
//!     ├─ queue           waiting for room in the pool, fairly, bounded
//!     └─ skill::call     fresh Store per call (a loop over the plans), typed outcome
//!            └─ capabilities::{fs, net, secrets, limits, cpu, descriptors, sockets, log}
//! ```

pub mod audit;
pub mod cache;
pub mod capabilities;
pub mod engine;
pub mod host;
pub mod queue;
pub mod redact;
pub mod skill;
pub mod text;
pub mod tls;

pub use audit::{AuditEvent, Capability, Decision};
pub use capabilities::Grants;
pub use capabilities::secrets::{NoSecrets, SecretSource};
pub use host::{HostConfig, SkillHost};
pub use skill::loader::LoadedSkill;
pub use skill::outcome::{CallError, CallOutcome};
pub use skill::plan::CallPlan;
pub use skill::tools::ToolInfo;
