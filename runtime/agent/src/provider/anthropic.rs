//! Anthropic Messages: the request body (top-level `system`, alternating
//! turns of content blocks, tool results merged into one user turn,
//! `cache_control` breakpoints on the stable prefix, extended thinking with
//! its signed blocks sent back unchanged), the streamed events (text,
//! thinking and `tool_use` blocks, stop reason, usage with cache reads and
//! writes, errors) and a non-streamed JSON answer; `check()` lists `/models`.

use super::Delta;
use super::errors::Described;
use super::exchange::{self, Answer, Shown, check_listed, tokens};
use super::http::HttpClient;
use super::retry::{self, Failure, RetryPolicy};
use super::sse::SseEvent;
use super::{BoxFuture, ChatRequest, Provider, ProviderError, ProviderSettings, TextSink};
use crate::messages::{Completion, Message, Reasoning, StopReason, ToolCall, Usage};
use bytes::Bytes;
use serde_json::{Value, json};
use std::sync::atomic::AtomicBool;

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
    origin: String,
}

impl Anthropic {
    /// Validate the base URL; nothing is sent yet.
    pub fn new(settings: ProviderSettings) -> Result<Self, ProviderError> {
        Ok(Anthropic {
            client: HttpClient::new(&settings.base_url, settings.timeout)?,
            policy: RetryPolicy::from_settings(&settings),
            origin: settings.origin(),
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
        let mut state = StreamState {
            origin: self.origin.clone(),
            model: self.settings.model.clone(),
            ..StreamState::default()
        };
        let (headers, model) = (self.headers(), &self.settings.model);
        exchange::post(
            &self.client,
            exchange::Post {
                path: "/messages",
                headers: &headers,
                body,
                model,
                end: "message_stop",
            },
            &mut state,
            sink,
        )
        .await?;
        Ok(state.into_completion())
    }

    async fn list_models(&self) -> Result<Vec<String>, Failure> {
        let (headers, model) = (self.headers(), &self.settings.model);
        exchange::models(&self.client, "/models?limit=1000", &headers, model).await
    }
}

impl Provider for Anthropic {
    fn model(&self) -> &str {
        &self.settings.model
    }

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
            let body = request_body(&self.settings, &self.origin, &req);
            let body = Bytes::from(body.to_string());
            let shown = Shown::default();
            let sink = shown.sink(text);
            retry::run(&self.policy, shown.flag(), || self.attempt(&body, &sink)).await
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

/// The `cache_control` of a breakpoint.
fn ephemeral() -> Value {
    json!({"type": "ephemeral"})
}

/// The Messages request for `req` (streamed). Unless prompt caching is
/// off, three breakpoints mark the stable prefix: the system prompt, the
/// last tool, and the last block of the history (what the next step of the
/// turn resends unchanged). With thinking on, `max_tokens` is the budget
/// plus the configured output limit (the API wants it larger than the
/// budget) and no temperature is sent.
pub fn request_body(settings: &ProviderSettings, origin: &str, req: &ChatRequest<'_>) -> Value {
    let options = &settings.options;
    let cache = !options.no_prompt_cache;
    let mut messages = turns(req.messages, origin);
    if cache
        && let Some(last) = messages
            .last_mut()
            .and_then(|t| t["content"].as_array_mut())
            .and_then(|c| c.last_mut())
            .filter(|b| !matches!(b["type"].as_str(), Some("thinking" | "redacted_thinking")))
    {
        last["cache_control"] = ephemeral();
    }
    // With thinking on, the API wants the assistant message a tool result
    // continues to start with its thinking; one made elsewhere (before a
    // failover) or left unsigned has none to send: that call goes without.
    let thinking = options
        .thinking_budget
        .filter(|_| continued_has_thinking(req.messages, origin));
    let max_tokens = match thinking {
        Some(budget) => req.max_tokens.saturating_add(budget),
        None => req.max_tokens,
    };
    let mut body = json!({
        "model": settings.model,
        "max_tokens": max_tokens,
        "stream": true,
        "messages": messages,
    });
    if let Some(budget) = thinking {
        body["thinking"] = json!({"type": "enabled", "budget_tokens": budget});
    }
    // Thinking requires the default temperature (the quirk, per request).
    let temperature_ok = options.quirks.temperature.unwrap_or(thinking.is_none());
    if let Some(t) = options.temperature.filter(|_| temperature_ok) {
        body["temperature"] = json!(t);
    }
    if !req.system.is_empty() {
        body["system"] = if cache {
            json!([{"type": "text", "text": req.system, "cache_control": ephemeral()}])
        } else {
            json!(req.system)
        };
    }
    if !req.tools.is_empty() {
        let mut tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.input_schema}))
            .collect();
        if let Some(last) = tools.last_mut().filter(|_| cache) {
            last["cache_control"] = ephemeral();
        }
        body["tools"] = json!(tools);
    }
    body
}

/// Whether the request may turn thinking on: unless the history ends
/// with tool results answering an assistant message of this turn, which
/// then must carry a signed (or redacted) thinking block from `origin`.
fn continued_has_thinking(history: &[Message], origin: &str) -> bool {
    if !matches!(history.last(), Some(Message::Tool { .. })) {
        return true;
    }
    match history
        .iter()
        .rev()
        .find(|m| matches!(m, Message::Assistant { .. }))
    {
        Some(Message::Assistant { reasoning, .. }) => {
            thinking_blocks(reasoning, origin).next().is_some()
        }
        _ => true,
    }
}

/// The thinking blocks `origin` produced, as it sent them.
fn thinking_blocks<'a>(
    reasoning: &'a [Reasoning],
    origin: &'a str,
) -> impl Iterator<Item = Value> + 'a {
    reasoning
        .iter()
        .filter(move |r| r.origin == origin)
        .filter_map(|r| match (r.kind.as_str(), &r.signature, &r.data) {
            ("thinking", Some(sig), _) => {
                Some(json!({"type": "thinking", "thinking": r.text, "signature": sig}))
            }
            ("redacted_thinking", _, Some(data)) => {
                Some(json!({"type": "redacted_thinking", "data": data}))
            }
            // Unsigned thinking cannot be sent back.
            _ => None,
        })
}

/// The history as alternating user/assistant turns of content blocks:
/// consecutive tool results, and a user message right after them, share one
/// user turn; empty messages are dropped (the API refuses empty blocks).
/// The current turn's assistant messages (after the last user message)
/// start with their thinking blocks, unchanged: with thinking on, the API
/// requires them with the tool results they led to.
fn turns(history: &[Message], origin: &str) -> Vec<Value> {
    let current = history
        .iter()
        .rposition(|m| matches!(m, Message::User { .. }))
        .unwrap_or(0);
    let mut turns: Vec<(&str, Vec<Value>)> = Vec::new();
    for (i, m) in history.iter().enumerate() {
        let (role, blocks) = match m {
            Message::User { text } if text.is_empty() => continue,
            Message::User { text } => ("user", vec![json!({"type": "text", "text": text})]),
            Message::Assistant {
                text,
                tool_calls,
                reasoning,
            } => {
                let mut blocks = Vec::with_capacity(tool_calls.len() + 1);
                if i > current {
                    blocks.extend(thinking_blocks(reasoning, origin));
                }
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

impl Answer for StreamState {
    fn event(&mut self, event: &SseEvent, sink: TextSink<'_>) -> Result<bool, Failure> {
        self.on_event(event, sink)
    }

    fn whole(&mut self, json: &Value, sink: TextSink<'_>) -> Result<(), ProviderError> {
        self.read_whole(json, sink)
    }
}

/// A content block being streamed.
#[derive(Debug)]
enum Block {
    Text,
    Thinking {
        text: String,
        signature: String,
        /// Past the cap: kept to show, never sent back (its signature no
        /// longer matches).
        truncated: bool,
    },
    Redacted {
        data: String,
    },
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
    origin: String,
    model: String,
    text: String,
    blocks: Vec<(u64, Block)>,
    /// Bytes of thinking kept so far (bounded).
    thinking: usize,
    /// As reported: input without cache, cache writes, cache reads.
    input: u64,
    cache_write: u64,
    cache_read: u64,
    usage: Usage,
    stop: Option<String>,
}

/// The most thinking text (and signature data) kept from one answer.
const MAX_THINKING: usize = 4 << 20;

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
                    "thinking_delta" => self.push_thinking(index, str_of("thinking"), "", sink),
                    "signature_delta" => self.push_thinking(index, "", str_of("signature"), sink),
                    _ => {} // citations, future deltas
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
            "error" => {
                let err = json.get("error").unwrap_or(&json);
                return Err(Described::from_json(None, err).classify(&self.model).into());
            }
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
            "thinking" => {
                let (text, signature) = (str_of("thinking"), str_of("signature"));
                self.thinking += text.len() + signature.len();
                if !text.is_empty() {
                    sink(Delta::Reasoning(text));
                }
                Block::Thinking {
                    text: text.to_string(),
                    signature: signature.to_string(),
                    truncated: false,
                }
            }
            "redacted_thinking" => {
                let data = str_of("data");
                self.thinking += data.len();
                Block::Redacted {
                    data: data.to_string(),
                }
            }
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
        sink(Delta::Text(t));
    }

    /// Thinking text or signature for the block at `index` (bounded: past
    /// the cap the block stays unsigned and is not sent back).
    fn push_thinking(&mut self, index: u64, t: &str, sig: &str, sink: TextSink<'_>) {
        let over = self.thinking + t.len() + sig.len() > MAX_THINKING;
        if let Some((
            _,
            Block::Thinking {
                text,
                signature,
                truncated,
            },
        )) = self.blocks.iter_mut().find(|(i, _)| *i == index)
        {
            if over || *truncated {
                *truncated = true;
                return;
            }
            self.thinking += t.len() + sig.len();
            text.push_str(t);
            signature.push_str(sig);
            if !t.is_empty() {
                sink(Delta::Reasoning(t));
            }
        }
    }

    /// Anthropic reports the uncached input, cache writes and cache reads
    /// apart (in `message_start`, and again in `message_delta`): Chitin's
    /// input is their sum, with the cached parts kept as such.
    fn read_usage(&mut self, u: &Value) {
        let n = |k: &str| tokens(u.get(k));
        self.input = n("input_tokens").unwrap_or(self.input);
        self.cache_write = n("cache_creation_input_tokens").unwrap_or(self.cache_write);
        self.cache_read = n("cache_read_input_tokens").unwrap_or(self.cache_read);
        self.usage.input_tokens = self
            .input
            .saturating_add(self.cache_write)
            .saturating_add(self.cache_read);
        self.usage.cache_read_tokens = self.cache_read;
        self.usage.cache_write_tokens = self.cache_write;
        if let Some(output) = n("output_tokens") {
            self.usage.output_tokens = output;
        }
    }

    /// A non-streamed `message` object.
    fn read_whole(&mut self, json: &Value, sink: TextSink<'_>) -> Result<(), ProviderError> {
        if let Some(err) = json.get("error") {
            return Err(Described::from_json(None, err).classify(&self.model));
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
        let reasoning = self
            .blocks
            .iter()
            .filter_map(|(_, b)| {
                let (kind, text, signature, data) = match b {
                    Block::Thinking {
                        text,
                        signature,
                        truncated,
                    } => (
                        "thinking",
                        text.clone(),
                        Some(signature.clone()).filter(|s| !s.is_empty() && !truncated),
                        None,
                    ),
                    Block::Redacted { data } => {
                        ("redacted_thinking", String::new(), None, Some(data.clone()))
                    }
                    _ => return None,
                };
                Some(Reasoning {
                    origin: self.origin.clone(),
                    kind: kind.to_string(),
                    text,
                    signature,
                    data,
                })
            })
            .collect();
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
            reasoning,
        }
    }
}
