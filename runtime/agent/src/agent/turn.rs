//! One turn: the user's message, then model calls and tool calls until a
//! final answer, the step limit, a token budget or cancellation. Every
//! message, tool call, usage figure, approval and audit event is persisted
//! as it happens, so a crash loses at most the step in flight.

use super::Agent;
use super::approvals::Approver;
use super::context;
use super::dispatch::{ApprovalRecord, Channel, Dispatch, DispatchError, ToolOutcome, ToolRequest};
use super::events::{Stop, TurnEvent};
use crate::messages::{Message, StopReason, ToolCall, Usage};
use crate::store::{EventKind, StoreError, new_id};
use serde_json::json;

use tokio_util::sync::CancellationToken;

/// Why a turn stopped with an error. Shown to the user, never given to the
/// model as if it could fix it.
#[derive(Debug, thiserror::Error)]
pub enum TurnError {
    /// The session database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No provider is configured.
    #[error("{0}")]
    NotConfigured(String),
    /// The provider failed (after its retries).
    #[error("{0}")]
    Provider(String),
    /// The provider streamed for too long.
    #[error("the provider did not finish its answer within {0} minutes")]
    Deadline(u64),
    /// A tool call needs the user to fix something first.
    #[error(transparent)]
    Dispatch(#[from] DispatchError),
    /// The next model call would cross a spend cap; it was not sent.
    #[error("{0}")]
    OverBudget(String),
    /// An event could not be encoded for the record.
    #[error("cannot record the turn: {0}")]
    Encode(#[from] serde_json::Error),
}

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

/// Limits and labels of one turn beyond the agent's settings (a scheduled
/// job's run, say). They only ever narrow: a cap here above the
/// `[agent]` one changes nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TurnOptions {
    /// The scheduled job this turn runs for: its usage is counted per job.
    pub job: Option<String>,
    /// Tokens this turn may use (besides `[agent] max_tokens_per_turn`).
    pub max_tokens: Option<u64>,
    /// USD this turn may spend (needs `[prices.MODEL]` for the model).
    pub max_usd: Option<f64>,
}

/// Most tool calls run per model answer; the rest are refused to the model.
pub const MAX_CALLS_PER_STEP: usize = 16;

pub(super) struct Turn<'a> {
    pub(super) agent: &'a Agent,
    pub(super) io: &'a TurnIo<'a>,
    pub(super) session_id: &'a str,
    pub(super) turn_id: String,
    pub(super) usage: Usage,
    /// Which provider the turn is on (0: the main one; later: fallbacks).
    pub(super) active: usize,
    /// The context budget after the provider said the history is too
    /// long (kept for the rest of the turn).
    pub(super) context_cap: Option<u64>,
    /// The caller's limits and labels.
    pub(super) opts: TurnOptions,
    /// USD spent by this turn's model calls (priced models only).
    pub(super) cost: f64,
    /// Actual input tokens over estimated, from this turn's calls (at
    /// least 1): later estimates are scaled by it.
    pub(super) calibration: f64,
    /// The system prompt, with the memory offered at the session's start.
    pub(super) system: String,
    /// How many stored messages the session's latest summary replaces.
    pub(super) summary_base: usize,
    /// Compactions run in this turn (bounded).
    pub(super) compactions: u32,
}

impl Agent {
    /// Run one turn of `session_id` with the user's `text`.
    pub async fn run_turn(&self, session_id: &str, text: &str, io: &TurnIo<'_>) -> TurnSummary {
        self.run_turn_with(session_id, text, io, TurnOptions::default())
            .await
    }

    /// [`Agent::run_turn`] with the caller's limits and labels.
    pub async fn run_turn_with(
        &self,
        session_id: &str,
        text: &str,
        io: &TurnIo<'_>,
        opts: TurnOptions,
    ) -> TurnSummary {
        let mut turn = Turn {
            agent: self,
            io,
            session_id,
            turn_id: new_id("t-"),
            usage: Usage::default(),
            active: 0,
            context_cap: None,
            opts,
            cost: 0.0,
            calibration: 1.0,
            system: self.settings().system_prompt.clone(),
            summary_base: 0,
            compactions: 0,
        };
        (io.events)(TurnEvent::TurnStarted {
            session_id: session_id.to_string(),
            turn_id: turn.turn_id.clone(),
        });
        let (stop, text, error) = match turn.run(text).await {
            Ok((stop, text)) => (stop, text, None),
            Err(TurnError::OverBudget(why)) => {
                (io.events)(TurnEvent::Error {
                    message: why.clone(),
                });
                if let Err(e) = turn.record(EventKind::Error, json!({ "message": why })) {
                    tracing::error!(turn = %turn.turn_id, "cannot record the turn's error: {e}");
                }
                (Stop::Budget, String::new(), Some(why))
            }
            Err(e) => {
                let message = e.to_string();
                (io.events)(TurnEvent::Error {
                    message: message.clone(),
                });
                if let Err(e) = turn.record(EventKind::Error, json!({ "message": message })) {
                    tracing::error!(turn = %turn.turn_id, "cannot record the turn's error: {e}");
                }
                (Stop::Error, String::new(), Some(message))
            }
        };
        if let Err(e) = turn.record(
            EventKind::Turn,
            json!({ "event": "done", "stop": stop, "usage": turn.usage }),
        ) {
            // Recovery at the next start closes it as interrupted.
            tracing::error!(turn = %turn.turn_id, "cannot record the end of the turn: {e}");
        }
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
    pub(super) fn record(
        &self,
        kind: EventKind,
        data: serde_json::Value,
    ) -> Result<i64, TurnError> {
        Ok(self
            .agent
            .store()
            .append(self.session_id, Some(&self.turn_id), kind, &data)?)
    }

    pub(super) fn push(&self, history: &mut Vec<Message>, m: Message) -> Result<(), TurnError> {
        self.record(EventKind::Message, serde_json::to_value(&m)?)?;
        history.push(m);
        Ok(())
    }

    pub(super) fn system_prompt(&self) -> &str {
        &self.system
    }

    pub(super) fn emit(&self, e: TurnEvent) {
        (self.io.events)(e)
    }

    async fn run(&mut self, text: &str) -> Result<(Stop, String), TurnError> {
        let agent = self.agent;
        let store = agent.store();
        let settings = agent.settings();
        let (first, new_session) = self.load_history()?;
        if new_session {
            let _ = store.set_title(self.session_id, text.lines().next().unwrap_or(""));
        }
        let mut history = context::repair(first);
        // The pid lets the next start tell a crashed turn from one that
        // another process is still running (see `Store::close_interrupted`).
        let mut started = crate::store::this_process();
        started["event"] = json!("started");
        if let Some(job) = &self.opts.job {
            started["job"] = json!(job);
        }
        self.record(EventKind::Turn, started)?;
        self.offer_memory(text, new_session)?;
        self.push(
            &mut history,
            Message::User {
                text: text.to_string(),
            },
        )?;
        agent
            .provider()
            .map_err(|e| TurnError::NotConfigured(e.to_string()))?;
        agent.refresh_tools().await;
        if let Some((call, outcome)) = super::builtin::slash_activation(agent, text) {
            self.push(&mut history, Message::assistant("", vec![call.clone()]))?;
            self.finish_call(&mut history, &call, outcome)?;
        }
        for _step in 0..settings.max_steps {
            if let Some(stop) = self.over_budget()? {
                return Ok(stop);
            }
            // Installs, upgrades, grants and removals since the last step apply now.
            agent.refresh_tools().await;
            self.compact_if_near(&mut history).await?;
            let tools = agent.tool_specs();
            let Some(completion) = self.call_model(&mut history, &tools).await? else {
                return Ok((Stop::Cancelled, String::new()));
            };
            let calls = completion.tool_calls;
            if completion.stop == StopReason::Refusal {
                // Shown as what it is; the history keeps the model's words.
                let said = completion
                    .refusal
                    .unwrap_or_else(|| completion.text.clone());
                self.push(
                    &mut history,
                    Message::Assistant {
                        text: said.clone(),
                        tool_calls: Vec::new(),
                        reasoning: completion.reasoning,
                    },
                )?;
                return Ok((Stop::Refused, said));
            }
            // The model's own text, calls and reasoning, byte for byte.
            self.push(
                &mut history,
                Message::Assistant {
                    text: completion.text.clone(),
                    tool_calls: calls.clone(),
                    reasoning: completion.reasoning,
                },
            )?;
            let cut = completion.stop == StopReason::MaxTokens;
            if completion.stop == StopReason::ContentFilter {
                // Whatever it called is not run: the provider stopped it.
                for call in &calls {
                    let why =
                        "the provider's content filter stopped the answer; this call was not run"
                            .to_string();
                    self.finish_call(&mut history, call, ToolOutcome::host("not-run", why, None))?;
                }
                return Ok((Stop::Filtered, completion.text));
            }
            if calls.is_empty() {
                let stop = if cut { Stop::Cut } else { Stop::Answer };
                return Ok((stop, completion.text));
            }
            if cut {
                // The last call (at least) may be cut mid-arguments: none of
                // an answer cut at the limit runs; the model may retry.
                for call in &calls {
                    let why = format!(
                        "your answer was cut at the output limit ({} tokens) before this call was complete, so it was not run; make a shorter call (less content per call), or split the work",
                        settings.max_output_tokens
                    );
                    self.finish_call(&mut history, call, ToolOutcome::host("not-run", why, None))?;
                }
                continue;
            }
            let results = self
                .run_calls(&calls[..calls.len().min(MAX_CALLS_PER_STEP)])
                .await?;
            let refused = calls.len().saturating_sub(MAX_CALLS_PER_STEP);
            let results = results.into_iter().chain((0..refused).map(|_| {
                Some(ToolOutcome::host(
                    "not-run",
                    format!(
                        "at most {MAX_CALLS_PER_STEP} tool calls are run per step; make fewer calls at a time"
                    ),
                    None,
                ))
            }));
            for (call, result) in calls.iter().zip(results) {
                let result = result.unwrap_or_else(|| {
                    ToolOutcome::host(
                        "not-run",
                        "cancelled by the user before it ran".into(),
                        None,
                    )
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
    fn over_budget(&self) -> Result<Option<(Stop, String)>, TurnError> {
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

    fn day_total(&self) -> Result<u64, TurnError> {
        Ok(self.agent.store().tokens_today()?)
    }

    pub(super) fn account(&mut self, usage: Usage, model: &str) -> Result<(), TurnError> {
        self.usage.add(usage);
        self.cost += self.price(model, &usage);
        let mut row = serde_json::to_value(usage)?;
        if !model.is_empty() {
            row["model"] = json!(model);
        }
        if let Some(job) = &self.opts.job {
            row["job"] = json!(job);
        }
        self.record(EventKind::Usage, row)?;
        let day_total = self.day_total()?;
        self.emit(TurnEvent::Usage {
            usage,
            turn_total: self.usage.total(),
            day_total,
        });
        Ok(())
    }

    /// Decide each call in turn (policy, then the human for `ask`), then
    /// run the approved ones concurrently, all through the one dispatch.
    /// `None`: cancelled before it ran.
    pub(super) async fn run_calls(
        &self,
        calls: &[ToolCall],
    ) -> Result<Vec<Option<ToolOutcome>>, TurnError> {
        let dispatch = Dispatch::new(self.agent);
        let channel = Channel {
            approver: self.io.approver,
            cancel: &self.io.cancel,
            events: self.io.events,
            caller: self.session_id,
        };
        let mut decided = Vec::with_capacity(calls.len());
        for call in calls {
            if self.io.cancel.is_cancelled() {
                decided.push(None);
                continue;
            }
            let request = ToolRequest {
                call_id: call.id.clone(),
                tool: call.name.clone(),
                arguments: call.arguments.clone(),
            };
            let decision = dispatch.decide(request, &channel).await;
            let approval = match &decision {
                Ok(approved) => approved.approval(),
                Err(outcome) => outcome.approval.as_ref(),
            };
            if let Some(a) = approval {
                self.record_approval(call, a)?;
            }
            decided.push(Some(decision));
        }
        let runs = decided.into_iter().map(|d| {
            let (dispatch, channel) = (&dispatch, &channel);
            async move {
                match d {
                    None => Ok(None),
                    Some(Err(outcome)) => Ok(Some(outcome)),
                    Some(Ok(approved)) => dispatch.execute(approved, channel).await,
                }
            }
        });
        let results = futures_util::future::join_all(runs).await;
        Ok(results.into_iter().collect::<Result<Vec<_>, _>>()?)
    }

    fn record_approval(&self, call: &ToolCall, a: &ApprovalRecord) -> Result<(), TurnError> {
        self.record(
            EventKind::Approval,
            json!({ "approval_id": a.approval_id, "call_id": call.id, "tool": call.name, "approved": a.approved, "by": a.by }),
        )?;
        Ok(())
    }

    fn finish_call(
        &self,
        history: &mut Vec<Message>,
        call: &ToolCall,
        outcome: ToolOutcome,
    ) -> Result<(), TurnError> {
        let (output, ok) = self.record_call(call, outcome)?;
        self.push(
            history,
            Message::Tool {
                call_id: call.id.clone(),
                name: call.name.clone(),
                output,
                is_error: !ok,
            },
        )
    }

    /// Record a call's outcome, its audit events and its end; returns what
    /// the model is given and whether it succeeded.
    pub(super) fn record_call(
        &self,
        call: &ToolCall,
        outcome: ToolOutcome,
    ) -> Result<(String, bool), TurnError> {
        let mut max = self.agent.settings().tool_output_max_bytes;
        if call.name == super::builtin::ACTIVATE {
            max = max.max(super::builtin::ACTIVATE_MAX_BYTES);
        }
        let text = outcome.for_model();
        let output = context::truncate(&text, max);
        let elapsed_ms = outcome.elapsed.as_millis() as u64;
        // The sandbox's events, stored once each (with the call they belong
        // to) and streamed as they are.
        for event in &outcome.audit {
            let mut row = serde_json::to_value(event)?;
            row["call_id"] = json!(call.id);
            self.record(EventKind::Audit, row)?;
        }
        self.record(
            EventKind::ToolCall,
            json!({
                "call_id": call.id,
                "tool": call.name,
                "input": call.arguments,
                "ok": outcome.ok(),
                "output": text,
                "elapsed_ms": elapsed_ms,
            }),
        )?;
        self.emit(TurnEvent::ToolCallFinished {
            call_id: call.id.clone(),
            tool: call.name.clone(),
            ok: outcome.ok(),
            output: output.clone(),
            elapsed_ms,
            capabilities: outcome.audit.clone(),
        });
        Ok((output, outcome.ok()))
    }
}
