//! Anthropic Messages: the request body (top-level `system`, alternating
//! turns of content blocks, tool results merged into one user turn), the
//! streamed events (text and `tool_use` blocks, stop reason, usage, errors)
//! and a non-streamed JSON answer; `check()` lists `/models`.

use super::http::{HttpClient, MAX_BODY};
use super::openai::{check_listed, model_ids};
use super::retry::{self, Failure, RetryPolicy};
use super::sse::SseEvent;
use super::{BoxFuture, ChatRequest, Provider, ProviderError, ProviderSettings, TextSink};
use crate::messages::{Completion, Message, StopReason, ToolCall, Usage};
use bytes::Bytes;
use http::Method;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, Ordering};

/// The API version sent as `anthropic-version`.
pub const API_VERSION: &str = "2023-06-01";

/// The default base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com/v1";

/// A client for the Anthropic Messages API and one model.
/// (No `Debug`: the settings hold the API key.)
pub struct Anthropic {
    settings: ProviderSettings,
    client: HttpClient,
    policy: RetryPolicy,
}

impl Anthropic {
    /// Validate the base URL; nothing is sent yet.
    pub fn new(settings: ProviderSettings) -> Result<Self, ProviderError> {
        Ok(Anthropic {
            client: HttpClient::new(&settings.base_url, settings.timeout)?,
            policy: RetryPolicy::from_settings(&settings),
            settings,
        })
    }

    fn headers(&self) -> Vec<(&str, &str)> {
        let mut h = vec![("anthropic-version", API_VERSION)];
        if let Some(key) = &self.settings.api_key {
            h.push(("x-api-key", key.as_str()));
        }
        h
    }

    async fn attempt(&self, body: &Bytes, sink: TextSink<'_>) -> Result<Completion, Failure> {
        let mut headers = self.headers();
        headers.push(("accept", "text/event-stream"));
        let resp = self
            .client
            .send(Method::POST, "/messages", &headers, Some(body.clone()))
            .await?;
        let mut resp = retry::check_status(resp, &self.settings.model).await?;
        let mut state = StreamState::default();
        if resp.content_type() == "application/json" {
            let body = resp.bytes(MAX_BODY).await?;
            let json: Value = serde_json::from_slice(&body)
                .map_err(|e| ProviderError::Protocol(format!("invalid JSON answer: {e}")))?;
            state.whole(&json, sink)?;
            return Ok(state.into_completion());
        }
        let complete = resp
            .events::<Failure, _>(|event| state.on_event(&event, sink))
            .await?;
        if !complete {
            return Err(resp
                .cut("the stream ended before message_stop".into())
                .into());
        }
        Ok(state.into_completion())
    }

    async fn list_models(&self) -> Result<Vec<String>, Failure> {
        let resp = self
            .client
            .send(Method::GET, "/models?limit=1000", &self.headers(), None)
            .await?;
        let resp = retry::check_status(resp, &self.settings.model).await?;
        Ok(model_ids(&resp.bytes(MAX_BODY).await?)?)
    }
}

impl Provider for Anthropic {
    fn describe(&self) -> String {
        format!(
            "Anthropic at {} (model {})",
            self.client.base_url(),
            self.settings.model
        )
    }

    fn complete<'a>(
        &'a self,
        req: ChatRequest<'a>,
        text: TextSink<'a>,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
        Box::pin(async move {
            let body = Bytes::from(request_body(&self.settings.model, &req).to_string());
            let emitted = AtomicBool::new(false);
            let sink = |s: &str| {
                if !s.is_empty() {
                    emitted.store(true, Ordering::SeqCst);
                    text(s);
                }
            };
            retry::run(&self.policy, &emitted, || self.attempt(&body, &sink)).await
        })
    }

    fn check(&self) -> BoxFuture<'_, Result<String, ProviderError>> {
        Box::pin(async move {
            let never = AtomicBool::new(false);
            let ids = retry::run(&self.policy, &never, || self.list_models()).await?;
            // Aliases (`claude-x-1`, `claude-x-latest`) name dated ids (`claude-x-1-20250101`).
            let model = &self.settings.model;
            let stem = model.strip_suffix("-latest").unwrap_or(model);
            check_listed(self.describe(), model, &ids, |id| {
                id == model || id.strip_prefix(stem).is_some_and(|r| r.starts_with('-'))
            })
        })
    }
}

/// The Messages request for `req` (streamed).
pub fn request_body(model: &str, req: &ChatRequest<'_>) -> Value {
    let mut body = json!({
        "model": model,
        "max_tokens": req.max_tokens,
        "stream": true,
        "messages": turns(req.messages),
    });
    if !req.system.is_empty() {
        body["system"] = json!(req.system);
    }
    if !req.tools.is_empty() {
        body["tools"] = req
            .tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.input_schema}))
            .collect();
    }
    body
}

/// The history as alternating user/assistant turns of content blocks:
/// consecutive tool results, and a user message right after them, share one
/// user turn; empty messages are dropped (the API refuses empty blocks).
fn turns(history: &[Message]) -> Vec<Value> {
    let mut turns: Vec<(&str, Vec<Value>)> = Vec::new();
    for m in history {
        let (role, blocks) = match m {
            Message::User { text } if text.is_empty() => continue,
            Message::User { text } => ("user", vec![json!({"type": "text", "text": text})]),
            Message::Assistant { text, tool_calls } => {
                let mut blocks = Vec::with_capacity(tool_calls.len() + 1);
                if !text.is_empty() {
                    blocks.push(json!({"type": "text", "text": text}));
                }
                for c in tool_calls {
                    // Invalid arguments were already reported to the model.
                    let input = serde_json::from_str::<Value>(&c.arguments)
                        .ok()
                        .filter(Value::is_object)
                        .unwrap_or_else(|| json!({}));
                    blocks.push(
                        json!({"type": "tool_use", "id": c.id, "name": c.name, "input": input}),
                    );
                }
                ("assistant", blocks)
            }
            Message::Tool {
                call_id,
                output,
                is_error,
                ..
            } => (
                "user",
                vec![json!({
                    "type": "tool_result", "tool_use_id": call_id,
                    "content": output, "is_error": is_error,
                })],
            ),
        };
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((last, existing)) if *last == role => existing.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    turns
        .into_iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect()
}

/// A content block being streamed.
#[derive(Debug)]
enum Block {
    Text,
    Tool {
        id: String,
        name: String,
        json: String,
    },
    Other,
}

/// What the stream said so far.
#[derive(Debug, Default)]
struct StreamState {
    text: String,
    blocks: Vec<(u64, Block)>,
    usage: Usage,
    stop: Option<String>,
}

impl StreamState {
    /// One SSE event; `true` at `message_stop`.
    fn on_event(&mut self, event: &SseEvent, sink: TextSink<'_>) -> Result<bool, Failure> {
        let json: Value = serde_json::from_str(&event.data)
            .map_err(|e| ProviderError::Protocol(format!("invalid stream event: {e}")))?;
        let kind = json
            .get("type")
            .and_then(Value::as_str)
            .or(event.event.as_deref())
            .unwrap_or("");
        let index = json.get("index").and_then(Value::as_u64).unwrap_or(0);
        match kind {
            "message_start" => {
                if let Some(u) = json.pointer("/message/usage") {
                    self.read_usage(u);
                }
            }
            "content_block_start" => {
                let block = json.get("content_block").unwrap_or(&Value::Null);
                self.start_block(index, block, sink);
            }
            "content_block_delta" => {
                let delta = json.get("delta").unwrap_or(&Value::Null);
                let str_of = |k: &str| delta.get(k).and_then(Value::as_str).unwrap_or("");
                match str_of("type") {
                    "text_delta" => self.push_text(str_of("text"), sink),
                    "input_json_delta" => {
                        if let Some((_, Block::Tool { json, .. })) =
                            self.blocks.iter_mut().find(|(i, _)| *i == index)
                        {
                            json.push_str(str_of("partial_json"));
                        }
                    }
                    _ => {} // thinking, signatures, citations: not kept
                }
            }
            "message_delta" => {
                if let Some(reason) = json.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.stop = Some(reason.to_string());
                }
                if let Some(u) = json.get("usage") {
                    self.read_usage(u);
                }
            }
            "message_stop" => return Ok(true),
            "error" => return Err(stream_error(json.get("error").unwrap_or(&json)).into()),
            _ => {} // ping, content_block_stop, future events
        }
        Ok(false)
    }

    fn start_block(&mut self, index: u64, block: &Value, sink: TextSink<'_>) {
        let str_of = |k: &str| block.get(k).and_then(Value::as_str).unwrap_or("");
        let b = match str_of("type") {
            "text" => {
                self.push_text(str_of("text"), sink);
                Block::Text
            }
            "tool_use" => Block::Tool {
                id: str_of("id").to_string(),
                name: str_of("name").to_string(),
                json: String::new(),
            },
            _ => Block::Other,
        };
        // Bounded: a hostile endpoint could open blocks forever.
        if self.blocks.len() >= 4 * super::MAX_TOOL_CALLS {
            return;
        }
        self.blocks.push((index, b));
    }

    fn push_text(&mut self, t: &str, sink: TextSink<'_>) {
        self.text.push_str(t);
        sink(t);
    }

    fn read_usage(&mut self, u: &Value) {
        let n = |k: &str| u.get(k).and_then(Value::as_u64);
        // Cached prompt tokens are reported apart; they are input all the same.
        if let Some(input) = n("input_tokens") {
            let cached = n("cache_creation_input_tokens").unwrap_or(0)
                + n("cache_read_input_tokens").unwrap_or(0);
            self.usage.input_tokens = input + cached;
        }
        if let Some(output) = n("output_tokens") {
            self.usage.output_tokens = output;
        }
    }

    /// A non-streamed `message` object.
    fn whole(&mut self, json: &Value, sink: TextSink<'_>) -> Result<(), ProviderError> {
        if let Some(err) = json.get("error") {
            return Err(stream_error(err));
        }
        let content = json
            .get("content")
            .and_then(Value::as_array)
            .ok_or_else(|| ProviderError::Protocol("the answer has no content array".into()))?;
        for (i, block) in content.iter().enumerate() {
            self.start_block(i as u64, block, sink);
            if let Some((_, Block::Tool { json, .. })) = self.blocks.last_mut() {
                *json = block
                    .get("input")
                    .map_or_else(String::new, Value::to_string);
            }
        }
        self.stop = json
            .get("stop_reason")
            .and_then(Value::as_str)
            .map(str::to_string);
        if let Some(u) = json.get("usage") {
            self.read_usage(u);
        }
        Ok(())
    }

    fn into_completion(mut self) -> Completion {
        self.blocks.sort_by_key(|(i, _)| *i);
        let tool_calls = self
            .blocks
            .into_iter()
            .filter_map(|(_, b)| match b {
                Block::Tool { id, name, json } => Some(ToolCall {
                    id,
                    name,
                    arguments: if json.trim().is_empty() {
                        "{}".into()
                    } else {
                        json
                    },
                }),
                _ => None,
            })
            .collect();
        let stop = match self.stop.as_deref() {
            Some("end_turn") | None => StopReason::EndTurn,
            Some("tool_use") => StopReason::ToolUse,
            Some("max_tokens") => StopReason::MaxTokens,
            Some("refusal") => StopReason::Refusal,
            Some(other) => StopReason::Other(other.to_string()),
        };
        Completion {
            text: self.text,
            tool_calls,
            usage: self.usage,
            stop,
            refusal: None,
        }
    }
}

/// An `error` event (or body): overloaded and server errors are retryable.
fn stream_error(err: &Value) -> ProviderError {
    let str_of = |k: &str| err.get(k).and_then(Value::as_str).unwrap_or("");
    let message = match str_of("message") {
        "" => err.to_string(),
        m => m.to_string(),
    };
    let unavailable = |status| ProviderError::Unavailable {
        status,
        attempts: 1,
        message: message.clone(),
    };
    match str_of("type") {
        "overloaded_error" => unavailable(529),
        "api_error" => unavailable(500),
        "rate_limit_error" => unavailable(429),
        "invalid_request_error" => ProviderError::Rejected {
            status: 400,
            message,
        },
        _ => ProviderError::Protocol(format!("the stream reported an error: {message}")),
    }
}
