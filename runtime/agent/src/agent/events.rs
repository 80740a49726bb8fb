//! What a turn reports as it runs: streamed to clients (SSE `data:` lines,
//! one JSON object each) and, except text deltas, persisted.

use crate::messages::Usage;
use serde::{Deserialize, Serialize};

/// How a turn ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// The model gave a final answer.
    Answer,
    /// The step limit was reached.
    StepLimit,
    /// The per-turn or per-day token budget was reached.
    Budget,
    /// The user (or shutdown) cancelled the turn.
    Cancelled,
    /// The provider failed, or the turn could not run.
    Error,
    /// The process running the turn stopped (a crash, `kill -9`); the turn
    /// was closed when Chitin next started.
    Interrupted,
    /// The answer was cut at the model's output limit (`max_output_tokens`).
    Cut,
    /// The model refused to answer.
    Refused,
    /// The provider's content filter stopped the answer.
    Filtered,
}

/// An event of a running turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TurnEvent {
    /// The turn began.
    TurnStarted {
        /// Session id.
        session_id: String,
        /// Turn id.
        turn_id: String,
    },
    /// Streamed answer text.
    TextDelta {
        /// The new text.
        text: String,
    },
    /// Streamed reasoning (shown apart from the answer; not the answer).
    ReasoningDelta {
        /// The new text.
        text: String,
    },
    /// The provider failed after its retries; the turn goes on with the
    /// next configured one.
    Failover {
        /// The provider that failed.
        from: String,
        /// The one the turn continues on.
        to: String,
        /// Why.
        reason: String,
    },
    /// Something the user should know; the turn goes on.
    Notice {
        /// What happened.
        message: String,
    },
    /// A tool call is about to run (after approval).
    ToolCallStarted {
        /// Model's call id.
        call_id: String,
        /// Namespaced tool name.
        tool: String,
        /// Arguments as the model sent them.
        input: String,
        /// Declared effects of the tool.
        effects: Vec<String>,
    },
    /// A tool call ended.
    ToolCallFinished {
        /// Model's call id.
        call_id: String,
        /// Namespaced tool name.
        tool: String,
        /// Success.
        ok: bool,
        /// What the model is given (maybe truncated).
        output: String,
        /// Wall time.
        elapsed_ms: u64,
        /// What the sandbox allowed and denied.
        capabilities: Vec<chitin_sandbox::AuditEvent>,
    },
    /// A tool needs the human's approval; answer with the approval id.
    ApprovalRequested {
        /// Id to answer with.
        approval_id: String,
        /// Model's call id.
        call_id: String,
        /// Namespaced tool name.
        tool: String,
        /// Arguments as the model sent them.
        input: String,
        /// Declared effects (why it asks).
        effects: Vec<String>,
        /// Seconds before it counts as denied.
        timeout_secs: u64,
    },
    /// An approval was decided.
    ApprovalResolved {
        /// The approval id.
        approval_id: String,
        /// Approved.
        approved: bool,
        /// `user`, `timeout` or `cancelled`.
        by: String,
    },
    /// Tokens used by one model call, with running totals.
    Usage {
        /// This call.
        usage: Usage,
        /// This turn so far.
        turn_total: u64,
        /// Today so far (all sessions).
        day_total: u64,
    },
    /// A non-fatal problem to show (the turn goes on), or the fatal one.
    Error {
        /// What happened and what to do.
        message: String,
    },
    /// The turn ended.
    Done {
        /// Why.
        stop: Stop,
        /// The final answer text (empty if none).
        text: String,
    },
}
