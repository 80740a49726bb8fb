//! Persistence in one SQLite file (WAL): sessions, and each session's
//! append-only event log — messages, tool calls with inputs and outputs,
//! token usage, approvals and the sandbox's audit events. One table of
//! events keeps the export trivially faithful: one JSONL line per row.

mod channels;
mod events;
mod jobs;
mod policy;
mod recover;
mod sessions;

pub use channels::{InboxItem, InboxState, Pairing, PairingCode};
pub use events::{EventKind, StoredEvent, UsageBy, UsageRow};
pub use jobs::{Job, JobRun, MAX_RUNS_KEPT, Proposal};
pub use recover::{INTERRUPTED, this_process};
pub use sessions::{MAX_PAGE, MAX_TITLE_CHARS, SessionPage, TitleError, check_title};

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use thiserror::Error;

/// Store errors.
#[derive(Debug, Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("session database {path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// The error.
        source: rusqlite::Error,
    },
    /// The directory cannot be created.
    #[error("session database directory {path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// No such session.
    #[error("no session `{0}` (see `chitin sessions list`)")]
    NoSession(String),
    /// The file is damaged (or empty where a database was): nothing is
    /// written to it.
    #[error(
        "the session database {path} is damaged ({detail}); Chitin will not write to it. Keep a copy, recover what can be read (`sqlite3 {path} .recover > recovered.sql`), then move the file aside (`mv {path} {path}.damaged`) and start again"
    )]
    Damaged {
        /// The database file.
        path: PathBuf,
        /// What the check found.
        detail: String,
    },
    /// A page cursor that is not one this store gave out.
    #[error("`{0}` is not a session list cursor (pass the `next` of the previous page)")]
    BadCursor(String),
    /// A title the user gave is refused.
    #[error("{0}")]
    BadTitle(TitleError),
    /// A turn another running process started is still open in the session.
    #[error(
        "a turn is running in session `{id}` (process {pid}); wait for it to end or stop it, then try again"
    )]
    Busy {
        /// The session.
        id: String,
        /// The process running the turn.
        pid: u64,
    },
    /// Stored data does not parse.
    #[error("session database {path}: corrupt row: {detail}")]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
}

/// A session's summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// Id (`s-` + 16 hex digits).
    pub id: String,
    /// Title (the first message's start, or what the user gave).
    pub title: String,
    /// Created, ms since the Unix epoch.
    pub created_ms: i64,
    /// Last event, ms since the Unix epoch.
    pub updated_ms: i64,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    turn_id TEXT,
    ts_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_session ON events(session_id, seq);
CREATE INDEX IF NOT EXISTS events_by_kind ON events(kind, ts_ms);
-- The session list, a page at a time (see `Store::sessions_page`).
CREATE INDEX IF NOT EXISTS sessions_by_activity ON sessions(updated_ms DESC, id DESC);
-- Running token totals per UTC day, kept in the same transaction as each
-- usage event, so the daily budget check does not scan the log.
CREATE TABLE IF NOT EXISTS usage_daily (
    day INTEGER PRIMARY KEY,
    tokens INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tool_policies (
    tool TEXT PRIMARY KEY,
    package TEXT NOT NULL,
    policy TEXT NOT NULL
);
PRAGMA user_version = 4;
";

/// The `user_version` [`SCHEMA`] sets.
const SCHEMA_VERSION: i64 = 4;

/// The session database.
pub struct Store {
    path: PathBuf,
    conn: Mutex<Connection>,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A random id: `prefix` + 16 hex digits.
pub fn new_id(prefix: &str) -> String {
    let mut b = [0u8; 8];
    // The OS RNG failing is not recoverable in any useful way; fall back
    // to the clock so ids stay unique enough for a single user.
    if getrandom::fill(&mut b).is_err() {
        b = (now_ms() as u64 ^ u64::from(std::process::id())).to_le_bytes();
    }
    format!("{prefix}{}", hex::encode(b))
}

impl Store {
    /// Open (or create) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            chitin_sandbox::capabilities::secrets::create_private_dir(dir).map_err(|source| {
                StoreError::Io {
                    path: dir.to_path_buf(),
                    source,
                }
            })?;
        }
        let err = |source: rusqlite::Error| match source.sqlite_error_code() {
            Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt) => {
                StoreError::Damaged {
                    path: path.to_path_buf(),
                    detail: source.to_string(),
                }
            }
            _ => StoreError::Sqlite {
                path: path.to_path_buf(),
                source,
            },
        };
        // SQLite treats an empty file as a new database; Chitin never leaves
        // one (the schema is written at creation), so an empty file is a
        // database that lost its contents: say so instead of starting over.
        if std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() == 0) {
            return Err(StoreError::Damaged {
                path: path.to_path_buf(),
                detail: "the file is empty".into(),
            });
        }
        let conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(err)?;
        // A deleted session's text is overwritten, not left in free pages.
        conn.pragma_update(None, "secure_delete", "ON")
            .map_err(err)?;
        // Only a new or older database is written to here: opening one must
        // not touch a file that `check` may still find damaged.
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(err)?;
        if version != SCHEMA_VERSION {
            conn.execute_batch(channels::SCHEMA).map_err(err)?;
            conn.execute_batch(jobs::SCHEMA).map_err(err)?;
            conn.execute_batch(SCHEMA).map_err(err)?;
        }
        Ok(Store {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    /// Check the database: `quick_check` (fast, what a start runs) or the
    /// full `integrity_check` (what `chitin doctor` runs).
    pub fn check(&self, full: bool) -> Result<(), StoreError> {
        let pragma = if full {
            "PRAGMA integrity_check(20)"
        } else {
            "PRAGMA quick_check(20)"
        };
        let conn = self.conn();
        let found: Result<Vec<String>, rusqlite::Error> = conn
            .prepare(pragma)
            .and_then(|mut st| st.query_map([], |r| r.get::<_, String>(0))?.collect());
        match found {
            Ok(rows) if rows.len() == 1 && rows[0] == "ok" => Ok(()),
            Ok(rows) => Err(StoreError::Damaged {
                path: self.path.clone(),
                detail: rows.join("; "),
            }),
            Err(e) => Err(StoreError::Damaged {
                path: self.path.clone(),
                detail: e.to_string(),
            }),
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written
        // (statements are atomic), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn sql(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Start a session.
    pub fn create_session(&self, title: &str) -> Result<SessionInfo, StoreError> {
        let now = now_ms();
        let info = SessionInfo {
            id: new_id("s-"),
            title: sessions::title_from(title),
            created_ms: now,
            updated_ms: now,
        };
        self.conn()
            .execute(
                "INSERT INTO sessions (id, title, created_ms, updated_ms) VALUES (?1, ?2, ?3, ?4)",
                params![info.id, info.title, info.created_ms, info.updated_ms],
            )
            .map_err(|e| self.sql(e))?;
        Ok(info)
    }

    /// Give an untitled session a title made from `text` (its first
    /// message); a title someone chose is kept.
    pub fn set_title(&self, id: &str, text: &str) -> Result<(), StoreError> {
        let title = sessions::title_from(text);
        self.conn()
            .execute(
                "UPDATE sessions SET title = ?2 WHERE id = ?1 AND title = ''",
                params![id, title],
            )
            .map_err(|e| self.sql(e))?;
        Ok(())
    }

    /// All sessions, most recently active first.
    pub fn sessions(&self) -> Result<Vec<SessionInfo>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT id, title, created_ms, updated_ms FROM sessions ORDER BY updated_ms DESC, id DESC")
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map([], row_info)
            .map_err(|e| self.sql(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.sql(e))?;
        Ok(rows)
    }

    /// One session.
    pub fn session(&self, id: &str) -> Result<SessionInfo, StoreError> {
        self.conn()
            .query_row(
                "SELECT id, title, created_ms, updated_ms FROM sessions WHERE id = ?1",
                [id],
                row_info,
            )
            .optional()
            .map_err(|e| self.sql(e))?
            .ok_or_else(|| StoreError::NoSession(id.to_string()))
    }
}

fn row_info(r: &rusqlite::Row<'_>) -> rusqlite::Result<SessionInfo> {
    Ok(SessionInfo {
        id: r.get(0)?,
        title: r.get(1)?,
        created_ms: r.get(2)?,
        updated_ms: r.get(3)?,
    })
}
