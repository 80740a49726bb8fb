//! Chitin's own files (config, secrets, keys, trust store, install records,
//! sessions, the compiled-component cache) can never be granted to a skill:
//! a skill that could write them could rewrite its own grants, read every
//! secret, or plant native code in the cache. This is the one check; install,
//! `skill grant`, `skill run` and every sandboxed call use it.

use std::path::{Path, PathBuf};

/// The directories and files no grant may overlap.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProtectedPaths {
    paths: Vec<PathBuf>,
}

impl ProtectedPaths {
    /// Protect `paths` (directories or files; they need not exist yet).
    pub fn new(paths: impl IntoIterator<Item = PathBuf>) -> Self {
        let mut paths: Vec<PathBuf> = paths.into_iter().map(|p| resolve(&p)).collect();
        paths.sort();
        paths.dedup();
        ProtectedPaths { paths }
    }

    /// Nothing protected (an embedder with no state of its own).
    pub fn none() -> Self {
        Self::default()
    }

    /// The protected paths, resolved.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// The protected path that a grant of `dir` would expose: one inside
    /// `dir`, or one that `dir` is inside.
    pub fn overlap(&self, dir: &Path) -> Option<&Path> {
        let dir = resolve(dir);
        self.paths
            .iter()
            .find(|p| p.starts_with(&dir) || dir.starts_with(p))
            .map(PathBuf::as_path)
    }
}

/// `path` with symlinks resolved as far as it exists, the rest appended, so
/// that a protected directory not created yet still compares correctly.
fn resolve(path: &Path) -> PathBuf {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    };
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(canon) = existing.canonicalize() {
            let mut out = canon;
            for part in rest.iter().rev() {
                out.push(part);
            }
            return out;
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent;
            }
            _ => return absolute,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlaps_either_way_and_before_creation() {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        std::fs::create_dir_all(home.join("config")).unwrap();
        let p = ProtectedPaths::new([home.join("config"), home.join("cache/not-yet")]);
        for (dir, hit) in [
            (tmp.path().to_path_buf(), true),
            (home.clone(), true),
            (home.join("config"), true),
            (home.join("config/keys"), true),
            (home.join("cache"), true),
            (home.join("data"), false),
        ] {
            assert_eq!(p.overlap(&dir).is_some(), hit, "{}", dir.display());
        }
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(&home, tmp.path().join("alias")).unwrap();
            assert!(p.overlap(&tmp.path().join("alias/config")).is_some());
        }
    }
}
