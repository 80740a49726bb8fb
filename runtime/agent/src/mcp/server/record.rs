//! Every MCP tool call recorded like an agent's: one session per client
//! (named after it and its transport), and in it the approval, the
//! sandbox's audit events and the call (input, output, outcome, client), so
//! `chitin sessions` and `chitin audit` show what each client ran.

use crate::agent::dispatch::{ToolOutcome, ToolRequest};
use crate::store::EventKind;
use crate::store::{Store, StoreError};
use chitin_sandbox::text::one_line;
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Who is calling, as the client says (its words: cleaned and capped).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Client {
    /// `clientInfo.name`.
    pub name: String,
    /// `clientInfo.version`.
    pub version: String,
    /// `stdio` or `http`.
    pub transport: &'static str,
}

impl Client {
    /// A client from what it sent (absent fields become `unknown`).
    pub fn new(name: Option<&str>, version: Option<&str>, transport: &'static str) -> Self {
        let clean = |s: Option<&str>| {
            let s = one_line(s.unwrap_or(""), 64);
            if s.trim().is_empty() {
                "unknown".to_string()
            } else {
                s
            }
        };
        Client {
            name: clean(name),
            version: clean(version),
            transport,
        }
    }
}

/// Writes calls into the store, one session per client.
pub struct Recorder {
    store: Arc<Store>,
    sessions: Mutex<HashMap<Client, String>>,
}

/// Clients remembered at most (a session is made per new one).
const MAX_CLIENTS: usize = 1024;

impl Recorder {
    /// A recorder writing to `store`.
    pub fn new(store: Arc<Store>) -> Self {
        Recorder {
            store,
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// The session of `client`'s calls (made at its first call).
    pub fn session(&self, client: &Client) -> Result<String, StoreError> {
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(id) = sessions.get(client) {
            return Ok(id.clone());
        }
        let title = format!(
            "MCP: {} {} ({})",
            client.name, client.version, client.transport
        );
        let info = self.store.create_session(&title)?;
        if sessions.len() >= MAX_CLIENTS {
            sessions.clear();
        }
        sessions.insert(client.clone(), info.id.clone());
        Ok(info.id)
    }

    /// Record one finished call.
    pub fn call(
        &self,
        session: &str,
        client: &Client,
        request: &ToolRequest,
        outcome: &ToolOutcome,
    ) -> Result<(), StoreError> {
        if let Some(a) = &outcome.approval {
            self.store.append(
                session,
                None,
                EventKind::Approval,
                &json!({ "approval_id": a.approval_id, "call_id": request.call_id, "tool": request.tool, "approved": a.approved, "by": a.by, "client": client }),
            )?;
        }
        for event in &outcome.audit {
            let mut row = serde_json::to_value(event).unwrap_or_else(|_| json!({}));
            row["call_id"] = json!(request.call_id);
            row["client"] = json!(client);
            self.store.append(session, None, EventKind::Audit, &row)?;
        }
        self.store.append(
            session,
            None,
            EventKind::ToolCall,
            &json!({
                "call_id": request.call_id,
                "tool": request.tool,
                "input": request.arguments,
                "ok": outcome.ok(),
                "output": outcome.for_model(),
                "elapsed_ms": outcome.elapsed.as_millis() as u64,
                "via": "mcp",
                "client": client,
            }),
        )?;
        Ok(())
    }
}
