//! Managing sessions: rename, delete, and listing them a page at a time,
//! optionally only those whose title or messages contain a text.
//!
//! Pages are ordered by last activity, newest first, with the id breaking
//! ties, so the order is total and a cursor (the last row's `updated_ms`
//! and id) names an exact place in it: no session appears on two pages.

use super::{SessionInfo, Store, StoreError, row_info};
use rusqlite::{TransactionBehavior, params};

/// The longest title a user may give (in characters).
pub const MAX_TITLE_CHARS: usize = 200;

/// Most sessions one page may hold.
pub const MAX_PAGE: u32 = 200;

/// One page of sessions, and where the next one starts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SessionPage {
    /// The sessions, most recently active first.
    pub sessions: Vec<SessionInfo>,
    /// The cursor of the next page (`before`), `None` on the last page.
    pub next: Option<String>,
}

/// Why a title is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TitleError {
    /// Nothing but white space.
    #[error("the title is empty")]
    Empty,
    /// Over [`MAX_TITLE_CHARS`].
    #[error("the title is {0} characters long; at most {MAX_TITLE_CHARS} are allowed")]
    TooLong(usize),
    /// A control or format character (newline, escape, bidi override, ...).
    #[error(
        "the title contains a control or invisible character (U+{0:04X}); use plain text on one line"
    )]
    Control(u32),
}

/// The title a user gave, trimmed, or why it is refused.
pub fn check_title(title: &str) -> Result<String, TitleError> {
    let title = title.trim();
    if title.is_empty() {
        return Err(TitleError::Empty);
    }
    if let Some(c) = chitin_sandbox::text::find_control(title, false) {
        return Err(TitleError::Control(u32::from(c)));
    }
    let n = title.chars().count();
    if n > MAX_TITLE_CHARS {
        return Err(TitleError::TooLong(n));
    }
    Ok(title.to_string())
}

/// `text` as a LIKE pattern matching it anywhere, with `\` escaping the
/// pattern's own characters (`%`, `_` and `\`).
fn contains_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// A title made from text nobody checked (a first message, a client's
/// new session): on one line, without control or format characters (each
/// becomes a space), trimmed and cut to [`MAX_TITLE_CHARS`].
pub fn title_from(text: &str) -> String {
    let line: String = text
        .chars()
        .map(|c| {
            if chitin_sandbox::text::is_dangerous(c) {
                ' '
            } else {
                c
            }
        })
        .collect();
    line.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(MAX_TITLE_CHARS)
        .collect()
}

/// A cursor: `<updated_ms>.<id>` of the last session of a page.
fn cursor(s: &SessionInfo) -> String {
    format!("{}.{}", s.updated_ms, s.id)
}

impl Store {
    fn parse_cursor(&self, c: &str) -> Result<(i64, String), StoreError> {
        c.split_once('.')
            .and_then(|(ms, id)| Some((ms.parse::<i64>().ok()?, id.to_string())))
            .filter(|(_, id)| !id.is_empty())
            .ok_or_else(|| StoreError::BadCursor(c.chars().take(80).collect()))
    }

    /// Rename a session (the title is checked with [`check_title`]).
    pub fn rename_session(&self, id: &str, title: &str) -> Result<SessionInfo, StoreError> {
        let title = check_title(title).map_err(StoreError::BadTitle)?;
        let changed = self
            .conn()
            .execute(
                "UPDATE sessions SET title = ?2 WHERE id = ?1",
                params![id, title],
            )
            .map_err(|e| self.sql(e))?;
        if changed == 0 {
            return Err(StoreError::NoSession(id.to_string()));
        }
        self.session(id)
    }

    /// Delete a session and every row recorded for it (messages, tool
    /// calls, audit events, approvals, usage and turn records), in one
    /// transaction; returns how many events went with it. A session with
    /// a turn open in another process that still runs (e.g. a `chitin ask`)
    /// is refused; the caller checks its own running turns. The day's token
    /// total keeps what the session used.
    pub fn delete_session(&self, id: &str) -> Result<usize, StoreError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.sql(e))?;
        let exists: bool = tx
            .query_row("SELECT 1 FROM sessions WHERE id = ?1", [id], |_| Ok(true))
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(false),
                e => Err(e),
            })
            .map_err(|e| self.sql(e))?;
        if !exists {
            return Err(StoreError::NoSession(id.to_string()));
        }
        // Turns started and not ended: refused while their process runs.
        let open: Vec<String> = tx
            .prepare(
                "SELECT s.data FROM events s WHERE s.session_id = ?1 AND s.kind = 'turn' \
                 AND json_extract(s.data, '$.event') = 'started' AND NOT EXISTS (\
                   SELECT 1 FROM events d WHERE d.session_id = s.session_id AND d.turn_id = s.turn_id \
                   AND d.kind = 'turn' AND json_extract(d.data, '$.event') = 'done')",
            )
            .and_then(|mut st| st.query_map([id], |r| r.get(0))?.collect())
            .map_err(|e| self.sql(e))?;
        for started in open {
            let started: serde_json::Value =
                serde_json::from_str(&started).unwrap_or(serde_json::Value::Null);
            if super::recover::alive(&started) {
                return Err(StoreError::Busy {
                    id: id.to_string(),
                    pid: started["pid"].as_u64().unwrap_or(0),
                });
            }
        }
        let events = tx
            .execute("DELETE FROM events WHERE session_id = ?1", [id])
            .map_err(|e| self.sql(e))?;
        tx.execute("DELETE FROM sessions WHERE id = ?1", [id])
            .map_err(|e| self.sql(e))?;
        tx.commit().map_err(|e| self.sql(e))?;
        // With `secure_delete` the freed pages were zeroed; moving the WAL
        // into the database and truncating it drops the old copies too.
        // Best effort: a reader may keep the WAL busy.
        let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        Ok(events)
    }

    /// The approvals answered in a session, in order: each as recorded,
    /// `{approval_id, call_id, tool, approved, by}`.
    pub fn approvals(&self, session_id: &str) -> Result<Vec<serde_json::Value>, StoreError> {
        self.session(session_id)?;
        Ok(self
            .query(
                "SELECT seq, session_id, turn_id, ts_ms, kind, data FROM events WHERE session_id = ?1 AND kind = 'approval' ORDER BY seq",
                &[&session_id],
            )?
            .into_iter()
            .map(|e| e.data)
            .collect())
    }

    /// A page of sessions, most recently active first: at most `limit`
    /// (1 to [`MAX_PAGE`]), starting after the cursor `before` (a page's
    /// `next`).
    pub fn sessions_page(
        &self,
        limit: u32,
        before: Option<&str>,
    ) -> Result<SessionPage, StoreError> {
        self.page(None, limit, before)
    }

    /// Like [`Store::sessions_page`], only the sessions whose title or
    /// message text contains `query` (ASCII letters match either case;
    /// `%` and `_` are plain characters).
    pub fn search_sessions(
        &self,
        query: &str,
        limit: u32,
        before: Option<&str>,
    ) -> Result<SessionPage, StoreError> {
        self.page(Some(query), limit, before)
    }

    fn page(
        &self,
        query: Option<&str>,
        limit: u32,
        before: Option<&str>,
    ) -> Result<SessionPage, StoreError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let (before_ms, before_id) = match before {
            Some(c) => self.parse_cursor(c)?,
            // After every real session: the newest first.
            None => (i64::MAX, String::new()),
        };
        let pattern = query.map(contains_pattern);
        let mut sql = String::from(
            "SELECT id, title, created_ms, updated_ms FROM sessions s \
             WHERE (updated_ms < ?1 OR (updated_ms = ?1 AND (?2 = '' OR id < ?2)))",
        );
        if pattern.is_some() {
            sql.push_str(
                " AND (title LIKE ?4 ESCAPE '\\' OR EXISTS (SELECT 1 FROM events e \
                 WHERE e.session_id = s.id AND e.kind = 'message' \
                 AND json_extract(e.data, '$.text') LIKE ?4 ESCAPE '\\'))",
            );
        }
        sql.push_str(" ORDER BY updated_ms DESC, id DESC LIMIT ?3");
        let conn = self.conn();
        let mut stmt = conn.prepare(&sql).map_err(|e| self.sql(e))?;
        // One more than asked: whether a next page exists.
        let fetch = i64::from(limit) + 1;
        let rows = match &pattern {
            Some(p) => stmt.query_map(params![before_ms, before_id, fetch, p], row_info),
            None => stmt.query_map(params![before_ms, before_id, fetch], row_info),
        }
        .map_err(|e| self.sql(e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| self.sql(e))?;
        let mut sessions = rows;
        let next = if sessions.len() > limit as usize {
            sessions.truncate(limit as usize);
            sessions.last().map(cursor)
        } else {
            None
        };
        Ok(SessionPage { sessions, next })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::messages::Message;
    use crate::store::EventKind;
    use serde_json::json;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        (dir, store)
    }

    fn say(store: &Store, s: &str, text: &str) {
        let m = serde_json::to_value(Message::User { text: text.into() }).unwrap();
        store.append(s, Some("t"), EventKind::Message, &m).unwrap();
    }

    fn count(store: &Store, sql: &str, id: &str) -> i64 {
        store.conn().query_row(sql, [id], |r| r.get(0)).unwrap()
    }

    #[test]
    fn delete_removes_the_session_and_all_its_rows() {
        let (_d, store) = store();
        let keep = store.create_session("keep").unwrap().id;
        let gone = store.create_session("gone").unwrap().id;
        for s in [&keep, &gone] {
            say(&store, s, "hello");
            for kind in [
                EventKind::ToolCall,
                EventKind::Audit,
                EventKind::Approval,
                EventKind::Usage,
                EventKind::Turn,
                EventKind::Error,
            ] {
                store
                    .append(
                        s,
                        Some("t"),
                        kind,
                        &json!({"input_tokens": 5, "event": "done"}),
                    )
                    .unwrap();
            }
        }
        let today = store.tokens_today().unwrap();
        assert_eq!(store.delete_session(&gone).unwrap(), 7);
        assert!(matches!(
            store.session(&gone),
            Err(StoreError::NoSession(_))
        ));
        assert_eq!(
            count(
                &store,
                "SELECT COUNT(*) FROM events WHERE session_id = ?1",
                &gone
            ),
            0
        );
        assert_eq!(
            count(
                &store,
                "SELECT COUNT(*) FROM events WHERE session_id = ?1",
                &keep
            ),
            7
        );
        assert_eq!(store.sessions().unwrap().len(), 1);
        assert_eq!(
            store.tokens_today().unwrap(),
            today,
            "the day's total stays"
        );
        assert!(matches!(
            store.delete_session(&gone),
            Err(StoreError::NoSession(_))
        ));
        // Appending to it afterwards fails and recreates nothing.
        let m = serde_json::to_value(Message::User {
            text: "late".into(),
        })
        .unwrap();
        assert!(matches!(
            store.append(&gone, Some("t"), EventKind::Message, &m),
            Err(StoreError::NoSession(_))
        ));
        assert_eq!(
            count(
                &store,
                "SELECT COUNT(*) FROM events WHERE session_id = ?1",
                &gone
            ),
            0
        );
    }

    #[test]
    fn a_turn_another_live_process_runs_keeps_its_session() {
        let (_d, store) = store();
        let s = store.create_session("busy").unwrap().id;
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let started = json!({"event": "started", "pid": child.id()});
        store
            .append(&s, Some("t1"), EventKind::Turn, &started)
            .unwrap();
        assert!(matches!(
            store.delete_session(&s),
            Err(StoreError::Busy { .. })
        ));
        let _ = child.kill();
        let _ = child.wait();
        // Its process gone, the open turn no longer holds the session.
        assert_eq!(store.delete_session(&s).unwrap(), 1);
    }

    #[test]
    fn search_matches_titles_and_messages_and_escapes_patterns() {
        let (_d, store) = store();
        let a = store.create_session("Quarterly report").unwrap().id;
        let b = store.create_session("").unwrap().id;
        say(&store, &b, "make it 100% done_now");
        let c = store.create_session("").unwrap().id;
        say(&store, &c, "make it 1000 doneXnow");
        let ids = |q: &str| -> Vec<String> {
            let mut v: Vec<String> = store
                .search_sessions(q, 50, None)
                .unwrap()
                .sessions
                .into_iter()
                .map(|s| s.id)
                .collect();
            v.sort();
            v
        };
        assert_eq!(ids("quarterly"), vec![a.clone()], "case-insensitive title");
        assert_eq!(ids("100%"), vec![b.clone()], "% is a plain character");
        assert_eq!(ids("done_now"), vec![b.clone()], "_ is a plain character");
        let mut both = vec![b.clone(), c.clone()];
        both.sort();
        assert_eq!(ids("MAKE IT"), both);
        assert!(
            ids("role").is_empty(),
            "the JSON around the text is not searched"
        );
        assert!(ids("\\").is_empty());
        // A backslash is a plain character too: found where it is.
        let d = store.create_session("").unwrap().id;
        say(&store, &d, "C:\\notes\\a_b");
        assert_eq!(ids("\\"), vec![d.clone()]);
        assert_eq!(ids("s\\a_b"), vec![d]);
    }

    #[test]
    fn pages_follow_the_cursor_without_duplicates() {
        let (_d, store) = store();
        let mut all = Vec::new();
        for i in 0..25 {
            let s = store.create_session(&format!("s{i}")).unwrap().id;
            // Several sessions share each timestamp: the id breaks ties.
            store
                .conn()
                .execute(
                    "UPDATE sessions SET updated_ms = ?2 WHERE id = ?1",
                    params![s, 1000 + i / 4],
                )
                .unwrap();
            all.push(s);
        }
        let mut seen = Vec::new();
        let mut before: Option<String> = None;
        for _ in 0..10 {
            let page = store.sessions_page(7, before.as_deref()).unwrap();
            assert!(page.sessions.len() <= 7);
            seen.extend(page.sessions.iter().map(|s| s.id.clone()));
            before = page.next;
            if before.is_none() {
                break;
            }
        }
        assert!(before.is_none(), "the last page has no next");
        assert_eq!(seen.len(), 25);
        let expected: Vec<String> = store
            .sessions()
            .unwrap()
            .into_iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(seen, expected, "same order as the whole list, each once");
        // The same cursor gives the same page.
        let first = store.sessions_page(7, None).unwrap();
        let next = first.next.clone().unwrap();
        assert_eq!(
            store.sessions_page(7, Some(&next)).unwrap(),
            store.sessions_page(7, Some(&next)).unwrap()
        );
        assert!(matches!(
            store.sessions_page(7, Some("nonsense")),
            Err(StoreError::BadCursor(_))
        ));
        // An exact page boundary: no empty page after the last one.
        let page = store.sessions_page(25, None).unwrap();
        assert_eq!((page.sessions.len(), page.next), (25, None));
    }

    #[test]
    fn titles_are_checked() {
        assert_eq!(check_title("  hi  ").unwrap(), "hi");
        assert_eq!(check_title(" \t "), Err(TitleError::Empty));
        assert_eq!(check_title("a\nb"), Err(TitleError::Control(10)));
        assert_eq!(check_title("\u{1b}[31m"), Err(TitleError::Control(0x1b)));
        assert_eq!(
            check_title("txt\u{202e}exe"),
            Err(TitleError::Control(0x202e))
        );
        assert_eq!(check_title("a\u{2028}b"), Err(TitleError::Control(0x2028)));
        assert_eq!(check_title(&"é".repeat(200)).unwrap().chars().count(), 200);
        assert_eq!(check_title(&"é".repeat(201)), Err(TitleError::TooLong(201)));
        let (_d, store) = store();
        let s = store.create_session("old").unwrap().id;
        assert_eq!(store.rename_session(&s, " new ").unwrap().title, "new");
        assert!(matches!(
            store.rename_session(&s, ""),
            Err(StoreError::BadTitle(TitleError::Empty))
        ));
        assert!(matches!(
            store.rename_session("s-nope", "x"),
            Err(StoreError::NoSession(_))
        ));
        // Titles nobody checked are made safe, not refused; a chosen title
        // is not replaced by the first message.
        assert_eq!(title_from("  a\u{1b}[2J\u{202e}b\n c "), "a [2J b c");
        let untitled = store.create_session("x\u{7}\ny").unwrap();
        assert_eq!(untitled.title, "x y");
        store.set_title(&s, "first message").unwrap();
        assert_eq!(store.session(&s).unwrap().title, "new");
        let empty = store.create_session("").unwrap().id;
        store.set_title(&empty, "first message").unwrap();
        assert_eq!(store.session(&empty).unwrap().title, "first message");
    }
}
