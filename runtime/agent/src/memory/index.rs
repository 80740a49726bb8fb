//! The search index over the memory files: an SQLite FTS5 table (BM25
//! ranking) in its own database file, brought up to date with the files on
//! disk before every search (a file whose size or modification time
//! changed is indexed again, a removed one dropped), so an edit made in a
//! text editor is seen by the next search without a watcher.
//!
//! The index is derived data: a damaged one is deleted and rebuilt.

use super::MemoryError;
use super::files::{self, Chunk};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};

/// Most memory files indexed (the rest are reported, not read).
pub const MAX_FILES: usize = 5000;

/// Most words of a query used for matching.
const MAX_QUERY_WORDS: usize = 32;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    mtime_ns INTEGER NOT NULL,
    size INTEGER NOT NULL
);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks USING fts5(
    text, section, path UNINDEXED, line UNINDEXED,
    tokenize = 'unicode61 remove_diacritics 2'
);
";

/// One search result.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The file, relative to the memory directory (`notes.md`).
    pub file: String,
    /// The line the entry starts on.
    pub line: usize,
    /// The heading above it.
    pub section: String,
    /// The entry (dangerous characters shown as escapes).
    pub text: String,
    /// BM25 score (lower is better, as SQLite reports it).
    pub score: f64,
}

/// The index database.
pub(super) struct Index {
    conn: Connection,
    path: PathBuf,
}

impl Index {
    /// Open (or create) the index at `path`; a file that is not a usable
    /// index is replaced.
    pub fn open(path: &Path) -> Result<Index, MemoryError> {
        match Self::try_open(path) {
            Ok(i) => Ok(i),
            Err(first) => {
                tracing::warn!(index = %path.display(), "memory index unusable, rebuilding: {first}");
                let _ = std::fs::remove_file(path);
                Self::try_open(path).map_err(|e| MemoryError::Index {
                    path: path.to_path_buf(),
                    source: e,
                })
            }
        }
    }

    fn try_open(path: &Path) -> Result<Index, rusqlite::Error> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.execute_batch(SCHEMA)?;
        // Fail now, not at the first search, if the file is not an index.
        conn.query_row("SELECT count(*) FROM files", [], |r| r.get::<_, i64>(0))?;
        Ok(Index {
            conn,
            path: path.to_path_buf(),
        })
    }

    fn err(&self, source: rusqlite::Error) -> MemoryError {
        MemoryError::Index {
            path: self.path.clone(),
            source,
        }
    }

    /// Bring the index up to date with the Markdown files under `dir`.
    /// Returns how many files were (re)indexed.
    pub fn sync(&mut self, dir: &Path) -> Result<usize, MemoryError> {
        let on_disk = list(dir)?;
        let tx = self.conn.transaction().map_err(|e| MemoryError::Index {
            path: self.path.clone(),
            source: e,
        })?;
        let mut known: std::collections::HashMap<String, (i64, i64)> = Default::default();
        {
            let mut q = tx
                .prepare("SELECT path, mtime_ns, size FROM files")
                .map_err(|e| MemoryError::Index {
                    path: self.path.clone(),
                    source: e,
                })?;
            let rows = q
                .query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))
                .and_then(|rows| rows.collect::<Result<Vec<(String, (i64, i64))>, _>>())
                .map_err(|e| MemoryError::Index {
                    path: self.path.clone(),
                    source: e,
                })?;
            known.extend(rows);
        }
        let mut changed = 0;
        let index_err = |e| MemoryError::Index {
            path: self.path.clone(),
            source: e,
        };
        for f in &on_disk {
            if known.remove(&f.rel) == Some((f.mtime_ns, f.size)) {
                continue;
            }
            tx.execute("DELETE FROM chunks WHERE path = ?1", [&f.rel])
                .map_err(index_err)?;
            let text = read_capped(&dir.join(&f.rel))?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO chunks (text, section, path, line) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(index_err)?;
            for Chunk {
                line,
                text,
                section,
            } in files::chunks(&text)
            {
                insert
                    .execute(params![text, section, f.rel, line as i64])
                    .map_err(index_err)?;
            }
            tx.execute(
                "INSERT INTO files (path, mtime_ns, size) VALUES (?1, ?2, ?3)
                 ON CONFLICT(path) DO UPDATE SET mtime_ns = ?2, size = ?3",
                params![f.rel, f.mtime_ns, f.size],
            )
            .map_err(index_err)?;
            changed += 1;
        }
        for gone in known.keys() {
            tx.execute("DELETE FROM chunks WHERE path = ?1", [gone])
                .map_err(index_err)?;
            tx.execute("DELETE FROM files WHERE path = ?1", [gone])
                .map_err(index_err)?;
        }
        tx.commit().map_err(index_err)?;
        Ok(changed)
    }

    /// The best `limit` entries for `query` (any of its words; BM25, the
    /// entry's text weighing more than its heading).
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<Hit>, MemoryError> {
        let Some(expr) = match_expression(query) else {
            return Ok(Vec::new());
        };
        let mut q = self
            .conn
            .prepare_cached(
                "SELECT path, line, section, text, bm25(chunks, 1.0, 0.3) AS score
                 FROM chunks WHERE chunks MATCH ?1 ORDER BY score LIMIT ?2",
            )
            .map_err(|e| self.err(e))?;
        let rows = q
            .query_map(params![expr, limit as i64], |r| {
                Ok(Hit {
                    file: r.get(0)?,
                    line: r.get::<_, i64>(1)?.max(0) as usize,
                    section: r.get(2)?,
                    text: r.get(3)?,
                    score: r.get(4)?,
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }

    /// The indexed files, sorted.
    pub fn files(&self) -> Result<Vec<String>, MemoryError> {
        let mut q = self
            .conn
            .prepare("SELECT path FROM files ORDER BY path")
            .map_err(|e| self.err(e))?;
        q.query_map([], |r| r.get(0))
            .and_then(|rows| rows.collect::<Result<Vec<String>, _>>())
            .map_err(|e| self.err(e))
    }

    /// How many entries are indexed.
    pub fn entries(&self) -> Result<usize, MemoryError> {
        self.conn
            .query_row("SELECT count(*) FROM chunks", [], |r| r.get::<_, i64>(0))
            .optional()
            .map(|n| n.unwrap_or(0).max(0) as usize)
            .map_err(|e| self.err(e))
    }
}

/// `query` as an FTS5 expression matching any of its words, each quoted,
/// so nothing in it is read as FTS5 syntax (`NEAR`, `*`, `:`, quotes,
/// column filters). None when it has no words.
pub fn match_expression(query: &str) -> Option<String> {
    let mut words: Vec<String> = Vec::new();
    for w in query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let w = w.to_lowercase();
        if !words.contains(&w) {
            words.push(w);
        }
        if words.len() == MAX_QUERY_WORDS {
            break;
        }
    }
    if words.is_empty() {
        return None;
    }
    Some(
        words
            .iter()
            .map(|w| format!("\"{w}\""))
            .collect::<Vec<_>>()
            .join(" OR "),
    )
}

struct OnDisk {
    rel: String,
    mtime_ns: i64,
    size: i64,
}

/// The Markdown files under `dir` (its top level and `daily/`); symlinks
/// and other non-files are skipped.
fn list(dir: &Path) -> Result<Vec<OnDisk>, MemoryError> {
    let mut out = Vec::new();
    for sub in ["", "daily"] {
        let d = if sub.is_empty() {
            dir.to_path_buf()
        } else {
            dir.join(sub)
        };
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(MemoryError::Io { path: d, source: e }),
        };
        for entry in entries {
            let entry = entry.map_err(|e| MemoryError::Io {
                path: d.clone(),
                source: e,
            })?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if !name.ends_with(".md") || name.starts_with('.') {
                continue;
            }
            // `symlink_metadata`: a link is never followed out of the folder.
            let Ok(meta) = std::fs::symlink_metadata(entry.path()) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            if out.len() == MAX_FILES {
                tracing::warn!(dir = %dir.display(), "more than {MAX_FILES} memory files; the rest are not indexed");
                return Ok(out);
            }
            let mtime_ns = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_nanos().min(i64::MAX as u128) as i64)
                .unwrap_or(0);
            let rel = if sub.is_empty() {
                name.to_string()
            } else {
                format!("{sub}/{name}")
            };
            out.push(OnDisk {
                rel,
                mtime_ns,
                size: meta.len().min(i64::MAX as u64) as i64,
            });
        }
    }
    Ok(out)
}

/// The text of `path` (up to [`files::MAX_FILE_BYTES`], invalid UTF-8
/// replaced), never following a symlink.
pub(super) fn read_capped(path: &Path) -> Result<String, MemoryError> {
    use std::io::Read;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let io = |e| MemoryError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let file = options.open(path).map_err(io)?;
    if !file.metadata().map_err(io)?.is_file() {
        return Ok(String::new());
    }
    let mut bytes = Vec::new();
    file.take(files::MAX_FILE_BYTES)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_never_reach_fts5_as_syntax() {
        assert_eq!(match_expression("tea"), Some("\"tea\"".into()));
        assert_eq!(
            match_expression("Tea OR \"x\" NEAR(a b) col:* -y ^z tea"),
            Some("\"tea\" OR \"or\" OR \"x\" OR \"near\" OR \"a\" OR \"b\" OR \"col\" OR \"y\" OR \"z\"".into())
        );
        assert_eq!(match_expression(" *:\"()- "), None);
        assert_eq!(match_expression(&"w ".repeat(100)), Some("\"w\"".into()));
    }

    #[test]
    fn the_index_follows_the_files_and_hostile_queries_are_plain_words() {
        let dir = tempfile::tempdir().unwrap();
        let mem = dir.path().join("memory");
        std::fs::create_dir_all(mem.join("daily")).unwrap();
        std::fs::write(
            mem.join("notes.md"),
            "# Notes\n\n- the user's cat is called Miso\n- prefers green tea\n",
        )
        .unwrap();
        std::fs::write(mem.join("daily/2026-12-01.md"), "- dentist at 10\n").unwrap();
        let mut i = Index::open(&dir.path().join("index.db")).unwrap();
        assert_eq!(i.sync(&mem).unwrap(), 2);
        assert_eq!(i.sync(&mem).unwrap(), 0, "nothing changed");
        let hits = i.search("what is the cat's name?", 5).unwrap();
        assert_eq!(hits[0].file, "notes.md");
        assert_eq!(hits[0].line, 3);
        assert!(hits[0].text.contains("Miso"));
        assert_eq!(
            i.search("dentist", 5).unwrap()[0].file,
            "daily/2026-12-01.md"
        );
        for hostile in ["\"", "NEAR(", "*", "text:cat", "') OR 1=1 --", ""] {
            assert!(i.search(hostile, 5).is_ok(), "{hostile}");
        }
        // An edit on disk (a different size) is seen; a removal too.
        std::fs::write(mem.join("notes.md"), "- the cat is called Pixel now\n").unwrap();
        assert_eq!(i.sync(&mem).unwrap(), 1);
        assert!(i.search("Miso", 5).unwrap().is_empty());
        assert_eq!(i.search("pixel", 5).unwrap().len(), 1);
        std::fs::remove_file(mem.join("daily/2026-12-01.md")).unwrap();
        i.sync(&mem).unwrap();
        assert!(i.search("dentist", 5).unwrap().is_empty());
        assert_eq!(i.entries().unwrap(), 1);
    }

    #[test]
    fn a_damaged_index_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("index.db");
        std::fs::write(&p, b"not a database at all, just junk bytes......").unwrap();
        let mut i = Index::open(&p).unwrap();
        assert_eq!(i.sync(dir.path()).unwrap(), 0);
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let mem = dir.path().join("memory");
        std::fs::create_dir_all(&mem).unwrap();
        std::fs::write(dir.path().join("secret.md"), "- api key sk-live-123\n").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret.md"), mem.join("notes.md")).unwrap();
        let mut i = Index::open(&dir.path().join("index.db")).unwrap();
        i.sync(&mem).unwrap();
        assert!(i.search("api key", 5).unwrap().is_empty());
    }
}
