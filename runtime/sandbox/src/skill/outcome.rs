//! How a call ended: the typed error ([`CallError`]) and everything a call
//! produced ([`CallOutcome`]).

use super::requests::Ungranted;
use crate::audit::AuditEvent;
use crate::capabilities::limits::LimitKind;
use crate::capabilities::log::LogLine;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Why a call did not produce output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", content = "message", rename_all = "kebab-case")]
pub enum CallError {
    /// The skill has no such tool.
    #[error("unknown tool: {0}")]
    UnknownTool(String),
    /// The skill rejected its input.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// An operation was refused by the sandbox.
    #[error("denied: {0}")]
    Denied(String),
    /// The tool reported a failure.
    #[error("failed: {0}")]
    Failed(String),
    /// A limit stopped the call.
    #[error("{0}")]
    Limit(String),
    /// The skill crashed (trapped).
    #[error("the skill crashed: {0}")]
    Trap(String),
    /// The host could not set the call up (e.g. a granted directory vanished).
    #[error("cannot run the call: {0}")]
    Host(String),
    /// The sandbox was full for longer than a call may wait (nothing ran).
    #[error("{0}")]
    Busy(String),
}

/// Everything a call produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CallOutcome {
    /// Output, or why there is none (secret values redacted).
    pub result: Result<String, CallError>,
    /// Which limit stopped the call, if one did.
    pub limit: Option<LimitKind>,
    /// Capability uses and denials, in order.
    pub audit: Vec<AuditEvent>,
    /// Requested capabilities that were not granted.
    pub ungranted: Vec<Ungranted>,
    /// Skill log lines kept.
    pub logs: Vec<LogLine>,
    /// Log lines dropped over the budget.
    pub logs_dropped: u64,
    /// Wall time of the call.
    pub elapsed: Duration,
}

impl CallOutcome {
    /// A call that never started.
    pub fn not_run(error: CallError) -> Self {
        CallOutcome {
            result: Err(error),
            limit: None,
            audit: Vec::new(),
            ungranted: Vec::new(),
            logs: Vec::new(),
            logs_dropped: 0,
            elapsed: Duration::ZERO,
        }
    }

    /// The denials recorded during the call.
    pub fn denials(&self) -> impl Iterator<Item = &AuditEvent> {
        self.audit
            .iter()
            .filter(|e| e.decision == crate::audit::Decision::Deny)
    }
}
