//! The agent's memory: plain Markdown files the user can read and edit in
//! the data directory (`memory/profile.md` about the user,
//! `memory/notes.md` for long-term notes, `memory/daily/YYYY-MM-DD.md` a
//! dated log), searched through an SQLite FTS5 index kept beside them.
//!
//! The files are the truth; the index follows them (see [`index`]). The
//! model reaches memory only through the host tools `memory_search` and
//! `memory_save` (first-party host code, not skills: they touch this
//! directory and nothing else, append one cleaned entry at a time and never
//! delete), and through the recall offered at the start of a session,
//! framed as notes, never as instructions.

mod files;
mod index;

pub use files::{EntryError, MAX_CHUNK_BYTES, strip_escapes};
pub use index::{Hit, MAX_FILES, match_expression};

use crate::dirs::ChitinDirs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Longest entry `memory_save` accepts.
pub const MAX_ENTRY_BYTES: usize = 4000;

/// Why a memory operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    /// A memory file or the directory could not be read or written.
    #[error("memory file {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The index failed.
    #[error("memory index {}: {source} (it is rebuilt from the files if you delete it)", path.display())]
    Index {
        /// The index file.
        path: PathBuf,
        /// The error.
        source: rusqlite::Error,
    },
    /// The text to save is not acceptable.
    #[error("{0}")]
    Entry(#[from] EntryError),
    /// The memory directory is a symlink or not a directory.
    #[error("{}: the memory directory must be a real directory, not a symlink", .0.display())]
    NotADirectory(PathBuf),
}

/// Where `memory_save` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// `notes.md`: long-term facts and decisions.
    Note,
    /// `profile.md`: about the user (name, preferences, people, places).
    Profile,
    /// `daily/YYYY-MM-DD.md`: what happened today.
    Daily,
}

impl Kind {
    /// The file it writes, relative to the memory directory, on `date`
    /// (`YYYY-MM-DD`).
    pub fn file(self, date: &str) -> String {
        match self {
            Kind::Note => "notes.md".into(),
            Kind::Profile => "profile.md".into(),
            Kind::Daily => format!("daily/{date}.md"),
        }
    }

    fn header(self, date: &str) -> String {
        match self {
            // Headings only: any text here would be indexed as an entry.
            Kind::Note => "# Notes\n\n".into(),
            Kind::Profile => "# Profile\n\n".into(),
            Kind::Daily => format!("# {date}\n\n"),
        }
    }
}

/// Where an entry was saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    /// The file, relative to the memory directory.
    pub file: String,
    /// The line the entry starts on.
    pub line: usize,
}

/// The memory of one Chitin home.
pub struct Memory {
    dir: PathBuf,
    index: Mutex<index::Index>,
}

impl std::fmt::Debug for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memory").field("dir", &self.dir).finish()
    }
}

impl Memory {
    /// Open the memory of `dirs` (creating the directory, mode 0700).
    pub fn open(dirs: &ChitinDirs) -> Result<Memory, MemoryError> {
        Self::open_at(&dirs.memory(), &dirs.memory_index())
    }

    /// Open the memory in `dir` with its index at `index`.
    pub fn open_at(dir: &Path, index: &Path) -> Result<Memory, MemoryError> {
        make_dir(dir)?;
        make_dir(&dir.join("daily"))?;
        Ok(Memory {
            dir: dir.to_path_buf(),
            index: Mutex::new(index::Index::open(index)?),
        })
    }

    /// The memory directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn index(&self) -> std::sync::MutexGuard<'_, index::Index> {
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Append `text` as one entry to the file of `kind`; returns where.
    pub fn save(&self, kind: Kind, text: &str) -> Result<Saved, MemoryError> {
        let now = chrono::Local::now();
        let date = now.format("%Y-%m-%d").to_string();
        let prefix = match kind {
            Kind::Daily => now.format("%H:%M ").to_string(),
            Kind::Note | Kind::Profile => String::new(),
        };
        let entry = files::entry(text, &prefix, MAX_ENTRY_BYTES)?;
        let file = kind.file(&date);
        let path = self.dir.join(&file);
        let mut index = self.index();
        let line = files::append(&path, &kind.header(&date), &entry)
            .map_err(|e| MemoryError::Io { path, source: e })?;
        index.sync(&self.dir)?;
        Ok(Saved { file, line })
    }

    /// The best `limit` entries for `query`, after bringing the index up to
    /// date with the files.
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<Hit>, MemoryError> {
        let mut index = self.index();
        index.sync(&self.dir)?;
        index.search(query, limit.clamp(1, 50))
    }

    /// How many entries are indexed (after a sync).
    pub fn entries(&self) -> Result<usize, MemoryError> {
        let mut index = self.index();
        index.sync(&self.dir)?;
        index.entries()
    }

    /// The text of memory file `rel` (`notes.md`, `daily/2026-12-01.md`),
    /// or None if it does not exist.
    pub fn read(&self, rel: &str) -> Result<Option<String>, MemoryError> {
        let path = self.dir.join(rel);
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_file() => index::read_capped(&path).map(Some),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(MemoryError::Io { path, source: e }),
        }
    }

    /// The memory file a user names: `profile`, `notes`, `today` (or
    /// `daily`), a date `YYYY-MM-DD`, or a file name in the folder
    /// (`notes.md`, `daily/2026-12-01.md`). None when it names none.
    pub fn file_named(&self, name: &str) -> Option<String> {
        let today = chrono::Local::now().format("%Y-%m-%d").to_string();
        let rel = match name {
            "profile" => Kind::Profile.file(&today),
            "notes" => Kind::Note.file(&today),
            "today" | "daily" => Kind::Daily.file(&today),
            d if chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok() => Kind::Daily.file(d),
            f => f.to_string(),
        };
        let (sub, file) = rel.split_once('/').unwrap_or(("", &rel));
        let plain = |s: &str| {
            !s.is_empty()
                && !s.starts_with('.')
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        };
        (matches!(sub, "" | "daily") && plain(file) && file.ends_with(".md")).then_some(rel)
    }

    /// The path of memory file `rel`, created (with its heading) if missing.
    pub fn create(&self, rel: &str) -> Result<PathBuf, MemoryError> {
        let path = self.dir.join(rel);
        let io = |e| MemoryError::Io {
            path: path.clone(),
            source: e,
        };
        if std::fs::symlink_metadata(&path).is_err() {
            let header = match rel {
                "profile.md" => Kind::Profile.header(""),
                "notes.md" => Kind::Note.header(""),
                _ => {
                    let stem = rel.rsplit('/').next().unwrap_or(rel);
                    format!("# {}\n\n", stem.trim_end_matches(".md"))
                }
            };
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            match options.open(&path) {
                Ok(mut f) => std::io::Write::write_all(&mut f, header.as_bytes()).map_err(io)?,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io(e)),
            }
        }
        Ok(path)
    }

    /// The memory files (relative paths), sorted.
    pub fn files(&self) -> Result<Vec<String>, MemoryError> {
        let mut index = self.index();
        index.sync(&self.dir)?;
        index.files()
    }

    /// What to offer the model at the start of a session that opens with
    /// `opening`: the profile, then the entries that best match the
    /// opening message, within about `budget_tokens` (estimated). None
    /// when memory holds nothing.
    pub fn recall(&self, opening: &str, budget_tokens: u64) -> Result<Option<String>, MemoryError> {
        let estimate = crate::agent::spend::estimate_text;
        let mut out = String::new();
        let mut used = 0u64;
        let mut push = |line: &str, out: &mut String| -> bool {
            let cost = estimate(line) + 1;
            if used + cost > budget_tokens {
                return false;
            }
            used += cost;
            out.push_str(line);
            out.push('\n');
            true
        };
        let hits = self.search(opening, 20)?;
        let profile = self.read("profile.md")?.unwrap_or_default();
        let profile_entries = files::chunks(&profile);
        let mut shown = Vec::new();
        for c in profile_entries.iter().take(50) {
            if !push(&format!("[profile.md:{}] {}", c.line, c.text), &mut out) {
                break;
            }
            shown.push(("profile.md".to_string(), c.line));
        }
        for h in hits {
            if shown.contains(&(h.file.clone(), h.line)) {
                continue;
            }
            if !push(&format!("[{}:{}] {}", h.file, h.line, h.text), &mut out) {
                break;
            }
        }
        Ok((!out.is_empty()).then_some(out))
    }
}

/// Create `dir` (0700) if missing; refuse a symlink or a non-directory.
fn make_dir(dir: &Path) -> Result<(), MemoryError> {
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => return Err(MemoryError::NotADirectory(dir.to_path_buf())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(MemoryError::Io {
                path: dir.to_path_buf(),
                source: e,
            });
        }
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir).map_err(|e| MemoryError::Io {
        path: dir.to_path_buf(),
        source: e,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_entries_are_found_and_recalled_within_budget() {
        let dir = tempfile::tempdir().unwrap();
        let m = Memory::open_at(&dir.path().join("memory"), &dir.path().join("i.db")).unwrap();
        let s = m
            .save(Kind::Profile, "Name: Ada; allergic to peanuts")
            .unwrap();
        assert_eq!(
            s,
            Saved {
                file: "profile.md".into(),
                line: 3
            }
        );
        let n = m
            .save(Kind::Note, "The project deadline is March 3")
            .unwrap();
        assert_eq!(n.file, "notes.md");
        let d = m.save(Kind::Daily, "called the plumber").unwrap();
        assert!(
            d.file.starts_with("daily/") && d.file.ends_with(".md"),
            "{d:?}"
        );
        assert_eq!(m.search("deadline?", 5).unwrap()[0].file, "notes.md");
        let recalled = m.recall("when is the deadline", 500).unwrap().unwrap();
        assert!(
            recalled.contains("peanuts") && recalled.contains("March 3"),
            "{recalled}"
        );
        // Room for the profile's entry only.
        let room =
            crate::agent::spend::estimate_text("[profile.md:3] - Name: Ada; allergic to peanuts")
                + 1;
        eprintln!(
            "room {room} notes {:?} profile {:?}",
            m.read("notes.md"),
            m.read("profile.md")
        );
        let tiny = m.recall("when is the deadline", room).unwrap().unwrap();
        assert!(
            tiny.contains("peanuts") && !tiny.contains("March"),
            "{tiny}"
        );
        assert!(
            m.save(Kind::Note, &"x".repeat(MAX_ENTRY_BYTES + 1))
                .is_err()
        );
        let empty = Memory::open_at(&dir.path().join("m2"), &dir.path().join("i2.db")).unwrap();
        assert_eq!(empty.recall("anything", 500).unwrap(), None);
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_memory_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(dir.path(), dir.path().join("memory")).unwrap();
        let e = Memory::open_at(&dir.path().join("memory"), &dir.path().join("i.db")).unwrap_err();
        assert!(matches!(e, MemoryError::NotADirectory(_)), "{e}");
    }
}
