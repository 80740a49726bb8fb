//! `SkillHost`: the embedding API. One engine, one compiled-component cache,
//! skills loaded once (an `InstancePre` each) and called many times, each
//! call in a fresh store under the caller's grants.

use crate::cache::ComponentCache;
use crate::capabilities::Grants;
use crate::capabilities::fs::protected::ProtectedPaths;
use crate::capabilities::net::dns::Dns;
use crate::capabilities::secrets::SecretSource;
use crate::engine::{EngineError, SkillEngine};
use crate::queue::{CallQueue, QueueConfig};
use crate::skill::call;
use crate::skill::loader::{self, LoadError, LoadedSkill, SkillSource};
use crate::skill::outcome::{CallError, CallOutcome};
use crate::skill::plan::CallPlan;
use crate::skill::tools::{self, ToolInfo, ToolsError};
use std::path::{Path, PathBuf};

/// How to build a host.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Where compiled components are cached; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    /// The key that authenticates cache entries (default `<cache_dir>/.key`;
    /// keep it where no skill can be granted, e.g. the config directory).
    pub cache_key_file: Option<PathBuf>,
    /// Use wasmtime's pooling instance allocator (see BENCHMARKS.md).
    pub pooling: bool,
    /// Paths no skill may be granted (the host's own state). The cache
    /// directory and key are always protected.
    pub protected: Vec<PathBuf>,
    /// DNS servers for skills' requests; empty means the system's
    /// (`/etc/resolv.conf`, `/etc/hosts`).
    pub nameservers: Vec<std::net::SocketAddr>,
    /// How many calls run at once and how long others wait.
    pub queue: QueueConfig,
}

impl Default for HostConfig {
    /// No cache; the pooling allocator on (it halves the warm-call cost,
    /// see BENCHMARKS.md).
    fn default() -> Self {
        HostConfig {
            cache_dir: None,
            cache_key_file: None,
            pooling: true,
            protected: Vec::new(),
            nameservers: Vec::new(),
            queue: QueueConfig::default(),
        }
    }
}

/// The skill host: load skills once, call them many times, each call in a
/// fresh sandbox with exactly the grants given.
///
/// ```
/// use chitin_sandbox::capabilities::fs::{Access, FsGrant};
/// use chitin_sandbox::{Grants, HostConfig, NoSecrets, SkillHost};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // The first-party `files` skill (built by scripts/build-skills).
/// let skill_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../skills/files");
/// let host = SkillHost::new(HostConfig::default())?;
/// let files = host.load(&skill_dir)?;
///
/// // Grant one directory, read-only, seen by the skill as /workspace.
/// let notes = tempfile::tempdir()?;
/// std::fs::write(notes.path().join("todo.txt"), "buy milk")?;
/// let grants = Grants {
///     fs: vec![FsGrant::new(notes.path(), "/workspace", Access::ReadOnly)?],
///     ..Grants::default()
/// };
/// let rt = tokio::runtime::Runtime::new()?;
/// let read = r#"{"path": "todo.txt"}"#;
/// let out = rt.block_on(host.call(&files, &grants, &NoSecrets, "read", read));
/// assert_eq!(out.result?, "buy milk");
///
/// // Without the grant the directory does not exist for the skill.
/// let out = rt.block_on(host.call(&files, &Grants::default(), &NoSecrets, "read", read));
/// assert!(out.result.is_err());
/// # Ok(())
/// # }
/// ```
pub struct SkillHost {
    engine: SkillEngine,
    linker: wasmtime::component::Linker<crate::skill::state::CallState>,
    cache: Option<ComponentCache>,
    protected: ProtectedPaths,
    dns: Dns,
    queue: CallQueue,
}

impl SkillHost {
    /// A host with its engine and (optional) cache.
    pub fn new(mut config: HostConfig) -> Result<Self, EngineError> {
        let engine = SkillEngine::new(config.pooling)?;
        let linker = crate::skill::linker::build(engine.engine())?;
        let cache = config
            .cache_dir
            .as_deref()
            .map(|d| ComponentCache::new(d, config.cache_key_file.as_deref(), engine.engine()));
        let nameservers = std::mem::take(&mut config.nameservers);
        let protected = ProtectedPaths::new(
            config
                .protected
                .into_iter()
                .chain(config.cache_dir)
                .chain(config.cache_key_file),
        );
        Ok(SkillHost {
            engine,
            linker,
            cache,
            protected,
            dns: Dns::servers(&nameservers),
            queue: CallQueue::new(config.queue),
        })
    }

    /// What no grant may overlap; every call checks its grants against it.
    pub fn protected(&self) -> &ProtectedPaths {
        &self.protected
    }

    /// Refuse grants that overlap the host's own files (what install, `skill
    /// grant` and `skill run` check up front; calls check it again).
    pub fn check_grants(&self, grants: &Grants) -> Result<(), crate::capabilities::fs::FsError> {
        grants
            .fs
            .iter()
            .try_for_each(|g| g.check_protected(&self.protected))
    }

    /// The engine (for benchmarks and tools that need wasmtime directly).
    pub fn engine(&self) -> &SkillEngine {
        &self.engine
    }

    /// The cache, if enabled.
    pub fn cache(&self) -> Option<&ComponentCache> {
        self.cache.as_ref()
    }

    /// Load a skill from a component file or a skill directory.
    pub fn load(&self, path: &Path) -> Result<LoadedSkill, LoadError> {
        self.load_source(loader::locate(path)?)
    }

    /// Load an already located skill.
    pub fn load_source(&self, source: SkillSource) -> Result<LoadedSkill, LoadError> {
        loader::load(&self.engine, &self.linker, self.cache.as_ref(), source)
    }

    /// The skill's tools (runs `list-tools` with nothing granted).
    pub async fn tools(&self, skill: &LoadedSkill) -> Result<Vec<ToolInfo>, ToolsError> {
        tools::describe(&self.engine, skill).await
    }

    /// Prepare `skill`'s calls under `grants`, with secret values read
    /// from `secrets` now: reuse the plan for every call under these grants.
    pub fn prepare(
        &self,
        skill: &LoadedSkill,
        grants: &Grants,
        secrets: &dyn SecretSource,
    ) -> CallPlan {
        CallPlan::new(skill, grants, secrets, &self.protected, &self.dns)
    }

    /// Call a tool as `plan` (from [`SkillHost::prepare`]) allows.
    pub async fn call_planned(
        &self,
        skill: &LoadedSkill,
        plan: &CallPlan,
        tool: &str,
        input: &str,
    ) -> CallOutcome {
        self.call_as("", skill, plan, tool, input).await
    }

    /// [`SkillHost::call_planned`] on behalf of `caller` (a session, a
    /// client): when the sandbox is full the call waits its turn, fairly
    /// across callers, and fails only when the wait runs out (see
    /// [`crate::queue`]).
    pub async fn call_as(
        &self,
        caller: &str,
        skill: &LoadedSkill,
        plan: &CallPlan,
        tool: &str,
        input: &str,
    ) -> CallOutcome {
        let started = std::time::Instant::now();
        let deadline = self.queue.deadline();
        loop {
            let admission = match self.queue.admit(caller, deadline).await {
                Ok(a) => a,
                Err(e) => return CallOutcome::not_run(CallError::Busy(e.to_string())),
            };
            match call::call(&self.engine, skill, plan, tool, input).await {
                Ok(outcome) => return outcome,
                Err(call::PoolFull) => {
                    admission.pool_was_full();
                    if let Err(e) = self.queue.wait_for_release(started, deadline).await {
                        return CallOutcome::not_run(CallError::Busy(e.to_string()));
                    }
                }
            }
        }
    }

    /// The call queue (for status and benchmarks).
    pub fn queue(&self) -> &CallQueue {
        &self.queue
    }

    /// Call a tool under `grants`, with secrets from `secrets` (prepare and
    /// call in one; prefer a kept plan for repeated calls).
    pub async fn call(
        &self,
        skill: &LoadedSkill,
        grants: &Grants,
        secrets: &dyn SecretSource,
        tool: &str,
        input: &str,
    ) -> CallOutcome {
        let plan = self.prepare(skill, grants, secrets);
        self.call_planned(skill, &plan, tool, input).await
    }
}
