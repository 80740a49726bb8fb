//! Scratch directories: one per session (and per Agent Skill within it),
//! under Chitin's own data directory, which no grant can overlap; only the
//! host mounts them, at `/scratch`, for that session's calls. Two sessions
//! never see each other's files.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Entries a size check looks at before giving up (and calling it full).
const MAX_WALK: usize = 20_000;

/// Where scratch directories live.
#[derive(Debug, Clone)]
pub struct Scratch {
    root: PathBuf,
    max_bytes: u64,
}

/// A scratch directory that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ScratchError {
    /// It could not be created.
    #[error("cannot create the scratch directory {path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// It holds more than the configured size.
    #[error(
        "this session's scratch directory is full (over {max_mib} MiB); start a new session, or raise interpreter.scratch_mib in config.toml"
    )]
    Full {
        /// The cap.
        max_mib: u64,
    },
}

impl Scratch {
    /// Scratch directories under `root`, each at most `max_mib` MiB.
    pub fn new(root: &Path, max_mib: u32) -> Self {
        Scratch {
            root: root.to_path_buf(),
            max_bytes: u64::from(max_mib) * 1024 * 1024,
        }
    }

    /// The directory of `caller` (a session) for `purpose` (`code`, or an
    /// Agent Skill's name), created (0700) if missing and refused when full.
    pub fn dir(&self, caller: &str, purpose: &str) -> Result<PathBuf, ScratchError> {
        let dir = self
            .root
            .join("sessions")
            .join(key(caller))
            .join(key(purpose));
        create_private_all(&dir).map_err(|source| ScratchError::Io {
            path: dir.clone(),
            source,
        })?;
        if usage(&dir, self.max_bytes) > self.max_bytes {
            return Err(ScratchError::Full {
                max_mib: self.max_bytes / (1024 * 1024),
            });
        }
        Ok(dir)
    }

    /// Remove `caller`'s scratch directories (when its session is deleted).
    pub fn remove(&self, caller: &str) -> std::io::Result<()> {
        let dir = self.root.join("sessions").join(key(caller));
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// A file-name-safe key for `text`: itself when plain, else a digest (so
/// no caller can name `..` or a path).
fn key(text: &str) -> String {
    let plain = !text.is_empty()
        && text.len() <= 64
        && !text.starts_with('.')
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if plain {
        text.to_string()
    } else {
        let digest = Sha256::digest(text.as_bytes());
        format!("h-{}", &hex::encode(digest)[..32])
    }
}

fn create_private_all(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Bytes under `dir` (never following links), stopping early past `limit`
/// or [`MAX_WALK`] entries (then reported as over the limit).
fn usage(dir: &Path, limit: u64) -> u64 {
    let mut total = 0u64;
    let mut seen = 0usize;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            seen += 1;
            if seen > MAX_WALK {
                return limit.saturating_add(1);
            }
            let Ok(meta) = entry.path().symlink_metadata() else {
                continue;
            };
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                total = total.saturating_add(meta.len());
            }
            if total > limit {
                return total;
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_get_separate_directories_and_odd_names_are_hashed() {
        let root = tempfile::tempdir().unwrap();
        let s = Scratch::new(root.path(), 1);
        let a = s.dir("s-1", "code").unwrap();
        let b = s.dir("s-2", "code").unwrap();
        assert_ne!(a, b);
        let odd = s.dir("../../etc", "code").unwrap();
        assert!(odd.starts_with(root.path().join("sessions")));
        assert!(!odd.to_string_lossy().contains(".."));
        std::fs::write(a.join("big"), vec![0u8; 2 * 1024 * 1024]).unwrap();
        assert!(matches!(
            s.dir("s-1", "code"),
            Err(ScratchError::Full { .. })
        ));
        assert!(s.dir("s-2", "code").is_ok());
        s.remove("s-1").unwrap();
        assert!(!a.exists());
    }
}
