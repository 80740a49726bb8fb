//! Approvals over MCP, for tools whose policy is `ask`.
//!
//! - Clients of the 2025-11-25 era that declared elicitation are asked with
//!   an `elicitation/create` request during the call ([`Elicit`]).
//! - Clients of the 2026-07-28 era (no server-to-client requests) get an
//!   `input_required` result carrying the elicitation and an opaque handle;
//!   the retry that echoes the handle with the user's answer runs the call
//!   ([`Pending`]). The handle is random, single-use, bound to the tool and
//!   its exact arguments, and expires with the approval timeout: a client
//!   cannot reuse one approval for another call.
//! - Any other client cannot ask: the call is refused (the dispatch names
//!   `chitin tools policy` as the remedy).

use crate::agent::approvals::{ApprovalRequest, Approver};
use crate::provider::BoxFuture;
use crate::store::new_id;
use chitin_sandbox::text::one_line;
use rmcp::RoleServer;
use rmcp::model::{
    ElicitRequestParams, ElicitationAction, ElicitationSchema, InputRequest, InputRequests,
    InputResponses,
};
use rmcp::service::Peer;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The key of the approval in an `input_required` result's requests.
pub const INPUT_KEY: &str = "chitin_approval";

/// The field of the elicitation form that approves the call.
const FIELD: &str = "approve";

/// Longest input shown for approval: a longer one is refused, never shown
/// cut (the human must see all of what runs).
pub const MAX_SHOWN_INPUT: usize = 2000;

/// Pending approvals kept at most (the oldest go first).
const MAX_PENDING: usize = 256;

/// What the user is shown: the tool, its declared effects and its input
/// (one line each, capped: the input is the client's text).
pub fn question(request: &ApprovalRequest) -> String {
    let effects = if request.effects.is_empty() {
        "none declared".to_string()
    } else {
        request.effects.join(", ")
    };
    format!(
        "Chitin: allow the sandboxed tool `{}` to run?\nEffects: {}\nInput: {}",
        one_line(&request.tool, 80),
        one_line(&effects, 200),
        one_line(&request.input, MAX_SHOWN_INPUT),
    )
}

fn form(message: String) -> ElicitRequestParams {
    let schema = ElicitationSchema::builder()
        .required_bool(FIELD)
        .description("Approve this one call")
        .build_unchecked();
    ElicitRequestParams::FormElicitationParams {
        meta: None,
        message,
        requested_schema: schema,
    }
}

/// Whether an elicitation answer approves: accepted, with `approve: true`.
fn approves(answer: &serde_json::Value) -> bool {
    let accepted = answer.get("action").and_then(|a| a.as_str()) == Some("accept");
    accepted && answer.pointer("/content/approve").and_then(|v| v.as_bool()) == Some(true)
}

/// Asks a 2025-11-25-era client through `elicitation/create`.
pub struct Elicit {
    /// The client.
    pub peer: Peer<RoleServer>,
}

impl Approver for Elicit {
    fn ask(&self, request: ApprovalRequest) -> BoxFuture<'_, Option<bool>> {
        let params = form(question(&request));
        let timeout = request.timeout;
        Box::pin(async move {
            match self
                .peer
                .create_elicitation_with_timeout(params, Some(timeout))
                .await
            {
                Ok(answer) => Some(
                    answer.action == ElicitationAction::Accept
                        && answer
                            .content
                            .as_ref()
                            .and_then(|c| c.get(FIELD))
                            .and_then(|v| v.as_bool())
                            == Some(true),
                ),
                Err(e) => {
                    tracing::debug!("MCP elicitation failed: {}", one_line(&e.to_string(), 300));
                    Some(false)
                }
            }
        })
    }
}

/// An answer the user already gave (a 2026-07-28 retry).
pub struct Answered(pub bool);

impl Approver for Answered {
    fn ask(&self, _request: ApprovalRequest) -> BoxFuture<'_, Option<bool>> {
        let answer = self.0;
        Box::pin(async move { Some(answer) })
    }
}

/// One approval asked of a 2026-07-28-era client, awaiting its retry.
struct Asked {
    tool: String,
    arguments: String,
    at: Instant,
}

/// Approvals asked through `input_required` results, by handle.
#[derive(Default)]
pub struct Pending {
    asked: Mutex<HashMap<String, Asked>>,
}

/// What a retry's handle and answer come to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// The handle is valid for this call: the user's answer.
    Answer(bool),
    /// Unknown, used, expired, or for another call.
    Stale,
}

impl Pending {
    /// Ask: the `input_required` requests and the handle to echo.
    pub fn ask(&self, request: &ApprovalRequest) -> (InputRequests, String) {
        let handle = new_id("mrtr-");
        let mut asked = self.asked.lock().unwrap_or_else(PoisonError::into_inner);
        asked.retain(|_, a| a.at.elapsed() < request.timeout);
        if asked.len() >= MAX_PENDING
            && let Some(oldest) = asked
                .iter()
                .min_by_key(|(_, a)| a.at)
                .map(|(k, _)| k.clone())
        {
            asked.remove(&oldest);
        }
        asked.insert(
            handle.clone(),
            Asked {
                tool: request.tool.clone(),
                arguments: request.input.clone(),
                at: Instant::now(),
            },
        );
        let elicit = rmcp::model::ElicitRequest::new(form(question(request)));
        let mut requests = InputRequests::new();
        requests.insert(INPUT_KEY.to_string(), InputRequest::Elicitation(elicit));
        (requests, handle)
    }

    /// Take the approval `handle` names (single use), checked against the
    /// call it was asked for.
    pub fn answer(
        &self,
        handle: &str,
        tool: &str,
        arguments: &str,
        responses: Option<&InputResponses>,
        timeout: Duration,
    ) -> Retry {
        let asked = self
            .asked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(handle);
        match asked {
            Some(a) if a.tool == tool && a.arguments == arguments && a.at.elapsed() < timeout => {
                Retry::Answer(
                    responses
                        .and_then(|r| r.get(INPUT_KEY))
                        .is_some_and(approves),
                )
            }
            _ => Retry::Stale,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(tool: &str, input: &str) -> ApprovalRequest {
        ApprovalRequest {
            approval_id: "a-1".into(),
            call_id: "c-1".into(),
            tool: tool.into(),
            input: input.into(),
            effects: vec!["write".into()],
            timeout: Duration::from_secs(60),
        }
    }

    #[test]
    fn a_handle_is_single_use_and_bound_to_its_call() {
        let p = Pending::default();
        let yes: InputResponses = [(
            INPUT_KEY.to_string(),
            json!({"action": "accept", "content": {"approve": true}}),
        )]
        .into();
        let t = Duration::from_secs(60);
        let (_, h) = p.ask(&request("a__b", "{}"));
        assert_eq!(p.answer(&h, "a__c", "{}", Some(&yes), t), Retry::Stale);
        let (_, h) = p.ask(&request("a__b", "{}"));
        assert_eq!(
            p.answer(&h, "a__b", r#"{"x":1}"#, Some(&yes), t),
            Retry::Stale
        );
        let (_, h) = p.ask(&request("a__b", "{}"));
        assert_eq!(
            p.answer(&h, "a__b", "{}", Some(&yes), t),
            Retry::Answer(true)
        );
        assert_eq!(p.answer(&h, "a__b", "{}", Some(&yes), t), Retry::Stale);
        let no: InputResponses = [(INPUT_KEY.to_string(), json!({"action": "decline"}))].into();
        let (_, h) = p.ask(&request("a__b", "{}"));
        assert_eq!(
            p.answer(&h, "a__b", "{}", Some(&no), t),
            Retry::Answer(false)
        );
        let (_, h) = p.ask(&request("a__b", "{}"));
        assert_eq!(p.answer(&h, "a__b", "{}", None, t), Retry::Answer(false));
        assert_eq!(
            p.answer("forged", "a__b", "{}", Some(&yes), t),
            Retry::Stale
        );
    }

    #[test]
    fn only_an_accepted_true_approves() {
        assert!(approves(
            &json!({"action": "accept", "content": {"approve": true}})
        ));
        assert!(!approves(
            &json!({"action": "accept", "content": {"approve": false}})
        ));
        assert!(!approves(
            &json!({"action": "accept", "content": {"approve": "true"}})
        ));
        assert!(!approves(
            &json!({"action": "cancel", "content": {"approve": true}})
        ));
    }
}
