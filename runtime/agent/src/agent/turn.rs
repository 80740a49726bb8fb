//! One turn: the user's message, then model calls and tool calls until a
//! final answer, the step limit, a token budget or cancellation. Every
//! message, tool call, usage figure, approval and audit event is persisted
//! as it happens, so a crash loses at most the step in flight.

use super::Agent;
use super::approvals::{ApprovalRequest, Approver};
use super::context;
use super::events::{Stop, TurnEvent};
use super::toolbox::ToolResult;
use crate::messages::{Message, ToolCall, Usage};
use crate::policy::Policy;
use crate::provider::ChatRequest;
use crate::store::{EventKind, StoreError, new_id};
use serde_json::json;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The channel a turn came from.
pub struct TurnIo<'a> {
    /// Receives every event as it happens.
    pub events: &'a (dyn Fn(TurnEvent) + Send + Sync),
    /// Asks the human about tools whose policy is `ask`.
    pub approver: &'a dyn Approver,
    /// Cancels the turn.
    pub cancel: CancellationToken,
}

/// How a turn ended.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnSummary {
    /// Turn id.
    pub turn_id: String,
    /// Why it ended.
    pub stop: Stop,
    /// The final answer (empty if none).
    pub text: String,
    /// The error, when `stop` is `Error`.
    pub error: Option<String>,
    /// Tokens used.
    pub usage: Usage,
}

/// Most tool calls run per model answer; the rest are refused to the model.
pub const MAX_CALLS_PER_STEP: usize = 16;

/// Longest a single model call may stream (a trickling endpoint cannot hold
/// a session forever).
const MODEL_CALL_DEADLINE: Duration = Duration::from_secs(15 * 60);

struct Turn<'a> {
    agent: &'a Agent,
    io: &'a TurnIo<'a>,
    session_id: &'a str,
    turn_id: String,
    usage: Usage,
}

impl Agent {
    /// Run one turn of `session_id` with the user's `text`.
    pub async fn run_turn(&self, session_id: &str, text: &str, io: &TurnIo<'_>) -> TurnSummary {
        let mut turn = Turn {
            agent: self,
            io,
            session_id,
            turn_id: new_id("t-"),
            usage: Usage::default(),
        };
        (io.events)(TurnEvent::TurnStarted {
            session_id: session_id.to_string(),
            turn_id: turn.turn_id.clone(),
        });
        let (stop, text, error) = match turn.run(text).await {
            Ok((stop, text)) => (stop, text, None),
            Err(message) => {
                (io.events)(TurnEvent::Error {
                    message: message.clone(),
                });
                let _ = turn.record(EventKind::Error, json!({ "message": message }));
                (Stop::Error, String::new(), Some(message))
            }
        };
        let _ = turn.record(
            EventKind::Turn,
            json!({ "event": "done", "stop": stop, "usage": turn.usage }),
        );
        (io.events)(TurnEvent::Done {
            stop,
            text: text.clone(),
        });
        TurnSummary {
            turn_id: turn.turn_id,
            stop,
            text,
            error,
            usage: turn.usage,
        }
    }
}

impl Turn<'_> {
    fn record(&self, kind: EventKind, data: serde_json::Value) -> Result<i64, String> {
        self.agent
            .store()
            .append(self.session_id, Some(&self.turn_id), kind, &data)
            .map_err(|e: StoreError| e.to_string())
    }

    fn push(&self, history: &mut Vec<Message>, m: Message) -> Result<(), String> {
        self.record(
            EventKind::Message,
            serde_json::to_value(&m).map_err(|e| e.to_string())?,
        )?;
        history.push(m);
        Ok(())
    }

    fn emit(&self, e: TurnEvent) {
        (self.io.events)(e)
    }

    async fn run(&mut self, text: &str) -> Result<(Stop, String), String> {
        let agent = self.agent;
        let store = agent.store();
        let settings = agent.settings();
        let first = store.messages(self.session_id).map_err(|e| e.to_string())?;
        if first.is_empty() {
            let _ = store.set_title(self.session_id, text.lines().next().unwrap_or(""));
        }
        let mut history = context::repair(first);
        self.record(EventKind::Turn, json!({ "event": "started" }))?;
        self.push(
            &mut history,
            Message::User {
                text: text.to_string(),
            },
        )?;
        let provider = agent.provider().map_err(|e| e.to_string())?;
        for _step in 0..settings.max_steps {
            if let Some(stop) = self.over_budget()? {
                return Ok(stop);
            }
            // Installs, upgrades, grants and removals since the last step apply now.
            agent.toolbox().refresh().await;
            let tools = agent.toolbox().specs();
            let fitted = context::fit(&history, settings.context_tokens);
            let req = ChatRequest {
                system: &settings.system_prompt,
                messages: &fitted,
                tools: &tools,
                max_tokens: settings.max_output_tokens,
            };
            let sink = |t: &str| {
                self.emit(TurnEvent::TextDelta {
                    text: t.to_string(),
                })
            };
            let completion = tokio::select! {
                r = tokio::time::timeout(MODEL_CALL_DEADLINE, provider.complete(req, &sink)) => match r {
                    Ok(r) => r.map_err(|e| e.to_string())?,
                    Err(_) => return Err(format!("the provider did not finish its answer within {} minutes", MODEL_CALL_DEADLINE.as_secs() / 60)),
                },
                _ = self.io.cancel.cancelled() => return Ok((Stop::Cancelled, String::new())),
            };
            self.account(completion.usage)?;
            let calls = completion.tool_calls;
            self.push(
                &mut history,
                Message::Assistant {
                    text: completion.text.clone(),
                    tool_calls: calls.clone(),
                },
            )?;
            if calls.is_empty() {
                return Ok((Stop::Answer, completion.text));
            }
            let results = self
                .run_calls(&calls[..calls.len().min(MAX_CALLS_PER_STEP)])
                .await;
            let refused = calls.len().saturating_sub(MAX_CALLS_PER_STEP);
            let results = results.into_iter().map(Some).chain((0..refused).map(|_| {
                Some(Some(ToolResult::error(format!(
                    "not run: at most {MAX_CALLS_PER_STEP} tool calls are run per step; make fewer calls at a time"
                ))))
            }));
            for (call, result) in calls.iter().zip(results) {
                let result = result.flatten().unwrap_or_else(|| {
                    ToolResult::error("cancelled by the user before it ran".into())
                });
                self.finish_call(&mut history, call, result)?;
            }
            if self.io.cancel.is_cancelled() {
                return Ok((Stop::Cancelled, String::new()));
            }
        }
        Ok((Stop::StepLimit, String::new()))
    }

    /// Stop before the next model call if a budget is spent.
    fn over_budget(&self) -> Result<Option<(Stop, String)>, String> {
        let s = self.agent.settings();
        let day = self.day_total()?;
        let why = if self.usage.total() >= s.max_tokens_per_turn {
            format!(
                "the turn's token budget is spent ({} of {} tokens); raise [agent] max_tokens_per_turn to allow more",
                self.usage.total(),
                s.max_tokens_per_turn
            )
        } else if day >= s.max_tokens_per_day {
            format!(
                "today's token budget is spent ({day} of {} tokens); raise [agent] max_tokens_per_day to allow more",
                s.max_tokens_per_day
            )
        } else {
            return Ok(None);
        };
        self.emit(TurnEvent::Error {
            message: why.clone(),
        });
        self.record(EventKind::Error, json!({ "message": why }))?;
        Ok(Some((Stop::Budget, String::new())))
    }

    fn day_total(&self) -> Result<u64, String> {
        self.agent.store().tokens_today().map_err(|e| e.to_string())
    }

    fn account(&mut self, usage: Usage) -> Result<(), String> {
        self.usage.add(usage);
        self.record(
            EventKind::Usage,
            serde_json::to_value(usage).map_err(|e| e.to_string())?,
        )?;
        let day_total = self.day_total()?;
        self.emit(TurnEvent::Usage {
            usage,
            turn_total: self.usage.total(),
            day_total,
        });
        Ok(())
    }

    /// Decide each call (policy, then the human for `ask`), then run the
    /// approved ones concurrently. `None`: cancelled before it ran.
    async fn run_calls(&self, calls: &[ToolCall]) -> Vec<Option<ToolResult>> {
        let mut decided = Vec::with_capacity(calls.len());
        for call in calls {
            if self.io.cancel.is_cancelled() {
                decided.push(None);
                continue;
            }
            decided.push(Some(self.decide(call).await));
        }
        let runs = calls.iter().zip(decided).map(|(call, d)| async move {
            match d {
                None => None,
                Some(Err(refusal)) => Some(ToolResult::error(refusal)),
                Some(Ok(())) => {
                    let effects = self
                        .agent
                        .toolbox()
                        .get(&call.name)
                        .map(|t| t.info.effects.clone())
                        .unwrap_or_default();
                    self.emit(TurnEvent::ToolCallStarted {
                        call_id: call.id.clone(),
                        tool: call.name.clone(),
                        input: call.arguments.clone(),
                        effects,
                    });
                    tokio::select! {
                        r = self.agent.toolbox().call(&call.name, &call.arguments) => Some(r),
                        _ = self.io.cancel.cancelled() => None,
                    }
                }
            }
        });
        futures_util::future::join_all(runs).await
    }

    /// `Ok` to run; `Err` with the message the model gets.
    async fn decide(&self, call: &ToolCall) -> Result<(), String> {
        let Some(entry) = self.agent.toolbox().get(&call.name) else {
            // Unknown tools run (and fail) in the toolbox, which lists the real ones.
            return Ok(());
        };
        match self.agent.policy(&call.name) {
            Policy::Allow => Ok(()),
            Policy::Deny => Err(format!(
                "the user does not allow `{}` to be called; do not retry it",
                call.name
            )),
            Policy::Ask => {
                let timeout = Duration::from_secs(self.agent.settings().approval_timeout_secs);
                let request = ApprovalRequest {
                    approval_id: new_id("a-"),
                    call_id: call.id.clone(),
                    tool: call.name.clone(),
                    input: call.arguments.clone(),
                    effects: entry.info.effects.clone(),
                    timeout,
                };
                let approval_id = request.approval_id.clone();
                self.emit(TurnEvent::ApprovalRequested {
                    approval_id: approval_id.clone(),
                    call_id: call.id.clone(),
                    tool: call.name.clone(),
                    input: call.arguments.clone(),
                    effects: entry.info.effects.clone(),
                    timeout_secs: timeout.as_secs(),
                });
                let (approved, by) = tokio::select! {
                    r = tokio::time::timeout(timeout, self.io.approver.ask(request)) => match r {
                        Ok(Some(a)) => (a, "user"),
                        Ok(None) => (false, "channel"),
                        Err(_) => (false, "timeout"),
                    },
                    _ = self.io.cancel.cancelled() => (false, "cancelled"),
                };
                let _ = self.record(
                    EventKind::Approval,
                    json!({ "approval_id": approval_id, "call_id": call.id, "tool": call.name, "approved": approved, "by": by }),
                );
                self.emit(TurnEvent::ApprovalResolved {
                    approval_id,
                    approved,
                    by: by.to_string(),
                });
                if approved {
                    Ok(())
                } else {
                    Err(match by {
                        "timeout" => format!(
                            "the user did not approve `{}` in time; it was not run",
                            call.name
                        ),
                        "channel" => format!(
                            "`{}` needs the user's approval, which cannot be asked here; it was not run",
                            call.name
                        ),
                        _ => format!(
                            "the user denied `{}`; it was not run. Do not retry it unless the user asks",
                            call.name
                        ),
                    })
                }
            }
        }
    }

    fn finish_call(
        &self,
        history: &mut Vec<Message>,
        call: &ToolCall,
        result: ToolResult,
    ) -> Result<(), String> {
        let max = self.agent.settings().tool_output_max_bytes;
        let output = context::truncate(&result.output, max);
        let capabilities = result.capabilities();
        let elapsed_ms = result.elapsed.as_millis() as u64;
        for event in &result.audit {
            self.record(
                EventKind::Audit,
                serde_json::to_value(event).map_err(|e| e.to_string())?,
            )?;
        }
        self.record(
            EventKind::ToolCall,
            json!({
                "call_id": call.id,
                "tool": call.name,
                "input": call.arguments,
                "ok": result.ok,
                "output": result.output,
                "elapsed_ms": elapsed_ms,
                "capabilities": capabilities,
            }),
        )?;
        self.emit(TurnEvent::ToolCallFinished {
            call_id: call.id.clone(),
            tool: call.name.clone(),
            ok: result.ok,
            output: output.clone(),
            elapsed_ms,
            capabilities,
        });
        self.push(
            history,
            Message::Tool {
                call_id: call.id.clone(),
                name: call.name.clone(),
                output,
                is_error: !result.ok,
            },
        )
    }
}
