//! A turn's events as Chat Completions output: the answer text as
//! `content`, the progress (the model's reasoning, tools starting and
//! finishing, approvals denied, failovers, notices) as `reasoning_content`,
//! which clients show apart as "thinking" (DeepSeek, vLLM and Open WebUI
//! use that field), and the end as a `finish_reason` or an error.

use super::error::OpenAiError;
use crate::agent::events::{Stop, TurnEvent};
use crate::messages::Usage;
use axum::http::StatusCode;
use serde_json::{Value, json};

/// Longest tool input or failure shown in the progress.
const MAX_SHOWN: usize = 200;

/// Output of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Answer text.
    Content(String),
    /// Progress, shown apart from the answer.
    Reasoning(String),
}

/// How the turn ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// An answer: OpenAI's `finish_reason`, and the refusal when the
    /// model refused.
    Finish {
        /// `stop`, `length` or `content_filter`.
        reason: &'static str,
        /// The model's refusal, when it refused.
        refusal: Option<String>,
    },
    /// No answer: the error to give the client.
    Failed(OpenAiError),
}

/// Turns events into pieces, keeping the whole answer and progress.
#[derive(Debug, Default)]
pub struct Translator {
    /// The answer so far, as the client received it.
    pub content: String,
    /// The progress so far.
    pub reasoning: String,
    /// Tokens used by the turn's model calls.
    pub usage: Usage,
    /// A tool ran since the last answer text (the next text starts a new
    /// paragraph).
    after_tool: bool,
    last_error: Option<String>,
}

/// The `finish_reason` (or error) for a turn's stop.
pub fn ending(stop: Stop, text: &str, error: Option<&str>) -> Ending {
    let finish = |reason| Ending::Finish {
        reason,
        refusal: None,
    };
    match stop {
        Stop::Answer => finish("stop"),
        Stop::Cut | Stop::StepLimit | Stop::Budget => finish("length"),
        Stop::Filtered => finish("content_filter"),
        Stop::Refused => Ending::Finish {
            reason: "stop",
            refusal: Some(text.to_string()),
        },
        Stop::Cancelled => Ending::Failed(OpenAiError::with_status(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            "turn_cancelled",
            "the turn was cancelled (in Chitin, or the daemon is shutting down)",
        )),
        Stop::Error | Stop::Interrupted => Ending::Failed(OpenAiError::turn_failed(format!(
            "the agent's turn failed: {}",
            error.unwrap_or("no reason was given (the daemon's log has it)")
        ))),
    }
}

impl Translator {
    /// The pieces for `event`, and the ending when it is the last.
    pub fn event(&mut self, event: TurnEvent) -> (Vec<Piece>, Option<Ending>) {
        let mut out = Vec::new();
        match event {
            TurnEvent::TextDelta { text } => {
                if self.after_tool && !self.content.is_empty() {
                    self.push_content("\n\n", &mut out);
                }
                self.after_tool = false;
                self.push_content(&text, &mut out);
            }
            TurnEvent::ReasoningDelta { text } => self.push_reasoning(&text, &mut out),
            TurnEvent::ToolCallStarted { tool, input, .. } => {
                self.after_tool = true;
                let line = format!(
                    "Running {} {}",
                    one_line(&tool, 80),
                    one_line(&input, MAX_SHOWN)
                );
                self.push_line(&line, &mut out);
            }
            TurnEvent::ToolCallFinished {
                tool,
                ok,
                output,
                elapsed_ms,
                ..
            } => {
                self.after_tool = true;
                let line = if ok {
                    format!("{} finished ({elapsed_ms} ms).", one_line(&tool, 80))
                } else {
                    format!(
                        "{} failed: {}",
                        one_line(&tool, 80),
                        one_line(&output, MAX_SHOWN)
                    )
                };
                self.push_line(&line, &mut out);
            }
            TurnEvent::ApprovalRequested { tool, .. } => {
                self.after_tool = true;
                let line = format!(
                    "{} asks for approval, which nobody can give over this API: denied, and the agent was told. (To let it run here, set its policy to allow in Chitin.)",
                    one_line(&tool, 80)
                );
                self.push_line(&line, &mut out);
            }
            TurnEvent::Failover { from, to, reason } => {
                let line = format!(
                    "Provider {} failed ({}); going on with {}.",
                    one_line(&from, 80),
                    one_line(&reason, MAX_SHOWN),
                    one_line(&to, 80)
                );
                self.push_line(&line, &mut out);
            }
            TurnEvent::Notice { message } => self.push_line(&one_line(&message, 500), &mut out),
            TurnEvent::Error { message } => {
                self.push_line(&format!("Error: {}", one_line(&message, 500)), &mut out);
                self.last_error = Some(message);
            }
            TurnEvent::Usage { usage, .. } => self.usage.add(usage),
            TurnEvent::Done { stop, text } => {
                // An answer that was not streamed (a refusal, say) is
                // given whole.
                if self.content.is_empty() && !text.is_empty() {
                    self.push_content(&text, &mut out);
                }
                let e = ending(stop, &text, self.last_error.as_deref());
                return (out, Some(e));
            }
            TurnEvent::TurnStarted { .. } | TurnEvent::ApprovalResolved { .. } => {}
        }
        (out, None)
    }

    fn push_content(&mut self, text: &str, out: &mut Vec<Piece>) {
        if text.is_empty() {
            return;
        }
        self.content.push_str(text);
        out.push(Piece::Content(text.to_string()));
    }

    fn push_reasoning(&mut self, text: &str, out: &mut Vec<Piece>) {
        if text.is_empty() {
            return;
        }
        self.reasoning.push_str(text);
        out.push(Piece::Reasoning(text.to_string()));
    }

    /// A progress line, on a line of its own.
    fn push_line(&mut self, line: &str, out: &mut Vec<Piece>) {
        let mut text = String::new();
        if !self.reasoning.is_empty() && !self.reasoning.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(line);
        text.push('\n');
        self.push_reasoning(&text, out);
    }

    /// OpenAI's `usage` object for the turn.
    pub fn usage_json(&self) -> Value {
        let u = &self.usage;
        let mut v = json!({
            "prompt_tokens": u.input_tokens,
            "completion_tokens": u.output_tokens,
            "total_tokens": u.total(),
        });
        if u.cache_read_tokens > 0 {
            v["prompt_tokens_details"] = json!({ "cached_tokens": u.cache_read_tokens });
        }
        v
    }
}

fn one_line(text: &str, max: usize) -> String {
    chitin_sandbox::text::one_line(text, max)
}

/// What every object of one completion shares.
#[derive(Debug, Clone)]
pub struct Ids {
    /// `chatcmpl-…`.
    pub id: String,
    /// Unix seconds.
    pub created: u64,
}

impl Ids {
    /// A new completion's ids.
    pub fn new() -> Self {
        let created = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Ids {
            id: crate::store::new_id("chatcmpl-"),
            created,
        }
    }

    /// A whole (non-streamed) completion.
    pub fn completion(&self, t: &Translator, reason: &str, refusal: Option<&str>) -> Value {
        let mut message = json!({
            "role": "assistant",
            "content": t.content,
            "refusal": refusal,
        });
        if !t.reasoning.is_empty() {
            message["reasoning_content"] = json!(t.reasoning);
        }
        json!({
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": super::MODEL_ID,
            "choices": [{
                "index": 0,
                "message": message,
                "logprobs": null,
                "finish_reason": reason,
            }],
            "usage": t.usage_json(),
        })
    }

    /// A streamed chunk with one choice.
    pub fn chunk(&self, delta: Value, finish_reason: Option<&str>) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": super::MODEL_ID,
            "choices": [{
                "index": 0,
                "delta": delta,
                "logprobs": null,
                "finish_reason": finish_reason,
            }],
        })
    }

    /// The usage chunk (`stream_options.include_usage`): no choices.
    pub fn usage_chunk(&self, t: &Translator) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": super::MODEL_ID,
            "choices": [],
            "usage": t.usage_json(),
        })
    }
}

impl Default for Ids {
    fn default() -> Self {
        Self::new()
    }
}

/// The delta of one piece.
pub fn delta(piece: &Piece) -> Value {
    match piece {
        Piece::Content(t) => json!({ "content": t }),
        Piece::Reasoning(t) => json!({ "reasoning_content": t }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn progress_stays_out_of_the_answer() {
        let mut t = Translator::default();
        let events = vec![
            TurnEvent::TextDelta {
                text: "Let me look.".into(),
            },
            TurnEvent::ToolCallStarted {
                call_id: "c".into(),
                tool: "files__read".into(),
                input: "{\"path\":\"a\"}".into(),
                effects: vec![],
            },
            TurnEvent::ApprovalRequested {
                approval_id: "a".into(),
                call_id: "c2".into(),
                tool: "files__write".into(),
                input: "{}".into(),
                effects: vec![],
                timeout_secs: 1,
            },
            TurnEvent::Usage {
                usage: Usage {
                    input_tokens: 10,
                    output_tokens: 5,
                    ..Usage::default()
                },
                turn_total: 15,
                day_total: 15,
            },
            TurnEvent::TextDelta {
                text: "It says hi.".into(),
            },
        ];
        for e in events {
            assert!(t.event(e).1.is_none());
        }
        let (_, end) = t.event(TurnEvent::Done {
            stop: Stop::Answer,
            text: "It says hi.".into(),
        });
        assert_eq!(t.content, "Let me look.\n\nIt says hi.");
        assert!(
            t.reasoning
                .contains("Running files__read {\"path\":\"a\"}\n"),
            "{}",
            t.reasoning
        );
        assert!(
            t.reasoning.contains("files__write asks for approval"),
            "{}",
            t.reasoning
        );
        assert_eq!(
            end,
            Some(Ending::Finish {
                reason: "stop",
                refusal: None
            })
        );
        assert_eq!(t.usage_json()["total_tokens"], 15);
        let c = Ids::new().completion(&t, "stop", None);
        assert!(c["id"].as_str().unwrap().starts_with("chatcmpl-"));
        assert_eq!(c["choices"][0]["message"]["content"], t.content);
    }

    #[test]
    fn stops_map_to_finish_reasons_or_errors() {
        let reason = |s| match ending(s, "", None) {
            Ending::Finish { reason, .. } => reason,
            Ending::Failed(e) => e.code.unwrap_or(""),
        };
        assert_eq!(reason(Stop::Answer), "stop");
        assert_eq!(reason(Stop::Cut), "length");
        assert_eq!(reason(Stop::Filtered), "content_filter");
        assert_eq!(reason(Stop::Error), "turn_failed");
        assert_eq!(reason(Stop::Cancelled), "turn_cancelled");
        let mut t = Translator::default();
        t.event(TurnEvent::Error {
            message: "provider down".into(),
        });
        let (_, end) = t.event(TurnEvent::Done {
            stop: Stop::Error,
            text: String::new(),
        });
        match end {
            Some(Ending::Failed(e)) => assert!(e.message.contains("provider down"), "{e:?}"),
            other => panic!("{other:?}"),
        }
    }
}
