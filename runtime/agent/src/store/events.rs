//! A session's event log: append, read back, export, and the queries the
//! agent needs (history, today's tokens, recent audit events).

use super::{Store, StoreError, now_ms};
use crate::messages::{Message, Usage};
use rusqlite::{OptionalExtension, params};

/// Milliseconds in a day.
const DAY_MS: i64 = 86_400_000;
use serde::{Deserialize, Serialize};

/// Tokens one model used on one UTC day (or in one session or job).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageRow {
    /// Days since 1970-01-01 (UTC): the day, or the group's first.
    pub day: i64,
    /// The session id or job name (empty per day, or outside any job).
    pub group: String,
    /// The model (empty for calls recorded before models were).
    pub model: String,
    /// Model calls.
    pub calls: u64,
    /// Their tokens.
    pub usage: Usage,
}

/// How [`Store::usage_by`] groups model calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageBy {
    /// Per UTC day.
    Day,
    /// Per session.
    Session,
    /// Per scheduled job (calls outside jobs together).
    Job,
}

/// What a stored event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A history message (user, assistant or tool result), in full.
    Message,
    /// A tool call: input, output, outcome, capability uses.
    ToolCall,
    /// Tokens used by one model call.
    Usage,
    /// A sandbox audit event (capability allowed or denied).
    Audit,
    /// An approval asked and answered.
    Approval,
    /// A turn started or ended (with the stop reason).
    Turn,
    /// An error shown to the user.
    Error,
}

impl EventKind {
    fn as_str(self) -> &'static str {
        match self {
            EventKind::Message => "message",
            EventKind::ToolCall => "tool_call",
            EventKind::Usage => "usage",
            EventKind::Audit => "audit",
            EventKind::Approval => "approval",
            EventKind::Turn => "turn",
            EventKind::Error => "error",
        }
    }
}

/// One row of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// Global order.
    pub seq: i64,
    /// Session.
    pub session_id: String,
    /// Turn, if inside one.
    pub turn_id: Option<String>,
    /// When, ms since the Unix epoch.
    pub ts_ms: i64,
    /// What.
    pub kind: String,
    /// The payload.
    pub data: serde_json::Value,
}

fn row_event(
    r: &rusqlite::Row<'_>,
) -> rusqlite::Result<(i64, String, Option<String>, i64, String, String)> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

/// Insert one event inside `tx` (without touching the session's time).
pub(super) fn insert_event(
    tx: &rusqlite::Transaction<'_>,
    session_id: &str,
    turn_id: Option<&str>,
    now: i64,
    kind: EventKind,
    data: &serde_json::Value,
) -> rusqlite::Result<i64> {
    tx.prepare_cached(
        "INSERT INTO events (session_id, turn_id, ts_ms, kind, data) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        session_id,
        turn_id,
        now,
        kind.as_str(),
        data.to_string()
    ])?;
    Ok(tx.last_insert_rowid())
}

impl Store {
    /// Append an event to a session (and touch the session).
    pub fn append(
        &self,
        session_id: &str,
        turn_id: Option<&str>,
        kind: EventKind,
        data: &serde_json::Value,
    ) -> Result<i64, StoreError> {
        let now = now_ms();
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.sql(e))?;
        // Cached statements: the loop appends several events per turn.
        let changed = tx
            .prepare_cached("UPDATE sessions SET updated_ms = ?2 WHERE id = ?1")
            .and_then(|mut st| st.execute(params![session_id, now]))
            .map_err(|e| self.sql(e))?;
        if changed == 0 {
            return Err(StoreError::NoSession(session_id.to_string()));
        }
        let seq =
            insert_event(&tx, session_id, turn_id, now, kind, data).map_err(|e| self.sql(e))?;
        if kind == EventKind::Usage {
            // Clamped: a provider's absurd figures must not overflow the
            // total (SQLite would turn it into a REAL and break the budget).
            let tokens = ["input_tokens", "output_tokens"]
                .iter()
                .filter_map(|k| data[*k].as_u64())
                .map(|t| t.min(1 << 40) as i64)
                .sum::<i64>();
            tx.execute(
                "INSERT INTO usage_daily (day, tokens) VALUES (?1, ?2) ON CONFLICT(day) DO UPDATE SET tokens = MIN(tokens + excluded.tokens, 1 << 50)",
                params![now.div_euclid(DAY_MS), tokens],
            )
            .map_err(|e| self.sql(e))?;
        }
        tx.commit().map_err(|e| self.sql(e))?;
        Ok(seq)
    }

    pub(super) fn query(
        &self,
        sql: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(sql).map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map(args, row_event)
            .map_err(|e| self.sql(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.sql(e))?;
        rows.into_iter()
            .map(|(seq, session_id, turn_id, ts_ms, kind, data)| {
                let data = serde_json::from_str(&data).map_err(|e| StoreError::Corrupt {
                    path: self.path.clone(),
                    detail: format!("event {seq}: {e}"),
                })?;
                Ok(StoredEvent {
                    seq,
                    session_id,
                    turn_id,
                    ts_ms,
                    kind,
                    data,
                })
            })
            .collect()
    }

    /// Every event of a session, in order.
    pub fn events(&self, session_id: &str) -> Result<Vec<StoredEvent>, StoreError> {
        self.session(session_id)?;
        self.query(
            "SELECT seq, session_id, turn_id, ts_ms, kind, data FROM events WHERE session_id = ?1 ORDER BY seq",
            &[&session_id],
        )
    }

    /// The data of the latest `turn` event of `session_id` whose `event`
    /// is `event` (a compaction's `summary`, the recalled `memory`).
    pub fn latest_note(
        &self,
        session_id: &str,
        event: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        Ok(self
            .query(
                "SELECT seq, session_id, turn_id, ts_ms, kind, data FROM events WHERE session_id = ?1 AND kind = 'turn' AND json_extract(data, '$.event') = ?2 ORDER BY seq DESC LIMIT 1",
                &[&session_id, &event],
            )?
            .pop()
            .map(|e| e.data))
    }

    /// A session's history, in order.
    pub fn messages(&self, session_id: &str) -> Result<Vec<Message>, StoreError> {
        self.session(session_id)?;
        self.query(
            "SELECT seq, session_id, turn_id, ts_ms, kind, data FROM events WHERE session_id = ?1 AND kind = 'message' ORDER BY seq",
            &[&session_id],
        )?
        .into_iter()
        .map(|e| {
            serde_json::from_value(e.data).map_err(|err| StoreError::Corrupt {
                path: self.path.clone(),
                detail: format!("message {}: {err}", e.seq),
            })
        })
        .collect()
    }

    /// Tokens used today (UTC), all sessions.
    pub fn tokens_today(&self) -> Result<u64, StoreError> {
        let total: Option<i64> = self
            .conn()
            .query_row(
                "SELECT tokens FROM usage_daily WHERE day = ?1",
                [now_ms().div_euclid(DAY_MS)],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql(e))?;
        Ok(total.unwrap_or(0).max(0) as u64)
    }

    /// Tokens used per UTC day and model since `since_ms`, oldest day
    /// first (from each model call's usage record; a deleted session's
    /// calls are gone from it).
    pub fn usage_by_day(&self, since_ms: i64) -> Result<Vec<UsageRow>, StoreError> {
        self.usage_by(since_ms, UsageBy::Day)
    }

    /// Tokens used since `since_ms` per model and `by` (per day: oldest
    /// first; per session or job: `group` names it, `day` is its first).
    pub fn usage_by(&self, since_ms: i64, by: UsageBy) -> Result<Vec<UsageRow>, StoreError> {
        // Fixed SQL per grouping: nothing from the caller is spliced in.
        let (group, day, order) = match by {
            UsageBy::Day => ("''", "ts_ms / 86400000", "day, grp, model"),
            UsageBy::Session => ("session_id", "MIN(ts_ms) / 86400000", "day, grp, model"),
            UsageBy::Job => (
                "COALESCE(json_extract(data, '$.job'), '')",
                "MIN(ts_ms) / 86400000",
                "grp, model",
            ),
        };
        let grouping = match by {
            UsageBy::Day => "ts_ms / 86400000, grp, model",
            UsageBy::Session | UsageBy::Job => "grp, model",
        };
        let sql = format!(
            "SELECT {day} AS day, {group} AS grp, COALESCE(json_extract(data, '$.model'), '') AS model, COUNT(*),
                    SUM(COALESCE(json_extract(data, '$.input_tokens'), 0)),
                    SUM(COALESCE(json_extract(data, '$.output_tokens'), 0)),
                    SUM(COALESCE(json_extract(data, '$.cache_read_tokens'), 0)),
                    SUM(COALESCE(json_extract(data, '$.cache_write_tokens'), 0))
             FROM events WHERE kind = 'usage' AND ts_ms >= ?1
             GROUP BY {grouping} ORDER BY {order}"
        );
        let conn = self.conn();
        let mut stmt = conn.prepare(&sql).map_err(|e| self.sql(e))?;
        let n = |v: i64| v.max(0) as u64;
        let rows = stmt
            .query_map([since_ms], |r| {
                Ok(UsageRow {
                    day: r.get(0)?,
                    group: r.get(1)?,
                    model: r.get(2)?,
                    calls: n(r.get(3)?),
                    usage: Usage {
                        input_tokens: n(r.get(4)?),
                        output_tokens: n(r.get(5)?),
                        cache_read_tokens: n(r.get(6)?),
                        cache_write_tokens: n(r.get(7)?),
                    },
                })
            })
            .map_err(|e| self.sql(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.sql(e))?;
        Ok(rows)
    }

    /// The most recent audit events (newest last), optionally one session's
    /// or only denials.
    pub fn audit(
        &self,
        limit: u32,
        session_id: Option<&str>,
        denied_only: bool,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let deny = if denied_only {
            " AND json_extract(data, '$.decision') = 'deny'"
        } else {
            ""
        };
        let mut rows = match session_id {
            Some(s) => self.query(
                &format!("SELECT seq, session_id, turn_id, ts_ms, kind, data FROM events WHERE kind = 'audit' AND session_id = ?1{deny} ORDER BY seq DESC LIMIT ?2"),
                &[&s, &limit],
            )?,
            None => self.query(
                &format!("SELECT seq, session_id, turn_id, ts_ms, kind, data FROM events WHERE kind = 'audit'{deny} ORDER BY seq DESC LIMIT ?1"),
                &[&limit],
            )?,
        };
        rows.reverse();
        Ok(rows)
    }
}
