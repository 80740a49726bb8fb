//! `SkillHost`: the embedding API. One engine, one compiled-component cache,
//! skills loaded once (an `InstancePre` each) and called many times, each
//! call in a fresh store under the caller's grants.

use crate::cache::ComponentCache;
use crate::capabilities::Grants;
use crate::engine::{EngineError, SkillEngine};
use crate::skill::call::{self, CallOutcome, SecretSource};
use crate::skill::loader::{self, LoadError, LoadedSkill, SkillSource};
use crate::skill::tools::{self, ToolInfo, ToolsError};
use std::path::{Path, PathBuf};

/// How to build a host.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Where compiled components are cached; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    /// Use wasmtime's pooling instance allocator (see BENCHMARKS.md).
    pub pooling: bool,
}

impl Default for HostConfig {
    /// No cache; the pooling allocator on (it halves the warm-call cost,
    /// see BENCHMARKS.md).
    fn default() -> Self {
        HostConfig {
            cache_dir: None,
            pooling: true,
        }
    }
}

/// The skill host.
pub struct SkillHost {
    engine: SkillEngine,
    cache: Option<ComponentCache>,
}

impl SkillHost {
    /// A host with its engine and (optional) cache.
    pub fn new(config: HostConfig) -> Result<Self, EngineError> {
        let engine = SkillEngine::new(config.pooling)?;
        let cache = config
            .cache_dir
            .as_deref()
            .map(|d| ComponentCache::new(d, engine.engine()));
        Ok(SkillHost { engine, cache })
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
        loader::load(&self.engine, self.cache.as_ref(), source)
    }

    /// The skill's tools (runs `list-tools` with nothing granted).
    pub async fn tools(&self, skill: &LoadedSkill) -> Result<Vec<ToolInfo>, ToolsError> {
        tools::describe(&self.engine, skill).await
    }

    /// Call a tool under `grants`, with secrets from `secrets`.
    pub async fn call(
        &self,
        skill: &LoadedSkill,
        grants: &Grants,
        secrets: &dyn SecretSource,
        tool: &str,
        input: &str,
    ) -> CallOutcome {
        call::call(&self.engine, skill, grants, secrets, tool, input).await
    }
}
