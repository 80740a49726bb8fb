//! After a crash: turns that started and never ended are closed, so history,
//! exports and `sessions show` stay consistent. A turn whose process is gone
//! (the `pid` its start record names no longer runs; a turn recorded without
//! one counts as gone) gets a result for every tool call left without one,
//! a tool-call record saying it was interrupted, and an end record with stop
//! `interrupted`. A turn of a process still running (a `chitin ask` next to
//! the daemon) is left alone.

use super::events::EventKind;
use super::{Store, StoreError};
use crate::messages::Message;
use serde_json::json;
use std::collections::{BTreeMap, HashSet};

/// What a tool call left without a result is told.
pub const INTERRUPTED: &str =
    "interrupted: Chitin stopped before this call finished; it has no result";

/// Whether process `pid` still runs.
fn alive(pid: u64) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    // EPERM means it exists (another user's); only ESRCH means gone.
    match rustix::process::test_kill_process(pid) {
        Ok(()) => true,
        Err(e) => e != rustix::io::Errno::SRCH,
    }
}

impl Store {
    /// Close every turn whose process is gone without ending it; returns
    /// how many were closed.
    pub fn close_interrupted(&self) -> Result<usize, StoreError> {
        // (session, turn) -> (pid of the start record, ended)
        let mut turns: BTreeMap<(String, String), (Option<u64>, bool)> = BTreeMap::new();
        for e in self.query(
            "SELECT seq, session_id, turn_id, ts_ms, kind, data FROM events WHERE kind = 'turn' ORDER BY seq",
            &[],
        )? {
            let Some(turn) = e.turn_id.clone() else {
                continue;
            };
            let entry = turns.entry((e.session_id.clone(), turn)).or_default();
            match e.data["event"].as_str() {
                Some("started") => entry.0 = e.data["pid"].as_u64(),
                Some("done") => entry.1 = true,
                _ => {}
            }
        }
        let mut closed = 0;
        for ((session, turn), (pid, ended)) in turns {
            if ended || pid.is_some_and(alive) {
                continue;
            }
            self.close_turn(&session, &turn)?;
            closed += 1;
        }
        Ok(closed)
    }

    fn close_turn(&self, session: &str, turn: &str) -> Result<(), StoreError> {
        let events = self.query(
            "SELECT seq, session_id, turn_id, ts_ms, kind, data FROM events WHERE session_id = ?1 AND turn_id = ?2 AND kind IN ('message', 'tool_call') ORDER BY seq",
            &[&session, &turn],
        )?;
        let mut calls = Vec::new();
        let mut answered = HashSet::new();
        let mut recorded = HashSet::new();
        for e in &events {
            if e.kind == "tool_call" {
                if let Some(id) = e.data["call_id"].as_str() {
                    recorded.insert(id.to_string());
                }
                continue;
            }
            match serde_json::from_value::<Message>(e.data.clone()) {
                Ok(Message::Assistant { tool_calls, .. }) => calls.extend(tool_calls),
                Ok(Message::Tool { call_id, .. }) => {
                    answered.insert(call_id);
                }
                _ => {}
            }
        }
        for call in calls {
            if !recorded.contains(&call.id) {
                self.append(
                    session,
                    Some(turn),
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
            if !answered.contains(&call.id) {
                let result = Message::Tool {
                    call_id: call.id.clone(),
                    name: call.name.clone(),
                    output: INTERRUPTED.into(),
                    is_error: true,
                };
                let data = serde_json::to_value(&result).map_err(|e| StoreError::Corrupt {
                    path: self.path.clone(),
                    detail: e.to_string(),
                })?;
                self.append(session, Some(turn), EventKind::Message, &data)?;
            }
        }
        self.append(
            session,
            Some(turn),
            EventKind::Turn,
            &json!({ "event": "done", "stop": "interrupted" }),
        )?;
        Ok(())
    }
}
