//! Filesystem: only granted directories are preopened, each with the
//! granted access. WASI preopens (cap-std) confine every path to its
//! directory: `..`, absolute paths and symlinks leading out are refused by
//! construction.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use thiserror::Error;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

/// Read-only or read-write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Access {
    /// Read files and list directories.
    #[serde(rename = "read-only", alias = "ro")]
    ReadOnly,
    /// Also create, change and delete.
    #[serde(rename = "read-write", alias = "rw")]
    ReadWrite,
}

impl Access {
    /// Parse `ro`/`rw`/`read-only`/`read-write`.
    pub fn parse(s: &str) -> Option<Access> {
        match s {
            "ro" | "read-only" => Some(Access::ReadOnly),
            "rw" | "read-write" => Some(Access::ReadWrite),
            _ => None,
        }
    }
}

impl std::fmt::Display for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Access::ReadOnly => "read-only",
            Access::ReadWrite => "read-write",
        })
    }
}

/// A bad filesystem grant.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FsError {
    /// The guest path is not absolute or contains `..`.
    #[error(
        "guest path `{0}` must be absolute and must not contain `..` or `.` segments (e.g. /workspace)"
    )]
    BadGuestPath(String),
    /// The host directory does not exist or is not a directory.
    #[error("cannot grant `{path}`: {why}")]
    BadHostDir {
        /// The host path.
        path: String,
        /// What is wrong.
        why: String,
    },
    /// Two grants use the same guest path.
    #[error("two directories are granted at guest path `{0}`")]
    Duplicate(String),
}

/// One granted directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsGrant {
    /// Directory on the host (canonical).
    pub host: PathBuf,
    /// Where the skill sees it, e.g. `/workspace`.
    pub guest: String,
    /// Granted access.
    pub access: Access,
}

/// Check a guest mount path.
pub fn validate_guest_path(guest: &str) -> Result<(), FsError> {
    let ok = guest.starts_with('/')
        && guest[1..]
            .split('/')
            .filter(|s| !s.is_empty())
            .all(|s| s != ".." && s != ".")
        && !guest.contains('\0');
    if ok {
        Ok(())
    } else {
        Err(FsError::BadGuestPath(guest.to_string()))
    }
}

impl FsGrant {
    /// A grant of `host` at `guest`; the host directory must exist and is
    /// canonicalized now, so a later symlink swap of the path has no effect.
    pub fn new(host: &Path, guest: &str, access: Access) -> Result<Self, FsError> {
        validate_guest_path(guest)?;
        let bad = |why: String| FsError::BadHostDir {
            path: host.display().to_string(),
            why,
        };
        let canonical = host.canonicalize().map_err(|e| bad(e.to_string()))?;
        if !canonical.is_dir() {
            return Err(bad("not a directory".into()));
        }
        let guest = if guest.len() > 1 {
            guest.trim_end_matches('/')
        } else {
            guest
        };
        Ok(FsGrant {
            host: canonical,
            guest: guest.to_string(),
            access,
        })
    }
}

/// Preopen every grant into `builder`; nothing else is visible to the skill.
pub fn apply(grants: &[FsGrant], builder: &mut WasiCtxBuilder) -> Result<(), FsError> {
    let mut seen = std::collections::HashSet::new();
    for g in grants {
        if !seen.insert(g.guest.as_str()) {
            return Err(FsError::Duplicate(g.guest.clone()));
        }
        let perms = match g.access {
            Access::ReadOnly => FsPerms::ReadOnly,
            Access::ReadWrite => FsPerms::ReadWrite,
        };
        builder
            .preopened_dir(&g.host, &g.guest, perms)
            .map_err(|e| FsError::BadHostDir {
                path: g.host.display().to_string(),
                why: e.to_string(),
            })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_paths() {
        for ok in ["/workspace", "/", "/a/b", "/a/b/"] {
            assert!(validate_guest_path(ok).is_ok(), "{ok}");
        }
        for bad in ["workspace", "/a/../b", "/..", "/./a", ""] {
            assert!(validate_guest_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn host_dir_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        assert!(FsGrant::new(dir.path(), "/w", Access::ReadOnly).is_ok());
        let missing = dir.path().join("nope");
        assert!(matches!(
            FsGrant::new(&missing, "/w", Access::ReadOnly),
            Err(FsError::BadHostDir { .. })
        ));
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        assert!(matches!(
            FsGrant::new(&file, "/w", Access::ReadOnly),
            Err(FsError::BadHostDir { .. })
        ));
    }
}
