//! After a crash: turns that started and never ended are closed, so history,
//! exports and `sessions show` stay consistent. A turn whose process is gone
//! gets a tool-call record for every call it left unrecorded, a result for
//! every call left without one (when nothing came after it in the session;
//! otherwise the history's repair places those results when it is read),
//! and an end record with stop `interrupted`.
//!
//! "Gone" is decided by the process the start record names: its pid and
//! its start time (`/proc/<pid>/stat`), so a reused pid is not mistaken for
//! the turn's process, and this process's own pid is always gone (a turn
//! cannot be running before this process opened the store). A turn of a
//! process still running (a `chitin ask` next to the daemon) is left alone.
//! Each turn is closed in one immediate transaction that checks again that
//! it is still open, so two processes starting at once close it once.

use super::events::{EventKind, insert_event};
use super::{Store, StoreError, now_ms};
use crate::messages::Message;
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use serde_json::json;
use std::collections::{BTreeMap, HashSet};

/// What a tool call left without a result is told.
pub const INTERRUPTED: &str =
    "interrupted: Chitin stopped before this call finished; it has no result";

/// This process, as a turn's start record names it.
pub fn this_process() -> serde_json::Value {
    let pid = std::process::id();
    json!({ "pid": pid, "pid_start": start_time(pid) })
}

/// When process `pid` started (clock ticks since boot), where `/proc` says.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after
    // the last `)`. `starttime` is field 22, the 20th after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the process that recorded `started` still runs.
pub(super) fn alive(started: &serde_json::Value) -> bool {
    let Some(pid) = started["pid"].as_u64().and_then(|p| u32::try_from(p).ok()) else {
        return false;
    };
    if pid == std::process::id() {
        return false;
    }
    if let Some(recorded) = started["pid_start"].as_u64() {
        // Readable: the same process only if it started at the same time.
        if let Some(now) = start_time(pid) {
            return now == recorded;
        }
    }
    let Some(raw) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    // EPERM means it exists (another user's); only ESRCH means gone.
    match rustix::process::test_kill_process(raw) {
        Ok(()) => true,
        Err(e) => e != rustix::io::Errno::SRCH,
    }
}

impl Store {
    /// Close every turn whose process is gone without ending it; returns
    /// how many were closed.
    pub fn close_interrupted(&self) -> Result<usize, StoreError> {
        // (session, turn) -> (start record, ended)
        let mut turns: BTreeMap<(String, String), (serde_json::Value, bool)> = BTreeMap::new();
        for e in self.query(
            "SELECT seq, session_id, turn_id, ts_ms, kind, data FROM events WHERE kind = 'turn' ORDER BY seq",
            &[],
        )? {
            let Some(turn) = e.turn_id.clone() else {
                continue;
            };
            let entry = turns
                .entry((e.session_id.clone(), turn))
                .or_insert((serde_json::Value::Null, false));
            match e.data["event"].as_str() {
                Some("started") => entry.0 = e.data,
                Some("done") => entry.1 = true,
                _ => {}
            }
        }
        let mut closed = 0;
        for ((session, turn), (started, ended)) in turns {
            if ended || alive(&started) {
                continue;
            }
            if self.close_turn(&session, &turn)? {
                closed += 1;
            }
        }
        Ok(closed)
    }

    /// Close one turn, unless another process did first.
    fn close_turn(&self, session: &str, turn: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.sql(e))?;
        let done: Option<i64> = tx
            .query_row(
                "SELECT seq FROM events WHERE session_id = ?1 AND turn_id = ?2 AND kind = 'turn' AND json_extract(data, '$.event') = 'done' LIMIT 1",
                params![session, turn],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql(e))?;
        if done.is_some() {
            return Ok(false);
        }
        let rows: Vec<(i64, String, String)> = tx
            .prepare(
                "SELECT seq, kind, data FROM events WHERE session_id = ?1 AND turn_id = ?2 AND kind IN ('message', 'tool_call') ORDER BY seq",
            )
            .and_then(|mut st| {
                st.query_map(params![session, turn], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect()
            })
            .map_err(|e| self.sql(e))?;
        let last_of_turn = rows.last().map_or(0, |r| r.0);
        let later: Option<i64> = tx
            .query_row(
                "SELECT seq FROM events WHERE session_id = ?1 AND kind = 'message' AND seq > ?2 LIMIT 1",
                params![session, last_of_turn],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql(e))?;
        let mut calls = Vec::new();
        let mut answered = HashSet::new();
        let mut recorded = HashSet::new();
        for (_, kind, data) in &rows {
            let Ok(data) = serde_json::from_str::<serde_json::Value>(data) else {
                continue;
            };
            if kind == "tool_call" {
                if let Some(id) = data["call_id"].as_str() {
                    recorded.insert(id.to_string());
                }
                continue;
            }
            match serde_json::from_value::<Message>(data) {
                Ok(Message::Assistant { tool_calls, .. }) => calls.extend(tool_calls),
                Ok(Message::Tool { call_id, .. }) => {
                    answered.insert(call_id);
                }
                _ => {}
            }
        }
        let now = now_ms();
        let insert = |kind: EventKind, data: &serde_json::Value| {
            insert_event(&tx, session, Some(turn), now, kind, data).map_err(|e| self.sql(e))
        };
        for call in &calls {
            if !recorded.contains(&call.id) {
                insert(
                    EventKind::ToolCall,
                    &json!({
                        "call_id": call.id,
                        "tool": call.name,
                        "input": call.arguments,
                        "ok": false,
                        "output": INTERRUPTED,
                        "interrupted": true,
                    }),
                )?;
            }
            if !answered.contains(&call.id) && later.is_none() {
                let result = serde_json::to_value(Message::Tool {
                    call_id: call.id.clone(),
                    name: call.name.clone(),
                    output: INTERRUPTED.into(),
                    is_error: true,
                })
                .map_err(|e| StoreError::Corrupt {
                    path: self.path.clone(),
                    detail: e.to_string(),
                })?;
                insert(EventKind::Message, &result)?;
            }
        }
        insert(
            EventKind::Turn,
            &json!({ "event": "done", "stop": "interrupted" }),
        )?;
        tx.commit().map_err(|e| self.sql(e))?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn started(store: &Store, session: &str, turn: &str, by: serde_json::Value, call: &str) {
        let mut start = by;
        start["event"] = json!("started");
        store
            .append(session, Some(turn), EventKind::Turn, &start)
            .unwrap();
        let asked = Message::Assistant {
            text: String::new(),
            tool_calls: vec![crate::messages::ToolCall {
                id: call.into(),
                name: "files__read".into(),
                arguments: "{}".into(),
            }],
            reasoning: Vec::new(),
        };
        store
            .append(
                session,
                Some(turn),
                EventKind::Message,
                &serde_json::to_value(asked).unwrap(),
            )
            .unwrap();
    }

    fn ended(store: &Store, session: &str) -> usize {
        store
            .events(session)
            .unwrap()
            .iter()
            .filter(|e| e.kind == "turn" && e.data["event"] == "done")
            .count()
    }

    #[test]
    fn only_turns_of_gone_processes_are_closed_and_only_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let live = json!({ "pid": child.id(), "pid_start": start_time(child.id()) });
        let reused = json!({ "pid": child.id(), "pid_start": 1 });
        // (who started the turn, closed?)
        let table = [
            (this_process(), true),
            (live, false),
            (reused, true),
            (json!({}), true),
        ];
        let mut sessions = Vec::new();
        for (i, (by, _)) in table.iter().enumerate() {
            let s = store.create_session("").unwrap().id;
            started(&store, &s, &format!("t{i}"), by.clone(), &format!("c{i}"));
            sessions.push(s);
        }
        assert_eq!(store.close_interrupted().unwrap(), 3);
        assert_eq!(store.close_interrupted().unwrap(), 0, "closed once");
        for ((_, closed), s) in table.iter().zip(&sessions) {
            assert_eq!(ended(&store, s), usize::from(*closed), "{s}");
            let last = store.messages(s).unwrap().pop().unwrap();
            assert_eq!(
                matches!(last, Message::Tool { ref output, .. } if output == INTERRUPTED),
                *closed
            );
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    #[test]
    fn a_result_is_not_appended_after_later_messages() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        let s = store.create_session("").unwrap().id;
        started(&store, &s, "t1", json!({}), "c1");
        let later = Message::User {
            text: "next".into(),
        };
        store
            .append(
                &s,
                Some("t2"),
                EventKind::Message,
                &serde_json::to_value(later).unwrap(),
            )
            .unwrap();
        assert_eq!(store.close_interrupted().unwrap(), 1);
        let history = store.messages(&s).unwrap();
        assert!(
            matches!(history.last(), Some(Message::User { .. })),
            "{history:?}"
        );
        // Read back through the repair, the result sits right after its call.
        let repaired = crate::agent::context::repair(history);
        assert!(matches!(repaired[1], Message::Tool { .. }), "{repaired:?}");
    }
}
