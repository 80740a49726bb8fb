//! The files of a skill, gathered from hostile input (a folder, a zip):
//! every path is checked before it is kept (relative, `/`-separated, no
//! `..`, no backslash, no NUL or control character), and the count, each
//! file's size and the total are capped as the files arrive, so nothing
//! over a limit is ever read whole.

use super::error::AgentSkillError;
use std::collections::BTreeMap;

/// Most files in one skill.
pub const MAX_FILES: usize = 1000;
/// Largest single file.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;
/// Largest skill, all files together.
pub const MAX_TOTAL_BYTES: u64 = 32 * 1024 * 1024;
/// Deepest folder nesting.
pub const MAX_DEPTH: usize = 16;
/// Longest path.
pub const MAX_PATH_BYTES: usize = 512;

/// `path` as shown in messages (hostile text).
pub fn shown(path: &str) -> String {
    chitin_sandbox::text::one_line(path, 200)
}

/// Check one relative path of a skill file.
pub fn check_path(path: &str) -> Result<(), AgentSkillError> {
    let bad = |why: &str| AgentSkillError::UnsafePath {
        path: shown(path),
        why: why.to_string(),
    };
    if path.is_empty() {
        return Err(bad("an empty path"));
    }
    if path.contains('\0') {
        return Err(bad("the path contains NUL"));
    }
    if path.contains('\\') {
        return Err(bad("the path contains a backslash (use `/`)"));
    }
    if path.starts_with('/') || path.as_bytes().get(1) == Some(&b':') {
        return Err(bad("the path is absolute"));
    }
    if path.chars().any(chitin_sandbox::text::is_dangerous) {
        return Err(bad("the path contains a control or formatting character"));
    }
    if path.len() > MAX_PATH_BYTES {
        return Err(bad(&format!(
            "the path is longer than {MAX_PATH_BYTES} bytes"
        )));
    }
    let parts: Vec<&str> = path.split('/').collect();
    if parts.contains(&"..") {
        return Err(bad("the path leaves the skill folder (`..`)"));
    }
    if parts.iter().any(|p| p.is_empty() || *p == ".") {
        return Err(bad("the path has an empty or `.` component"));
    }
    if parts.len() > MAX_DEPTH {
        return Err(AgentSkillError::TooDeep {
            path: shown(path),
            max: MAX_DEPTH,
        });
    }
    Ok(())
}

/// Files being gathered, within the limits.
#[derive(Debug, Default)]
pub struct Tree {
    files: BTreeMap<String, Vec<u8>>,
    total: u64,
}

impl Tree {
    /// An empty tree.
    pub fn new() -> Self {
        Tree::default()
    }

    /// Whether one more file of `size` bytes at `path` may be added; call
    /// before reading it.
    pub fn admit(&self, path: &str, size: u64) -> Result<(), AgentSkillError> {
        check_path(path)?;
        if self.files.contains_key(path) {
            return Err(AgentSkillError::Duplicate(shown(path)));
        }
        if self.files.len() >= MAX_FILES {
            return Err(AgentSkillError::TooManyFiles { max: MAX_FILES });
        }
        if size > MAX_FILE_BYTES {
            return Err(AgentSkillError::FileTooLarge {
                path: shown(path),
                size,
                max: MAX_FILE_BYTES,
            });
        }
        if self.total.saturating_add(size) > MAX_TOTAL_BYTES {
            return Err(AgentSkillError::TooLarge {
                path: shown(path),
                max: MAX_TOTAL_BYTES,
            });
        }
        // A file and a folder of one name cannot both be extracted.
        let prefix = format!("{path}/");
        let clash = self
            .files
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(&prefix))
            || path
                .match_indices('/')
                .any(|(i, _)| self.files.contains_key(&path[..i]));
        if clash {
            return Err(AgentSkillError::UnsafePath {
                path: shown(path),
                why: "a file and a folder have the same name".into(),
            });
        }
        Ok(())
    }

    /// Add a file (checked again, with its real size).
    pub fn add(&mut self, path: &str, bytes: Vec<u8>) -> Result<(), AgentSkillError> {
        self.admit(path, bytes.len() as u64)?;
        self.total += bytes.len() as u64;
        self.files.insert(path.to_string(), bytes);
        Ok(())
    }

    /// The files gathered.
    pub fn into_files(self) -> BTreeMap<String, Vec<u8>> {
        self.files
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_paths_are_refused() {
        for p in [
            "",
            "../x",
            "a/../../x",
            "/etc/passwd",
            "C:/x",
            "a\\b",
            "a\0b",
            "a//b",
            "./a",
            "a/\u{1b}[2J",
            &"d/".repeat(20),
        ] {
            assert!(check_path(p).is_err(), "{p:?}");
        }
        for p in [
            "SKILL.md",
            "scripts/x.py",
            "references/a b.md",
            "assets/é.txt",
        ] {
            check_path(p).unwrap();
        }
    }

    #[test]
    fn limits_hold() {
        let mut t = Tree::new();
        t.add("a", vec![0; 10]).unwrap();
        assert!(matches!(
            t.add("a", vec![]),
            Err(AgentSkillError::Duplicate(_))
        ));
        assert!(matches!(
            t.add("a/b", vec![]),
            Err(AgentSkillError::UnsafePath { .. })
        ));
        let big = t.admit("big", MAX_FILE_BYTES + 1).unwrap_err().to_string();
        assert!(
            big.contains("big") && big.contains(&MAX_FILE_BYTES.to_string()),
            "{big}"
        );
        for i in 0..7 {
            t.add(&format!("f{i}"), vec![0; MAX_FILE_BYTES as usize])
                .unwrap();
        }
        let total = t.admit("g", MAX_FILE_BYTES).unwrap_err().to_string();
        assert!(total.contains(&MAX_TOTAL_BYTES.to_string()), "{total}");
        let mut many = Tree::new();
        for i in 0..MAX_FILES {
            many.add(&format!("f{i}"), vec![]).unwrap();
        }
        assert!(matches!(
            many.add("one-more", vec![]),
            Err(AgentSkillError::TooManyFiles { max: MAX_FILES })
        ));
    }
}
