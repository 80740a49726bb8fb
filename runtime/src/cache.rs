//! On-disk cache of compiled components, keyed by the SHA-256 of the
//! component bytes and a fingerprint of the engine (wasmtime version and
//! every codegen setting), so a restart recompiles nothing and an engine
//! change never loads stale code.
//!
//! Entries are written atomically (temp file + rename) into a 0700
//! directory, with a SHA-256 of the artifact checked before loading.

use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use thiserror::Error;
use wasmtime::Engine;
use wasmtime::component::Component;

const MAGIC: &[u8; 10] = b"CHITINCWv1";

/// A cache failure (the caller may fall back to compiling).
#[derive(Debug, Error)]
pub enum CacheError {
    /// File system trouble.
    #[error("component cache {path}: {source}")]
    Io {
        /// The path concerned.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Compilation failed: the bytes are not a valid component.
    #[error("not a valid WebAssembly component: {0}")]
    Compile(String),
}

/// How a component was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// Deserialized from the cache.
    Hit,
    /// Compiled, and stored for next time.
    Miss,
    /// Compiled; no cache configured.
    Disabled,
}

/// The SHA-256 of `bytes`, hex.
pub fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// A stable fingerprint of everything that makes compiled code compatible.
pub fn engine_fingerprint(engine: &Engine) -> String {
    let mut h = ShaHasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut h);
    hex::encode(&h.0.finalize()[..12])
}

/// The cache directory and the engine it serves.
#[derive(Debug, Clone)]
pub struct ComponentCache {
    dir: PathBuf,
    fingerprint: String,
}

impl ComponentCache {
    /// A cache in `dir` for `engine` (the directory is created on first store).
    pub fn new(dir: &Path, engine: &Engine) -> Self {
        ComponentCache {
            dir: dir.to_path_buf(),
            fingerprint: engine_fingerprint(engine),
        }
    }

    /// The entry path for a component digest.
    pub fn entry_path(&self, digest: &str) -> PathBuf {
        self.dir
            .join(format!("{digest}-{}.cwasm", self.fingerprint))
    }

    /// Load the compiled form of `bytes` (whose SHA-256 is `digest`), or
    /// compile and store it.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        bytes: &[u8],
        digest: &str,
    ) -> Result<(Component, CacheStatus), CacheError> {
        let path = self.entry_path(digest);
        if let Some(component) = self.try_load(engine, &path) {
            return Ok((component, CacheStatus::Hit));
        }
        let component = compile(engine, bytes)?;
        if let Err(e) = self.store(&component, &path) {
            tracing::warn!("not caching compiled component: {e}");
        }
        Ok((component, CacheStatus::Miss))
    }

    fn try_load(&self, engine: &Engine, path: &Path) -> Option<Component> {
        let data = std::fs::read(path).ok()?;
        let body = data.strip_prefix(MAGIC.as_slice())?;
        let (sum, payload) = body.split_at_checked(32)?;
        if Sha256::digest(payload).as_slice() != sum {
            tracing::warn!("ignoring corrupt cache entry {}", path.display());
            return None;
        }
        match deserialize(engine, payload) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!("ignoring unusable cache entry {}: {e:#}", path.display());
                None
            }
        }
    }

    fn store(&self, component: &Component, path: &Path) -> Result<(), CacheError> {
        let io = |source| CacheError::Io {
            path: path.to_path_buf(),
            source,
        };
        crate::capabilities::secrets::create_private_dir(&self.dir).map_err(io)?;
        let payload = component
            .serialize()
            .map_err(|e| CacheError::Compile(format!("{e:#}")))?;
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir).map_err(io)?;
        tmp.write_all(MAGIC).map_err(io)?;
        tmp.write_all(&Sha256::digest(&payload)).map_err(io)?;
        tmp.write_all(&payload).map_err(io)?;
        tmp.persist(path).map_err(|e| io(e.error))?;
        Ok(())
    }
}

/// Compile component bytes.
pub fn compile(engine: &Engine, bytes: &[u8]) -> Result<Component, CacheError> {
    Component::new(engine, bytes).map_err(|e| CacheError::Compile(format!("{e:#}")))
}

/// Deserialize an artifact this cache wrote.
#[allow(unsafe_code)]
fn deserialize(engine: &Engine, payload: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: `Component::deserialize` trusts its input to be a wasmtime
    // artifact. We only pass bytes that this module wrote itself into a
    // user-private (0700) directory, whose SHA-256 matches the checksum
    // stored with them, and wasmtime checks the engine compatibility header.
    unsafe { Component::deserialize(engine, payload) }
}
