//! Compaction that keeps what matters. When a session's history nears
//! `[agent] context_tokens` (and again when the provider says it is over
//! its window), the model first gets the chance to save what it must
//! remember with `memory_save` (the memory flush), then writes a summary
//! of the old exchanges, which replaces them in what the model sees from
//! then on. The summary is stored in the session (a `turn` event
//! `summary`, shown by `chitin sessions show`); the messages it replaces
//! stay in the record. If the summary call fails, the history falls back
//! to eliding and dropping old exchanges ([`super::context::fit`]).

use super::context;
use super::events::TurnEvent;
use super::turn::{Turn, TurnError};
use crate::messages::{Completion, Message, ToolCall, ToolSpec};
use crate::store::EventKind;
use serde_json::json;

/// Compact when the history's estimate passes this share of the context.
const NEAR: f64 = 0.8;

/// The recent part kept as is: at most this share of the context.
const KEEP: f64 = 0.3;

/// Longest summary kept (bytes).
const MAX_SUMMARY: usize = 16 * 1024;

/// Model calls in a memory flush (each may save several entries).
const FLUSH_ROUNDS: usize = 3;

/// Compactions in one turn at most (one by nearing, one on overflow).
const MAX_COMPACTIONS: u32 = 2;

/// The memory tool the flush offers.
const MEMORY_SAVE: &str = "memory_save";

const FLUSH_PROMPT: &str = "[Chitin, the host: this conversation is about to be compacted; the older messages will be replaced by a summary. If anything in it must be remembered beyond this session (facts about the user, preferences, decisions, commitments), save it now with memory_save, one short entry per fact. Save nothing that is already saved. Then answer DONE. Do not continue the task and do not call other tools.]";

const SUMMARY_PROMPT: &str = "[Chitin, the host: write a summary of the conversation above; it will replace those messages in your context. Keep every fact about the user, decision, result, open task and promise, with names, numbers, paths and ids exactly as they were; leave out chatter and tool output you no longer need. Plain text, at most about 600 words. Do not call tools.]";

/// What the model sees in place of the messages a summary replaced.
fn framed(summary: &str, text: &str) -> String {
    format!(
        "[Summary of the earlier conversation, written by the model when it was compacted:\n{summary}\n(end of summary)]\n\n{text}"
    )
}

impl Turn<'_> {
    /// The session's history as the model is to see it: the stored
    /// messages, with the latest summary in place of those it replaced;
    /// and whether the session is new.
    pub(super) fn load_history(&mut self) -> Result<(Vec<Message>, bool), TurnError> {
        let store = self.agent.store();
        let mut messages = store.messages(self.session_id)?;
        let new = messages.is_empty();
        let Some(note) = store.latest_note(self.session_id, "summary")? else {
            return Ok((messages, new));
        };
        let replaced = note["replaced"].as_u64().unwrap_or(0) as usize;
        let summary = note["text"].as_str().unwrap_or_default();
        match messages.get_mut(replaced) {
            Some(Message::User { text }) if replaced > 0 && !summary.is_empty() => {
                *text = framed(summary, text);
                self.summary_base = replaced;
                Ok((messages.split_off(replaced), new))
            }
            _ => {
                tracing::warn!(session = %self.session_id, "the session's summary does not match its messages; it is not used");
                Ok((messages, new))
            }
        }
    }

    /// Compact when the history nears the context window.
    pub(super) async fn compact_if_near(
        &mut self,
        history: &mut Vec<Message>,
    ) -> Result<(), TurnError> {
        let limit = self.agent.settings().context_tokens;
        let budget = self.context_cap.map_or(limit, |c| c.min(limit));
        if (context::estimate(history) as f64) < budget as f64 * NEAR {
            return Ok(());
        }
        self.compact(history, budget).await?;
        Ok(())
    }

    /// Flush memory, then replace the old exchanges by a summary, within
    /// `budget` estimated tokens. Returns whether the history changed.
    pub(super) async fn compact(
        &mut self,
        history: &mut Vec<Message>,
        budget: u64,
    ) -> Result<bool, TurnError> {
        if !self.agent.settings().summarize || self.compactions >= MAX_COMPACTIONS {
            return Ok(false);
        }
        let Some(split) = split_point(history, (budget as f64 * KEEP) as u64) else {
            return Ok(false);
        };
        self.compactions += 1;
        let before = context::estimate(history);
        let saved = self.flush_memory(history, budget).await?;
        let Some(summary) = self.summarize(&history[..split], budget).await? else {
            self.record(
                EventKind::Turn,
                json!({"event": "compaction_failed", "saved": saved}),
            )?;
            self.emit(TurnEvent::Notice {
                message: "the conversation is long and a summary could not be written; older tool outputs and exchanges are left out instead".into(),
            });
            return Ok(false);
        };
        let replaced = self.stored_index(history, split)?;
        let mut kept = history.split_off(split);
        if let Some(Message::User { text }) = kept.first_mut() {
            *text = framed(&summary, text);
        }
        *history = kept;
        self.summary_base = replaced;
        let after = context::estimate(history);
        self.record(
            EventKind::Turn,
            json!({"event": "summary", "text": summary, "replaced": replaced, "saved": saved, "tokens_before": before, "tokens_after": after}),
        )?;
        self.emit(TurnEvent::Notice {
            message: format!(
                "the conversation was compacted: the older messages are replaced by a summary (about {before} → {after} tokens){}",
                if saved > 0 {
                    format!("; {saved} memory entr{} saved first", if saved == 1 { "y" } else { "ies" })
                } else {
                    String::new()
                }
            ),
        });
        Ok(true)
    }

    /// The index, among the session's stored messages, of `history[split]`
    /// (a user message): user messages correspond one to one from the
    /// current summary's base on.
    fn stored_index(&self, history: &[Message], split: usize) -> Result<usize, TurnError> {
        let users = history[..=split]
            .iter()
            .filter(|m| matches!(m, Message::User { .. }))
            .count();
        let stored = self.agent.store().messages(self.session_id)?;
        let mut seen = 0;
        for (i, m) in stored.iter().enumerate().skip(self.summary_base) {
            if matches!(m, Message::User { .. }) {
                seen += 1;
                if seen == users {
                    return Ok(i);
                }
            }
        }
        Ok(self.summary_base)
    }

    /// Give the model the chance to save what it must remember; returns how
    /// many entries it saved. Only `memory_save` runs (through the one
    /// dispatch, with its policy); nothing here enters the history.
    async fn flush_memory(&mut self, history: &[Message], budget: u64) -> Result<usize, TurnError> {
        let Some(spec) = self
            .agent
            .tool_specs()
            .into_iter()
            .find(|t| t.name == MEMORY_SAVE)
        else {
            return Ok(0);
        };
        let tools = [spec];
        let mut view = context::shrink(history, budget);
        view.push(Message::User {
            text: FLUSH_PROMPT.into(),
        });
        let mut saved = 0;
        for _ in 0..FLUSH_ROUNDS {
            let Some(c) = self.quiet_call(&view, &tools, budget).await? else {
                break;
            };
            if c.tool_calls.is_empty() {
                break;
            }
            let (allowed, refused): (Vec<ToolCall>, Vec<ToolCall>) = c
                .tool_calls
                .iter()
                .cloned()
                .partition(|t| t.name == MEMORY_SAVE);
            view.push(Message::assistant(c.text.clone(), c.tool_calls.clone()));
            let results = self.run_calls(&allowed).await?;
            for (call, result) in allowed.iter().zip(results) {
                let Some(outcome) = result else {
                    return Ok(saved);
                };
                let (output, ok) = self.record_call(call, outcome)?;
                saved += usize::from(ok);
                view.push(Message::Tool {
                    call_id: call.id.clone(),
                    name: call.name.clone(),
                    output,
                    is_error: !ok,
                });
            }
            for call in refused {
                view.push(Message::Tool {
                    call_id: call.id,
                    name: call.name,
                    output: "only memory_save runs now; the conversation is being compacted".into(),
                    is_error: true,
                });
            }
            if self.io.cancel.is_cancelled() {
                break;
            }
        }
        if saved > 0 {
            self.record(
                EventKind::Turn,
                json!({"event": "memory_flush", "saved": saved}),
            )?;
        }
        Ok(saved)
    }

    /// A model-written summary of `old`, or None when the call fails.
    async fn summarize(
        &mut self,
        old: &[Message],
        budget: u64,
    ) -> Result<Option<String>, TurnError> {
        let mut view = context::fit(old, budget);
        view.push(Message::User {
            text: SUMMARY_PROMPT.into(),
        });
        let Some(c) = self.quiet_call(&view, &[], budget).await? else {
            return Ok(None);
        };
        let text = c.text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        Ok(Some(context::truncate(text, MAX_SUMMARY)))
    }

    /// One model call the user does not watch (nothing is streamed), on
    /// the turn's provider, within the spend caps. `None`: the provider
    /// failed or the turn was cancelled (logged; compaction falls back).
    async fn quiet_call(
        &mut self,
        messages: &[Message],
        tools: &[ToolSpec],
        budget: u64,
    ) -> Result<Option<Completion>, TurnError> {
        let providers = self
            .agent
            .providers()
            .map_err(|e| TurnError::NotConfigured(e.to_string()))?;
        let provider = providers[self.active.min(providers.len() - 1)];
        let fitted = context::shrink(messages, budget);
        let system = self.system_prompt().to_string();
        let estimated = super::spend::estimate_request(&system, &fitted, tools);
        let max_tokens = self.allow_call(estimated, provider.model())?;
        let req = crate::provider::ChatRequest {
            system: &system,
            messages: &fitted,
            tools,
            max_tokens,
        };
        let ignore = |_: crate::provider::Delta<'_>| {};
        let outcome = tokio::select! {
            r = tokio::time::timeout(super::model_call::MODEL_CALL_DEADLINE, provider.complete(req, &ignore)) => r,
            _ = self.io.cancel.cancelled() => return Ok(None),
        };
        match outcome {
            Ok(Ok(c)) => {
                self.calibrate(estimated, c.usage);
                self.account(c.usage, provider.model())?;
                Ok(Some(c))
            }
            Ok(Err(e)) => {
                tracing::warn!(session = %self.session_id, "a compaction call failed: {e}");
                Ok(None)
            }
            Err(_) => {
                tracing::warn!(session = %self.session_id, "a compaction call timed out");
                Ok(None)
            }
        }
    }
}

/// Where the kept part starts: the earliest user message after which at
/// most `keep` estimated tokens remain, never later than the current turn;
/// `None` when there is nothing before it to summarise.
fn split_point(history: &[Message], keep: u64) -> Option<usize> {
    let current = history
        .iter()
        .rposition(|m| matches!(m, Message::User { .. }))?;
    let split = (1..=current)
        .filter(|&i| matches!(history[i], Message::User { .. }))
        .find(|&i| context::estimate(&history[i..]) <= keep)
        .unwrap_or(current);
    (split > 0).then_some(split)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(t: &str) -> Message {
        Message::User { text: t.into() }
    }

    #[test]
    fn the_split_keeps_the_current_turn_and_recent_exchanges() {
        let big = "x".repeat(4_000);
        let h = vec![
            user(&big),
            Message::assistant(big.clone(), vec![]),
            user("recent"),
            Message::assistant("ok", vec![]),
            user("now"),
        ];
        assert_eq!(split_point(&h, 100), Some(2));
        // Nothing fits: the current turn is kept whole anyway.
        assert_eq!(split_point(&h, 1), Some(4));
        // A single turn has nothing to summarise.
        assert_eq!(split_point(&h[4..], 100), None);
        assert!(framed("S", "now").ends_with("now"));
    }
}
