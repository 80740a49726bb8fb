//! Reading a skill folder from disk. Symlinks are refused everywhere
//! inside it (even ones that stay within the folder: a skill is plain
//! files, and a link could be re-pointed between check and use); devices,
//! FIFOs and sockets are refused from their type alone (never opened).
//! Files are read without following links and capped as they are read.

use super::error::AgentSkillError;
use super::tree::{MAX_DEPTH, MAX_FILES, Tree, shown};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Most folder entries looked at (files plus folders), so a folder with
/// millions of empty subfolders is refused quickly.
const MAX_ENTRIES: usize = 4 * MAX_FILES;

/// The folder's name and every file in it.
pub fn read(dir: &Path) -> Result<(String, BTreeMap<String, Vec<u8>>), AgentSkillError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| AgentSkillError::Io { path, source }
    };
    // The folder itself is the user's choice: it may be reached through a
    // link (`.` or a symlinked checkout); what is inside it may not.
    let root = dir.canonicalize().map_err(io(dir))?;
    if !std::fs::metadata(&root).map_err(io(&root))?.is_dir() {
        return Err(AgentSkillError::NoSkillMd(shown(
            &dir.display().to_string(),
        )));
    }
    let name = root
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    let mut tree = Tree::new();
    let mut stack: Vec<(PathBuf, String, usize)> = vec![(root.clone(), String::new(), 0)];
    let mut seen = 0usize;
    while let Some((path, rel, depth)) = stack.pop() {
        let entries = std::fs::read_dir(&path).map_err(io(&path))?;
        for entry in entries {
            let entry = entry.map_err(io(&path))?;
            seen += 1;
            if seen > MAX_ENTRIES {
                return Err(AgentSkillError::TooManyFiles { max: MAX_FILES });
            }
            let file_name = entry.file_name();
            let Some(file_name) = file_name.to_str() else {
                return Err(AgentSkillError::UnsafePath {
                    path: shown(&format!("{rel}{}", file_name.to_string_lossy())),
                    why: "the name is not UTF-8".into(),
                });
            };
            let child_rel = format!("{rel}{file_name}");
            let child = entry.path();
            let kind = std::fs::symlink_metadata(&child)
                .map_err(io(&child))?
                .file_type();
            if kind.is_symlink() {
                return Err(AgentSkillError::Symlink(shown(&child_rel)));
            }
            if kind.is_dir() {
                if depth + 1 >= MAX_DEPTH {
                    return Err(AgentSkillError::TooDeep {
                        path: shown(&child_rel),
                        max: MAX_DEPTH,
                    });
                }
                stack.push((child, format!("{child_rel}/"), depth + 1));
                continue;
            }
            if !kind.is_file() {
                return Err(AgentSkillError::NotRegular(shown(&child_rel)));
            }
            let size = std::fs::symlink_metadata(&child).map_err(io(&child))?.len();
            tree.admit(&child_rel, size)?;
            let bytes = chitin_sandbox::capabilities::fs::open::read_plain_file(
                &child,
                super::tree::MAX_FILE_BYTES,
            )
            .map_err(io(&child))?;
            tree.add(&child_rel, bytes)?;
        }
    }
    Ok((name, tree.into_files()))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn symlinks_and_fifos_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("s");
        std::fs::create_dir_all(d.join("scripts")).unwrap();
        std::fs::write(d.join("SKILL.md"), "x").unwrap();
        std::fs::write(d.join("scripts/a.py"), "print(1)").unwrap();
        let (name, files) = read(&d).unwrap();
        assert_eq!(name, "s");
        assert_eq!(
            files.keys().collect::<Vec<_>>(),
            ["SKILL.md", "scripts/a.py"]
        );

        std::os::unix::fs::symlink("/etc/passwd", d.join("scripts/p")).unwrap();
        let e = read(&d).unwrap_err().to_string();
        assert!(e.contains("scripts/p") && e.contains("symlink"), "{e}");
        std::fs::remove_file(d.join("scripts/p")).unwrap();

        rustix::fs::mknodat(
            rustix::fs::CWD,
            d.join("fifo"),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
            0,
        )
        .unwrap();
        let e = read(&d).unwrap_err().to_string();
        assert!(e.contains("fifo") && e.contains("FIFO"), "{e}");
    }
}
