//! Approvals: a tool whose policy is `ask` pauses the turn and asks the
//! human through the channel the turn came from.

use crate::provider::BoxFuture;
use std::time::Duration;

/// A question for the human.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRequest {
    /// Id to answer with.
    pub approval_id: String,
    /// The model's call id.
    pub call_id: String,
    /// Namespaced tool name.
    pub tool: String,
    /// Arguments as the model sent them.
    pub input: String,
    /// Declared effects.
    pub effects: Vec<String>,
    /// How long the human has.
    pub timeout: Duration,
}

/// Asks the human through the turn's channel (terminal, web page, ...).
pub trait Approver: Send + Sync {
    /// `Some(true)` approve, `Some(false)` deny, `None` when this channel
    /// cannot ask (e.g. no terminal), which denies. The loop applies the
    /// timeout and cancellation around this future. The question must be
    /// answerable as soon as `ask` returns (register it before returning
    /// the future): the `approval_requested` event goes out after that.
    fn ask(&self, request: ApprovalRequest) -> BoxFuture<'_, Option<bool>>;
}

/// Denies everything that asks (for non-interactive channels).
pub struct DenyAll;

impl Approver for DenyAll {
    fn ask(&self, _request: ApprovalRequest) -> BoxFuture<'_, Option<bool>> {
        Box::pin(async { None })
    }
}

/// Approves everything that asks (only when the human said so up front,
/// e.g. `chitin ask --yes`).
pub struct ApproveAll;

impl Approver for ApproveAll {
    fn ask(&self, _request: ApprovalRequest) -> BoxFuture<'_, Option<bool>> {
        Box::pin(async { Some(true) })
    }
}
