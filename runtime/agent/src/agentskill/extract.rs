//! Where an installed Agent Skill's files live, and writing them there:
//! `<skill dir>/files/<package file stem>/…`, read-only files, written into
//! a temporary folder beside it and renamed into place, so the folder
//! either holds every file of that package or does not exist.

use crate::package::state::{INCOMING, Installed, Record};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The folder holding the files of agent skills' packages, in a skill's dir.
pub const FILES_DIR: &str = "files";

/// The folder of `file` (a package file name) inside `skill_dir`.
pub fn files_dir_for(skill_dir: &Path, file: &str) -> PathBuf {
    let stem = file.strip_suffix(".wasm").unwrap_or(file);
    skill_dir.join(FILES_DIR).join(stem)
}

/// Where the files of an installed Agent Skill are (mount it read-only at
/// `/skill`). The folder exists once the install committed.
pub fn files_dir(installed: &Installed, record: &Record) -> PathBuf {
    files_dir_for(&installed.skill_dir(&record.name), &record.file)
}

/// Write `files` to `dest` (atomically; nothing when it already exists,
/// since its name is the package digest). Returns whether it wrote it.
/// The paths were checked when the files were read (see `tree`).
pub fn extract(files: &BTreeMap<String, Vec<u8>>, dest: &Path) -> std::io::Result<bool> {
    if dest.is_dir() {
        return Ok(false);
    }
    let parent = dest
        .parent()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "no parent folder"))?;
    std::fs::create_dir_all(parent)?;
    let tmp = tempfile::Builder::new()
        .prefix(INCOMING)
        .tempdir_in(parent)?;
    for (path, bytes) in files {
        let target = tmp.path().join(path);
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o444);
        }
        let mut f = options.open(&target)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(tmp.path(), dest)?;
    // Renamed away: nothing is left for the guard to remove.
    let _ = tmp.keep();
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_once_and_read_only() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = files_dir_for(tmp.path(), "abc.wasm");
        assert!(dest.ends_with("files/abc"));
        let files = BTreeMap::from([
            ("SKILL.md".to_string(), b"x".to_vec()),
            ("scripts/deep/a.py".to_string(), b"print(1)".to_vec()),
        ]);
        assert!(extract(&files, &dest).unwrap());
        assert_eq!(
            std::fs::read(dest.join("scripts/deep/a.py")).unwrap(),
            b"print(1)"
        );
        assert!(!extract(&files, &dest).unwrap());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dest.join("SKILL.md"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o444);
        }
        let left: Vec<_> = std::fs::read_dir(dest.parent().unwrap()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary folder is left");
    }
}
