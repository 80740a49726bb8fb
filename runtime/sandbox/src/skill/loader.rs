//! Finding a skill on disk (a component file, or a directory with a
//! `skill.toml`), checking that it speaks a contract version this host
//! supports, and compiling it (through the cache) into an `InstancePre`.

use super::bindings::SkillPre;
use super::manifest::{CONTRACT_VERSION, Manifest, ManifestError, contract_supported};
use super::state::CallState;
use crate::cache::{self, CacheError, CacheStatus, ComponentCache};
use crate::engine::SkillEngine;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use thiserror::Error;
use wasmtime::component::Component;

/// Why a skill could not be loaded.
#[derive(Debug, Error)]
pub enum LoadError {
    /// Neither a component nor a skill directory.
    #[error("{path}: not found (give a .wasm component or a directory containing skill.toml)")]
    NotFound {
        /// The path given.
        path: PathBuf,
    },
    /// The manifest is bad.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The component file could not be read.
    #[error("cannot read component {path}: {source}{hint}")]
    Read {
        /// The component path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
        /// How to produce it.
        hint: String,
    },
    /// The bytes are not a component (or not valid).
    #[error("{path}: {source}")]
    Compile {
        /// The component path.
        path: PathBuf,
        /// Compilation error.
        source: CacheError,
    },
    /// The component does not export the Chitin tools interface.
    #[error(
        "{path} is not a Chitin skill: it does not export `chitin:skill/tools` (build it against wit/skill.wit)"
    )]
    NotASkill {
        /// The component path.
        path: PathBuf,
    },
    /// The component was built for another contract version.
    #[error(
        "{path} was built for chitin:skill@{found}; this host implements chitin:skill@{CONTRACT_VERSION}"
    )]
    Contract {
        /// The component path.
        path: PathBuf,
        /// The version it exports.
        found: String,
    },
    /// Its imports cannot be satisfied by this host.
    #[error("{path} cannot be linked: {detail}")]
    Link {
        /// The component path.
        path: PathBuf,
        /// What is missing.
        detail: String,
    },
}

/// A compiled skill, ready for calls: one `InstancePre` reused by every call.
pub struct LoadedSkill {
    /// Skill name (from the manifest, or the file name).
    pub name: String,
    /// The manifest, if the skill has one.
    pub manifest: Option<Manifest>,
    /// Where the component came from.
    pub component_path: PathBuf,
    /// SHA-256 of the component bytes.
    pub digest: String,
    /// Whether the compiled code came from the cache.
    pub cache: CacheStatus,
    /// Time to read, compile or deserialize, and pre-link.
    pub load_time: Duration,
    pub(crate) pre: SkillPre<CallState>,
}

impl LoadedSkill {
    /// This compiled code run on behalf of another skill: calls are
    /// audited under `name`, and `manifest`'s requests are the ones compared
    /// with the grants. An interpreter component runs a signed Agent Skill's
    /// scripts this way; the code (and its digest) stays the interpreter's.
    pub fn acting_as(&self, name: &str, manifest: Option<Manifest>) -> LoadedSkill {
        LoadedSkill {
            name: name.to_string(),
            manifest,
            component_path: self.component_path.clone(),
            digest: self.digest.clone(),
            cache: self.cache,
            load_time: self.load_time,
            pre: self.pre.clone(),
        }
    }
}

impl std::fmt::Debug for LoadedSkill {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedSkill")
            .field("name", &self.name)
            .field("digest", &self.digest)
            .finish_non_exhaustive()
    }
}

/// Where a skill's parts are on disk.
#[derive(Debug, Clone)]
pub struct SkillSource {
    /// The manifest, for a skill directory.
    pub manifest: Option<Manifest>,
    /// The component file.
    pub component: PathBuf,
}

/// Resolve `path`: a skill directory (with `skill.toml`), a `skill.toml`
/// file, or a bare `.wasm` component (no manifest: no requests).
pub fn locate(path: &Path) -> Result<SkillSource, LoadError> {
    let manifest_path = if path.is_dir() {
        path.join("skill.toml")
    } else if path.file_name().is_some_and(|n| n == "skill.toml") {
        path.to_path_buf()
    } else if path.is_file() {
        return Ok(SkillSource {
            manifest: None,
            component: path.to_path_buf(),
        });
    } else {
        return Err(LoadError::NotFound {
            path: path.to_path_buf(),
        });
    };
    if !manifest_path.is_file() {
        return Err(LoadError::NotFound {
            path: path.to_path_buf(),
        });
    }
    let manifest = Manifest::load(&manifest_path)?;
    let dir = manifest_path.parent().unwrap_or(Path::new("."));
    let rel = manifest
        .skill
        .component
        .clone()
        .unwrap_or_else(|| format!("{}.wasm", manifest.skill.name));
    Ok(SkillSource {
        component: dir.join(rel),
        manifest: Some(manifest),
    })
}

/// The `chitin:skill/tools@X` version a component exports, if any.
fn exported_contract(engine: &SkillEngine, component: &Component) -> Option<String> {
    component
        .component_type()
        .exports(engine.engine())
        .find_map(|(name, _)| name.strip_prefix("chitin:skill/tools@").map(str::to_string))
}

/// Largest component read from a skill project.
pub const MAX_COMPONENT_BYTES: u64 = 1024 * 1024 * 1024;

/// Compile (or load from `cache`) and pre-link a skill.
pub fn load(
    engine: &SkillEngine,
    linker: &wasmtime::component::Linker<CallState>,
    cache: Option<&ComponentCache>,
    source: SkillSource,
) -> Result<LoadedSkill, LoadError> {
    let start = Instant::now();
    let path = source.component.clone();
    let read = if source.manifest.is_some() {
        // A project's component: no symlink or special file is followed.
        crate::capabilities::fs::open::read_plain_file(&path, MAX_COMPONENT_BYTES)
    } else {
        std::fs::read(&path)
    };
    let bytes = read.map_err(|e| LoadError::Read {
        hint: if e.kind() == std::io::ErrorKind::NotFound && source.manifest.is_some() {
            " (build the skill first, e.g. `scripts/build-skills`)".into()
        } else {
            String::new()
        },
        path: path.clone(),
        source: e,
    })?;
    let digest = cache::digest(&bytes);
    let (component, status) = match cache {
        Some(c) => c.load_or_compile(engine.engine(), &bytes, &digest),
        None => cache::compile(engine.engine(), &bytes).map(|c| (c, CacheStatus::Disabled)),
    }
    .map_err(|source| LoadError::Compile {
        path: path.clone(),
        source,
    })?;
    let found = exported_contract(engine, &component)
        .ok_or_else(|| LoadError::NotASkill { path: path.clone() })?;
    match semver::Version::parse(&found) {
        Ok(v) if contract_supported(&v) => {}
        _ => return Err(LoadError::Contract { path, found }),
    }
    let pre = linker
        .instantiate_pre(&component)
        .and_then(SkillPre::new)
        .map_err(|e| LoadError::Link {
            path: path.clone(),
            detail: format!("{e:#}"),
        })?;
    let name = match &source.manifest {
        Some(m) => m.skill.name.clone(),
        None => path
            .file_stem()
            .map_or_else(|| "skill".into(), |s| s.to_string_lossy().replace('_', "-")),
    };
    Ok(LoadedSkill {
        name,
        manifest: source.manifest,
        component_path: path,
        digest,
        cache: status,
        load_time: start.elapsed(),
        pre,
    })
}
