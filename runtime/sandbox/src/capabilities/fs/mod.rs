//! Filesystem: only granted directories are preopened, each with the
//! granted access. WASI preopens confine every path to its directory: `..`,
//! absolute paths and symlinks leading out are refused by construction.
//!
//! - [`open`]: each granted directory is opened at every call by its
//!   canonical path with no symlink followed at any component, and checked
//!   to be the directory that was granted (device and inode), so a skill
//!   that swaps a granted directory (or one on its path, e.g. a nested grant
//!   inside a writable one) for a symlink gets a refusal;
//! - [`protected`]: no grant may overlap Chitin's own files;
//! - [`guard`]: the `wasi:filesystem` host: no FIFOs or devices, a cap on
//!   open descriptors, and the disk quota ([`quota`]).

pub mod guard;
pub mod guest_open;
pub mod open;
pub mod protected;
pub mod quota;

use super::{CallParts, Factor, SetupError};
use crate::audit::{Audit, Capability};
use open::{DirIdentity, OpenRefusal};
use protected::ProtectedPaths;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use thiserror::Error;
use wasmtime_wasi::filesystem::Dir;
use wasmtime_wasi::{FsPerms, OpenMode};

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

impl Access {
    /// The narrower of two accesses (an upgrade never widens a kept mount
    /// beyond what the new manifest requests).
    pub fn min_with(self, other: Access) -> Access {
        if self == Access::ReadOnly || other == Access::ReadOnly {
            Access::ReadOnly
        } else {
            Access::ReadWrite
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
    /// The guest path is not absolute, contains `..`, or control characters.
    #[error(
        "guest path `{}` must be absolute, without `..` or `.` segments or control characters (e.g. /workspace)",
        crate::text::clean(.0)
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
    /// The directory overlaps Chitin's own files.
    #[error(
        "cannot grant {path}: it overlaps Chitin's own files ({protected}); a skill that could reach them could rewrite its own grants or read your secrets. Grant a directory that neither contains nor lies inside it"
    )]
    Protected {
        /// The granted directory.
        path: String,
        /// The protected path it overlaps.
        protected: String,
    },
    /// The granted directory is no longer the one that was granted.
    #[error(
        "the directory granted at {guest} is no longer the one you granted: {why}; refusing to open it. If you changed it yourself, grant it again"
    )]
    Swapped {
        /// The guest path.
        guest: String,
        /// What changed.
        why: String,
    },
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
    /// Which directory was granted (recorded at grant time; grants recorded
    /// before this existed have none and are checked for symlinks only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<DirIdentity>,
}

/// Check a guest mount path.
pub fn validate_guest_path(guest: &str) -> Result<(), FsError> {
    let ok = guest.starts_with('/')
        && guest.len() <= 1024
        && guest[1..]
            .split('/')
            .filter(|s| !s.is_empty())
            .all(|s| s != ".." && s != ".")
        && crate::text::find_control(guest, false).is_none();
    if ok {
        Ok(())
    } else {
        Err(FsError::BadGuestPath(guest.to_string()))
    }
}

impl FsGrant {
    /// A grant of `host` at `guest`: the host directory must exist; its
    /// canonical path and identity are recorded now, and every call opens
    /// exactly that directory (see [`open`]).
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
        let dir = open::open_dir_nofollow(&canonical).map_err(|e| match e {
            OpenRefusal::Missing => bad("it does not exist".into()),
            OpenRefusal::NotPlain(why) => bad(why),
            OpenRefusal::Io(e) => bad(e.to_string()),
        })?;
        let identity = DirIdentity::of(&dir).map_err(|e| bad(e.to_string()))?;
        let guest = if guest.len() > 1 {
            guest.trim_end_matches('/')
        } else {
            guest
        };
        Ok(FsGrant {
            host: canonical,
            guest: guest.to_string(),
            access,
            identity: Some(identity),
        })
    }

    /// Refuse the grant if it overlaps one of `protected`.
    pub fn check_protected(&self, protected: &ProtectedPaths) -> Result<(), FsError> {
        check_protected(&self.host, protected)
    }

    /// Open the granted directory for one call, exactly as granted.
    fn open(&self) -> Result<std::fs::File, FsError> {
        let swapped = |why: String| FsError::Swapped {
            guest: self.guest.clone(),
            why,
        };
        let dir = open::open_dir_nofollow(&self.host).map_err(|e| match e {
            OpenRefusal::Missing => FsError::BadHostDir {
                path: self.host.display().to_string(),
                why: "it no longer exists".into(),
            },
            OpenRefusal::NotPlain(why) => swapped(why),
            OpenRefusal::Io(e) => FsError::BadHostDir {
                path: self.host.display().to_string(),
                why: e.to_string(),
            },
        })?;
        if let Some(granted) = self.identity {
            let now = DirIdentity::of(&dir).map_err(|e| FsError::BadHostDir {
                path: self.host.display().to_string(),
                why: e.to_string(),
            })?;
            // The inode decides; the device number is not compared: NFS,
            // FUSE, btrfs and overlay mounts get a new one at each mount, and
            // a directory can only be renamed into place within its own file
            // system (no symlink being followed), so the inode tells it apart.
            if now.ino != granted.ino {
                return Err(swapped(format!(
                    "{} was replaced by another directory since it was granted",
                    self.host.display()
                )));
            }
        }
        Ok(dir)
    }
}

/// Refuse a directory that overlaps one of `protected`.
pub fn check_protected(dir: &Path, protected: &ProtectedPaths) -> Result<(), FsError> {
    match protected.overlap(dir) {
        Some(p) => Err(FsError::Protected {
            path: dir.display().to_string(),
            protected: p.display().to_string(),
        }),
        None => Ok(()),
    }
}

/// The filesystem's part of every call: the granted directories opened as
/// granted, the disk budget, and the guard serving them.
pub struct FsPlan {
    grants: Vec<FsGrant>,
    protected: ProtectedPaths,
    /// Directories the host itself mounts (a session's scratch directory,
    /// a signed skill's own files): chosen by the host, never by a skill or
    /// a grant, so they may lie in Chitin's own (protected) work area,
    /// where no grant can ever reach them.
    host_mounts: Vec<FsGrant>,
}

impl FsPlan {
    /// The plan for `grants`, none of which may overlap `protected`.
    pub fn new(grants: Vec<FsGrant>, protected: ProtectedPaths) -> Self {
        FsPlan {
            grants,
            protected,
            host_mounts: Vec::new(),
        }
    }

    /// Add directories the host chose itself (see [`FsPlan::host_mounts`]).
    pub fn with_host_mounts(mut self, mounts: Vec<FsGrant>) -> Self {
        self.host_mounts = mounts;
        self
    }
}

impl Factor for FsPlan {
    fn install(&self, call: &mut CallParts) -> Result<(), SetupError> {
        let preopens = prepare_all(
            &self.grants,
            &self.host_mounts,
            &self.protected,
            &call.audit,
        )
        .map_err(|e| match e {
            FsError::Swapped { .. } | FsError::Protected { .. } => {
                SetupError::Denied(e.to_string())
            }
            other => SetupError::Host(other.to_string()),
        })?;
        for (dir, _) in &preopens {
            call.descriptors.opened(&dir.dir);
        }
        let disk = quota::DiskBudget::new(
            call.limits.disk_bytes(),
            u64::from(call.limits.disk_files),
            call.audit.clone(),
        );
        call.fs = Some(guard::FsGuard::new(
            preopens,
            disk,
            call.descriptors.clone(),
            call.audit.clone(),
        ));
        Ok(())
    }
}

/// Open every grant for one call (refusing protected, swapped or duplicate
/// ones, audited); the result is all the skill will see.
pub fn prepare(
    grants: &[FsGrant],
    protected: &ProtectedPaths,
    audit: &Audit,
) -> Result<Vec<(Dir, String)>, FsError> {
    prepare_all(grants, &[], protected, audit)
}

/// [`prepare`], then the host's own mounts: checked like grants (opened
/// exactly as recorded, never through a symlink, no duplicate guest path)
/// except that they may lie in Chitin's protected work area.
fn prepare_all(
    grants: &[FsGrant],
    host_mounts: &[FsGrant],
    protected: &ProtectedPaths,
    audit: &Audit,
) -> Result<Vec<(Dir, String)>, FsError> {
    let mut seen = std::collections::HashSet::new();
    let mut preopens = Vec::with_capacity(grants.len() + host_mounts.len());
    let everything = grants
        .iter()
        .map(|g| (g, true))
        .chain(host_mounts.iter().map(|g| (g, false)));
    for (g, granted) in everything {
        if !seen.insert(g.guest.as_str()) {
            return Err(FsError::Duplicate(g.guest.clone()));
        }
        let target = format!("{} -> {}", g.guest, g.host.display());
        let checked = if granted {
            g.check_protected(protected)
        } else {
            Ok(())
        };
        let opened = checked.and_then(|()| g.open());
        let dir = match opened {
            Ok(d) => d,
            Err(e) => {
                audit.deny(Capability::Fs, target, e.to_string(), None);
                return Err(e);
            }
        };
        let (perms, mode) = match g.access {
            Access::ReadOnly => (FsPerms::ReadOnly, OpenMode::READ),
            Access::ReadWrite => (FsPerms::ReadWrite, OpenMode::READ | OpenMode::WRITE),
        };
        let how = if granted { "granted" } else { "by the host" };
        audit.allow(Capability::Fs, target, format!("{} mount {how}", g.access));
        preopens.push((Dir::new(dir, perms, mode, false), g.guest.clone()));
    }
    Ok(preopens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_paths() {
        for ok in ["/workspace", "/", "/a/b", "/a/b/"] {
            assert!(validate_guest_path(ok).is_ok(), "{ok}");
        }
        for bad in [
            "workspace",
            "/a/../b",
            "/..",
            "/./a",
            "",
            "/w\u{1b}[1A",
            "/w\n",
        ] {
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
