//! Installed skills on disk: `<skills>/<name>/record.json` (the lock: what
//! is installed and exactly what was granted) next to the package file it
//! names. The record is replaced atomically; it is the commit point.

use super::verify::Provenance;
use chitin_sandbox::capabilities::Grants;
use chitin_sandbox::skill::manifest::Manifest;
use chitin_sandbox::skill::manifest::is_skill_name;
use chitin_sandbox::skill::tools::ToolInfo;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// State errors.
#[derive(Debug, Error)]
pub enum StateError {
    /// File trouble.
    #[error("installed skills ({path}): {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A record does not parse.
    #[error("install record {path} is corrupt: {detail}; reinstall the skill")]
    Corrupt {
        /// The path.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
}

/// What is installed, and exactly what was granted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Skill name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Who signed it (or unverified).
    pub provenance: Provenance,
    /// The grants, exactly.
    pub grants: Grants,
    /// The manifest.
    pub manifest: Manifest,
    /// Tool descriptions from the package.
    pub tools: Vec<ToolInfo>,
    /// Install time, ms since the Unix epoch.
    pub installed_at_ms: u64,
    /// The package file name inside the skill's directory.
    pub file: String,
}

/// Which version of an install record is on disk: every commit replaces
/// the file (a new inode, time and usually size), so a changed stamp means
/// the record changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordStamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime_ns: i128,
}

impl RecordStamp {
    fn of(meta: &std::fs::Metadata) -> Self {
        #[cfg(unix)]
        let (dev, ino) = {
            use std::os::unix::fs::MetadataExt;
            (meta.dev(), meta.ino())
        };
        #[cfg(not(unix))]
        let (dev, ino) = (0, 0);
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as i128);
        RecordStamp {
            dev,
            ino,
            len: meta.len(),
            mtime_ns,
        }
    }
}

/// The stamp of any file (the secret store, say), `None` when it is missing.
pub fn file_stamp(path: &Path) -> Option<RecordStamp> {
    std::fs::metadata(path).ok().map(|m| RecordStamp::of(&m))
}

/// The prefix of a package file being installed.
pub const INCOMING: &str = ".incoming-";

/// How old an unheld `.incoming-*` file must be to count as abandoned.
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

/// Hold `file` for the whole install, so no cleanup removes it.
pub fn hold(file: &std::fs::File) -> std::io::Result<()> {
    rustix::fs::flock(file, rustix::fs::FlockOperation::NonBlockingLockExclusive)?;
    Ok(())
}

/// Whether no process holds the file at `path` (see [`hold`]).
fn unheld(path: &Path) -> bool {
    std::fs::File::open(path).is_ok_and(|f| {
        rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_ok()
    })
}

/// The installed-skills directory.
#[derive(Debug, Clone)]
pub struct Installed {
    dir: PathBuf,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Installed {
    /// Installed skills under `dir`.
    pub fn new(dir: &Path) -> Self {
        Installed {
            dir: dir.to_path_buf(),
        }
    }

    /// A skill's directory.
    pub fn skill_dir(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The package file of a record.
    pub fn package_path(&self, record: &Record) -> PathBuf {
        self.skill_dir(&record.name).join(&record.file)
    }

    /// The record of `name`, if installed (a name no skill can have, such
    /// as `..`, is never installed).
    pub fn get(&self, name: &str) -> Result<Option<Record>, StateError> {
        if !is_skill_name(name) {
            return Ok(None);
        }
        let path = self.skill_dir(name).join("record.json");
        match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| StateError::Corrupt {
                        path,
                        detail: e.to_string(),
                    })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// The names of the skill directories, sorted (a directory without a
    /// record is not installed; see [`Installed::stamp`]).
    pub fn names(&self) -> Result<Vec<String>, StateError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&self.dir)(e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io(&self.dir))?;
            if let Some(name) = entry.file_name().to_str()
                && !name.starts_with('.')
            {
                out.push(name.to_string());
            }
        }
        out.sort();
        Ok(out)
    }

    /// The stamp of `name`'s record, `None` when it is not installed.
    pub fn stamp(&self, name: &str) -> Result<Option<RecordStamp>, StateError> {
        if !is_skill_name(name) {
            return Ok(None);
        }
        let path = self.skill_dir(name).join("record.json");
        match std::fs::symlink_metadata(&path) {
            Ok(m) => Ok(Some(RecordStamp::of(&m))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// All records, by name.
    pub fn list(&self) -> Result<Vec<Record>, StateError> {
        let mut out = Vec::new();
        for name in self.names()? {
            if let Some(r) = self.get(&name)? {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Write a record atomically (temp file + rename): the commit point.
    pub fn commit(&self, record: &Record) -> Result<(), StateError> {
        let dir = self.skill_dir(&record.name);
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let path = dir.join("record.json");
        let json = serde_json::to_vec_pretty(record).map_err(|e| StateError::Corrupt {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(io(&dir))?;
        std::io::Write::write_all(&mut tmp, &json).map_err(io(&path))?;
        tmp.as_file().sync_all().map_err(io(&path))?;
        tmp.persist(&path).map_err(|e| io(&path)(e.error))?;
        Ok(())
    }

    /// Remove files in the skill's directory that the record does not name
    /// (an older version, or leftovers of an interrupted install).
    pub fn remove_unreferenced(&self, name: &str) -> Result<(), StateError> {
        if !is_skill_name(name) {
            return Ok(());
        }
        let dir = self.skill_dir(name);
        let keep = self.get(name)?.map(|r| r.file);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(());
        };
        for entry in entries.flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            if file == "record.json" || Some(&file) == keep.as_ref() {
                continue;
            }
            if file == crate::agentskill::extract::FILES_DIR {
                self.prune_files(&entry.path(), keep.as_deref())?;
                continue;
            }
            // Another install of this skill may be writing its package.
            if file.starts_with(INCOMING) && !unheld(&entry.path()) {
                continue;
            }
            match std::fs::remove_file(entry.path()) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(io(&entry.path())(e));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// In an Agent Skill's `files/` folder, remove every package's files
    /// but those of `keep` (the installed package file), and the folder
    /// itself when it is left empty. A folder still being written by
    /// another install (`.incoming-*`, under a minute old) is left.
    fn prune_files(&self, files: &Path, keep: Option<&str>) -> Result<(), StateError> {
        let keep = keep.map(|k| k.strip_suffix(".wasm").unwrap_or(k));
        let Ok(entries) = std::fs::read_dir(files) else {
            return Ok(());
        };
        for entry in entries.flatten().take(10_000) {
            let name = entry.file_name().to_string_lossy().into_owned();
            if Some(name.as_str()) == keep {
                continue;
            }
            let fresh = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().map_or(true, |age| age < STALE_AFTER));
            if name.starts_with(INCOMING) && fresh {
                continue;
            }
            let path = entry.path();
            let removed = if entry.file_type().is_ok_and(|t| t.is_dir()) {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            match removed {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&path)(e)),
                _ => {}
            }
        }
        // Succeeds only when nothing is left in it.
        let _ = std::fs::remove_dir(files);
        Ok(())
    }

    /// Remove what interrupted installs left behind: `.incoming-*` files
    /// that no running install holds (each install keeps its file locked)
    /// and that are over a minute old. Returns how many were removed.
    pub fn clean_incoming(&self) -> usize {
        let mut removed = 0;
        let Ok(skills) = std::fs::read_dir(&self.dir) else {
            return 0;
        };
        for skill in skills.flatten().take(10_000) {
            let Ok(entries) = std::fs::read_dir(skill.path()) else {
                continue;
            };
            for entry in entries.flatten().take(10_000) {
                let path = entry.path();
                let stale = entry.file_name().to_string_lossy().starts_with(INCOMING)
                    && entry.file_type().is_ok_and(|t| t.is_file())
                    && entry
                        .metadata()
                        .and_then(|m| m.modified())
                        .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > STALE_AFTER))
                    && unheld(&path);
                if stale && std::fs::remove_file(&path).is_ok() {
                    tracing::info!(
                        "removed {} (left by an interrupted install)",
                        path.display()
                    );
                    removed += 1;
                }
            }
        }
        removed
    }

    /// Uninstall; false if it was not installed.
    pub fn remove(&self, name: &str) -> Result<bool, StateError> {
        if !is_skill_name(name) {
            return Ok(false);
        }
        let dir = self.skill_dir(name);
        if !dir.join("record.json").exists() {
            return Ok(false);
        }
        // Remove the record first: from then on the skill is not installed,
        // whatever happens to the rest.
        std::fs::remove_file(dir.join("record.json")).map_err(io(&dir))?;
        std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
        Ok(true)
    }
}
