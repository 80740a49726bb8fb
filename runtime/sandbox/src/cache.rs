//! On-disk cache of compiled components, keyed by the SHA-256 of the
//! component bytes and a fingerprint of the engine (wasmtime version and
//! every codegen setting), so a restart recompiles nothing and an engine
//! change never loads stale code.
//!
//! Entries are written atomically (temp file + rename) into a 0700
//! directory. Each entry names the component digest it was compiled from
//! and carries an HMAC-SHA256, under a key kept outside the cache (0600),
//! over the engine fingerprint, that digest and the compiled code. An entry
//! copied under another component's name, or changed in any byte, is
//! refused and recompiled: compiled code is native code, and loading the
//! wrong entry would run one skill's code under another's name and grants.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use thiserror::Error;
use wasmtime::Engine;
use wasmtime::component::Component;

const MAGIC: &[u8; 10] = b"CHITINCWv2";

type HmacSha256 = Hmac<Sha256>;

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
#[derive(Clone)]
pub struct ComponentCache {
    dir: PathBuf,
    fingerprint: String,
    key: [u8; 32],
}

impl std::fmt::Debug for ComponentCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComponentCache")
            .field("dir", &self.dir)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// Read the entry key from `path`, creating it (0600) on first use. When it
/// can be neither read nor created, a key for this process only (entries
/// then last only as long as the process).
fn load_key(path: &Path) -> [u8; 32] {
    if let Ok(text) = std::fs::read_to_string(path)
        && let Ok(bytes) = hex::decode(text.trim())
        && let Ok(key) = <[u8; 32]>::try_from(bytes.as_slice())
    {
        return key;
    }
    let mut key = [0u8; 32];
    if getrandom::fill(&mut key).is_err() {
        // No randomness: derive from the path and time (still unknown to a skill).
        let seed = format!("{}{:?}", path.display(), std::time::SystemTime::now());
        key.copy_from_slice(&Sha256::digest(seed.as_bytes()));
    }
    let write = || -> std::io::Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        crate::capabilities::secrets::create_private_dir(dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        tmp.write_all(hex::encode(key).as_bytes())?;
        tmp.as_file().sync_all()?;
        // Never replace a key another process wrote meanwhile.
        tmp.persist_noclobber(path).map_err(|e| e.error)?;
        Ok(())
    };
    match write() {
        Ok(()) => key,
        Err(_) => match std::fs::read_to_string(path)
            .ok()
            .and_then(|t| hex::decode(t.trim()).ok())
            .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
        {
            Some(theirs) => theirs,
            None => {
                tracing::warn!(
                    "cannot keep the component-cache key in {}; compiled code is cached for this process only",
                    path.display()
                );
                key
            }
        },
    }
}

impl ComponentCache {
    /// A cache in `dir` for `engine` (the directory is created on first
    /// store), with entries authenticated by the key in `key_file` (default:
    /// `<dir>/.key`; keep it outside anything a skill could be granted).
    pub fn new(dir: &Path, key_file: Option<&Path>, engine: &Engine) -> Self {
        let key_path = key_file.map_or_else(|| dir.join(".key"), Path::to_path_buf);
        ComponentCache {
            dir: dir.to_path_buf(),
            fingerprint: engine_fingerprint(engine),
            key: load_key(&key_path),
        }
    }

    fn mac(&self, digest: &[u8], payload: &[u8]) -> HmacSha256 {
        // A 32-byte key is always a valid HMAC key.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| <HmacSha256 as Mac>::new(&Default::default()));
        mac.update(self.fingerprint.as_bytes());
        mac.update(digest);
        mac.update(payload);
        mac
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
        let raw_digest = hex::decode(digest).unwrap_or_default();
        if let Some(component) = self.try_load(engine, &path, &raw_digest) {
            return Ok((component, CacheStatus::Hit));
        }
        let component = compile(engine, bytes)?;
        if let Err(e) = self.store(&component, &path, &raw_digest) {
            tracing::warn!("not caching compiled component: {e}");
        }
        Ok((component, CacheStatus::Miss))
    }

    fn try_load(&self, engine: &Engine, path: &Path, digest: &[u8]) -> Option<Component> {
        let data = std::fs::read(path).ok()?;
        let body = data.strip_prefix(MAGIC.as_slice())?;
        let (named, rest) = body.split_at_checked(32)?;
        let (tag, payload) = rest.split_at_checked(32)?;
        if named != digest || self.mac(named, payload).verify_slice(tag).is_err() {
            tracing::warn!(
                "ignoring cache entry {}: it was not compiled by this host from this component (changed, corrupt or copied); recompiling",
                path.display()
            );
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

    fn store(&self, component: &Component, path: &Path, digest: &[u8]) -> Result<(), CacheError> {
        let io = |source| CacheError::Io {
            path: path.to_path_buf(),
            source,
        };
        crate::capabilities::secrets::create_private_dir(&self.dir).map_err(io)?;
        let payload = component
            .serialize()
            .map_err(|e| CacheError::Compile(format!("{e:#}")))?;
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir).map_err(io)?;
        let tag = self.mac(digest, &payload).finalize().into_bytes();
        tmp.write_all(MAGIC).map_err(io)?;
        tmp.write_all(digest).map_err(io)?;
        tmp.write_all(&tag).map_err(io)?;
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
    // artifact. We only pass bytes whose HMAC, under a key only this host
    // holds, proves this module wrote them for this component digest and
    // engine; wasmtime checks the engine compatibility header too.
    unsafe { Component::deserialize(engine, payload) }
}
