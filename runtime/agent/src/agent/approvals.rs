//! Approvals: each tool is `allow`, `ask` or `deny`. The default follows the
//! tool's declared effects (read-only tools run, anything that writes, goes
//! to the network or uses a secret asks); the user can change it. "Ask"
//! pauses the turn and asks through the channel the turn came from.

use crate::provider::BoxFuture;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What happens when the model calls a tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Run it.
    Allow,
    /// Ask the human each time.
    Ask,
    /// Refuse it (the model is told).
    Deny,
}

impl Policy {
    /// `allow`, `ask` or `deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Allow => "allow",
            Policy::Ask => "ask",
            Policy::Deny => "deny",
        }
    }

    /// Parse `allow`, `ask` or `deny`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "allow" => Some(Policy::Allow),
            "ask" => Some(Policy::Ask),
            "deny" => Some(Policy::Deny),
            _ => None,
        }
    }

    /// The default for a tool with these declared effects, in a skill that
    /// was (`reaches_out`) or was not granted network access or a secret:
    /// only tools that at most read files run without asking. Declared
    /// effects are the skill's own claim, so a skill that can reach the
    /// network always asks, whatever its tools declare.
    pub fn default_for(effects: &[String], reaches_out: bool) -> Self {
        if !reaches_out && effects.iter().all(|e| e == "reads-files") {
            Policy::Allow
        } else {
            Policy::Ask
        }
    }
}

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
    /// timeout and cancellation around this future.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_effects() {
        let e = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        for (effects, want) in [
            (e(&[]), Policy::Allow),
            (e(&["reads-files"]), Policy::Allow),
            (e(&["reads-files", "writes-files"]), Policy::Ask),
            (e(&["network"]), Policy::Ask),
            (e(&["uses-secret:GITHUB_TOKEN"]), Policy::Ask),
        ] {
            assert_eq!(Policy::default_for(&effects, false), want, "{effects:?}");
            assert_eq!(
                Policy::default_for(&effects, true),
                Policy::Ask,
                "{effects:?}"
            );
        }
        assert_eq!(Policy::parse("ask"), Some(Policy::Ask));
        assert_eq!(Policy::parse("yes"), None);
    }
}
