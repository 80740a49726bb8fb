//! One model call of a step: the history fitted to the context, the answer
//! streamed to the turn's events (text and reasoning apart), the partial
//! text kept when the answer never completes; one retry with a tighter
//! history when the provider says it is over its context window, and the
//! next configured provider when this one is down after its retries.

use super::context;
use super::events::TurnEvent;
use super::turn::{Turn, TurnError};
use crate::messages::{Completion, Message, ToolSpec};
use crate::provider::errors::context_ratio;
use crate::provider::{ChatRequest, Delta, ProviderError};
use crate::store::EventKind;
use serde_json::json;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// The most streamed text kept when an answer does not complete.
const MAX_PARTIAL: usize = 1 << 20;

/// Longest a single model call may stream (a trickling endpoint cannot hold
/// a session forever).
pub(super) const MODEL_CALL_DEADLINE: Duration = Duration::from_secs(15 * 60);

/// How one call went wrong.
enum Failed {
    Cancelled,
    Provider(ProviderError),
    Deadline,
}

impl Turn<'_> {
    /// Call the model on `history`. `Ok(None)`: cancelled. A partial
    /// answer the user saw is added to the history, marked incomplete.
    pub(super) async fn call_model(
        &mut self,
        history: &mut Vec<Message>,
        tools: &[ToolSpec],
    ) -> Result<Option<Completion>, TurnError> {
        let agent = self.agent;
        let settings = agent.settings();
        let providers = agent
            .providers()
            .map_err(|e| TurnError::NotConfigured(e.to_string()))?;
        let mut budget = self.context_cap.map_or(settings.context_tokens, |cap| {
            cap.min(settings.context_tokens)
        });
        let mut shrunk = false;
        loop {
            let provider = providers[self.active.min(providers.len() - 1)];
            let fitted = if shrunk || self.context_cap.is_some() {
                context::shrink(history, budget)
            } else {
                context::fit(history, budget)
            };
            let system = self.system_prompt();
            let estimated = super::spend::estimate_request(system, &fitted, tools);
            let max_tokens = self.allow_call(estimated, provider.model())?;
            let req = ChatRequest {
                system,
                messages: &fitted,
                tools,
                max_tokens,
            };
            // What was streamed so far, kept (marked incomplete) if the
            // answer never completes: the user saw it.
            let streamed = Mutex::new(String::new());
            let sink = |d: Delta<'_>| match d {
                Delta::Text(t) => {
                    let mut so_far = streamed.lock().unwrap_or_else(PoisonError::into_inner);
                    if so_far.len() < MAX_PARTIAL {
                        so_far.push_str(t);
                    }
                    drop(so_far);
                    self.emit(TurnEvent::TextDelta {
                        text: t.to_string(),
                    })
                }
                Delta::Reasoning(t) => self.emit(TurnEvent::ReasoningDelta {
                    text: t.to_string(),
                }),
            };
            let outcome = tokio::select! {
                r = tokio::time::timeout(MODEL_CALL_DEADLINE, provider.complete(req, &sink)) => match r {
                    Ok(Ok(completion)) => Ok(completion),
                    Ok(Err(e)) => Err(Failed::Provider(e)),
                    Err(_) => Err(Failed::Deadline),
                },
                _ = self.io.cancel.cancelled() => Err(Failed::Cancelled),
            };
            let partial = streamed
                .into_inner()
                .unwrap_or_else(PoisonError::into_inner);
            let failed = match outcome {
                Ok(completion) => {
                    self.calibrate(estimated, completion.usage);
                    self.account(completion.usage, provider.model())?;
                    return Ok(Some(completion));
                }
                Err(f) => f,
            };
            let error = match failed {
                Failed::Cancelled => {
                    self.keep_partial(history, &partial, "cancelled by the user")?;
                    return Ok(None);
                }
                Failed::Deadline => TurnError::Deadline(MODEL_CALL_DEADLINE.as_secs() / 60),
                // Nothing was shown yet: a tighter history, or another provider.
                Failed::Provider(e) if partial.trim().is_empty() => {
                    if let ProviderError::ContextLength { message } = &e
                        && !shrunk
                    {
                        shrunk = true;
                        let ratio = context_ratio(message) * 0.9;
                        budget = (context::estimate(&fitted) as f64 * ratio) as u64;
                        // Later steps of the turn start from the tighter fit.
                        self.context_cap = Some(budget);
                        let note = format!(
                            "the conversation was over the model's context window; older tool outputs are left out (about {budget} tokens kept) and the call is tried once more"
                        );
                        self.record(
                            EventKind::Turn,
                            json!({"event": "compacted", "budget": budget, "reason": message}),
                        )?;
                        self.emit(TurnEvent::Notice { message: note });
                        // The overflow path flushes memory and summarises
                        // too: what the model must keep is saved first.
                        self.compact(history, budget).await?;
                        continue;
                    }
                    if e.fails_over() && self.active + 1 < providers.len() {
                        let from = provider.describe();
                        self.active += 1;
                        let to = providers[self.active].describe();
                        let reason = e.to_string();
                        self.record(
                            EventKind::Turn,
                            json!({"event": "failover", "from": from, "to": to, "reason": reason}),
                        )?;
                        self.emit(TurnEvent::Failover { from, to, reason });
                        continue;
                    }
                    self.provider_error(&providers, provider.describe(), e)
                }
                Failed::Provider(e) => self.provider_error(&providers, provider.describe(), e),
            };
            self.keep_partial(history, &partial, &error.to_string())?;
            return Err(error);
        }
    }

    /// The provider's error; named with the provider when there are several.
    fn provider_error(
        &self,
        providers: &[&dyn crate::provider::Provider],
        which: String,
        e: ProviderError,
    ) -> TurnError {
        if providers.len() > 1 {
            TurnError::Provider(format!("{which}: {e}"))
        } else {
            TurnError::Provider(e.to_string())
        }
    }

    fn keep_partial(
        &self,
        history: &mut Vec<Message>,
        partial: &str,
        why: &str,
    ) -> Result<(), TurnError> {
        if partial.trim().is_empty() {
            return Ok(());
        }
        self.push(
            history,
            Message::assistant(
                format!("{partial}\n\n[incomplete: the answer stopped here: {why}]"),
                Vec::new(),
            ),
        )
    }
}
