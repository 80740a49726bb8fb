//! OpenAI-compatible Chat Completions: the request body (system message
//! first, assistant `tool_calls`, `tool` results, function tools, reasoning
//! sent back where the provider needs it), the streamed answer (text and
//! reasoning deltas, tool calls accumulated by index, finish reason, usage
//! with cached tokens) and a non-streamed JSON answer from servers that
//! ignore `stream`; `check()` lists `/models`.

use super::errors::Described;
use super::exchange::{self, Answer, Shown, bearer, check_listed, tokens};
use super::http::HttpClient;
use super::retry::{self, Failure, RetryPolicy};
use super::sse::SseEvent;
use super::{BoxFuture, ChatRequest, Provider, ProviderError, ProviderSettings, TextSink};
use super::{Delta, quirks::Quirks};
use crate::messages::{Completion, Message, Reasoning, StopReason, ToolCall, Usage};
use bytes::Bytes;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, Ordering};

/// A client for one OpenAI-compatible endpoint and model.
/// (No `Debug`: the settings hold the API key.)
pub struct OpenAi {
    settings: ProviderSettings,
    client: HttpClient,
    policy: RetryPolicy,
    quirks: Quirks,
    origin: String,
    /// Set once the endpoint refused reasoning sent back: never sent again.
    no_echo: AtomicBool,
}

impl OpenAi {
    /// Validate the base URL; nothing is sent yet.
    pub fn new(settings: ProviderSettings) -> Result<Self, ProviderError> {
        Ok(OpenAi {
            client: HttpClient::new(&settings.base_url, settings.timeout)?,
            policy: RetryPolicy::from_settings(&settings),
            quirks: settings.quirks(),
            origin: settings.origin(),
            no_echo: AtomicBool::new(false),
            settings,
        })
    }

    fn auth(&self) -> Option<String> {
        bearer(self.settings.api_key.as_deref())
    }

    async fn attempt(&self, body: &Bytes, sink: TextSink<'_>) -> Result<Completion, Failure> {
        let auth = self.auth();
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("authorization", a.as_str())).collect();
        let mut state = StreamState::new(&self.origin);
        state.model = self.settings.model.clone();
        exchange::post(
            &self.client,
            exchange::Post {
                path: "/chat/completions",
                headers: &headers,
                body,
                model: &self.settings.model,
                end: "the answer was complete",
            },
            &mut state,
            sink,
        )
        .await?;
        Ok(state.into_completion())
    }

    async fn list_models(&self) -> Result<Vec<String>, Failure> {
        let auth = self.auth();
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("authorization", a.as_str())).collect();
        exchange::models(&self.client, "/models", &headers, &self.settings.model).await
    }
}

impl Provider for OpenAi {
    fn model(&self) -> &str {
        &self.settings.model
    }

    fn describe(&self) -> String {
        format!(
            "OpenAI-compatible at {} (model {})",
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
            let shown = Shown::default();
            let sink = shown.sink(text);
            let echo = self.quirks.echo_reasoning && !self.no_echo.load(Ordering::SeqCst);
            let body = request_body(&self.settings, &self.quirks, &self.origin, echo, &req);
            let echoed = echo && sends_reasoning(&body);
            let body = Bytes::from(body.to_string());
            let result =
                retry::run(&self.policy, shown.flag(), || self.attempt(&body, &sink)).await;
            match result {
                // An endpoint that refuses reasoning it was sent is asked
                // again without it, and never sent it again.
                Err(ProviderError::Rejected { status, message })
                    if echoed && !shown.any() && refuses_reasoning(&message) =>
                {
                    tracing::warn!(
                        "the provider refused reasoning sent back ({status}: {message}); sending none to it from now on (set [provider.quirks] echo_reasoning = false to say so)"
                    );
                    self.no_echo.store(true, Ordering::SeqCst);
                    let body =
                        request_body(&self.settings, &self.quirks, &self.origin, false, &req);
                    let body = Bytes::from(body.to_string());
                    retry::run(&self.policy, shown.flag(), || self.attempt(&body, &sink)).await
                }
                other => other,
            }
        })
    }

    fn check(&self) -> BoxFuture<'_, Result<String, ProviderError>> {
        Box::pin(async move {
            let never = AtomicBool::new(false);
            let ids = retry::run(&self.policy, &never, || self.list_models()).await?;
            check_listed(self.describe(), &self.settings.model, &ids, |id| {
                id == self.settings.model
            })
        })
    }
}

/// The Chat Completions request for `req` (streamed, usage included).
/// With `echo`, the reasoning `origin` produced is sent back on the
/// assistant messages with tool calls of the current turn (after the last
/// user message), in the field it came in: DeepSeek's thinking mode answers
/// 400 without it; earlier turns' reasoning is left out (no provider needs
/// it and it would cost tokens every step).
pub fn request_body(
    settings: &ProviderSettings,
    quirks: &Quirks,
    origin: &str,
    echo: bool,
    req: &ChatRequest<'_>,
) -> Value {
    let current = req
        .messages
        .iter()
        .rposition(|m| matches!(m, Message::User { .. }))
        .unwrap_or(0);
    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    if !req.system.is_empty() {
        messages.push(json!({"role": "system", "content": req.system}));
    }
    for (i, m) in req.messages.iter().enumerate() {
        messages.push(match m {
            Message::User { text } => json!({"role": "user", "content": text}),
            Message::Assistant {
                text, tool_calls, ..
            } if tool_calls.is_empty() => {
                json!({"role": "assistant", "content": text})
            }
            Message::Assistant {
                text,
                tool_calls,
                reasoning,
            } => {
                let mut m = json!({
                    "role": "assistant",
                    "content": if text.is_empty() { Value::Null } else { json!(text) },
                    "tool_calls": tool_calls.iter().map(|c| json!({
                        "id": c.id,
                        "type": "function",
                        "function": {"name": c.name, "arguments": c.arguments},
                    })).collect::<Vec<_>>(),
                });
                if echo && i > current {
                    for field in ["reasoning_content", "reasoning"] {
                        let said: String = reasoning
                            .iter()
                            .filter(|r| r.origin == origin && r.kind == field)
                            .map(|r| r.text.as_str())
                            .collect();
                        if !said.is_empty() {
                            m[field] = json!(said);
                        }
                    }
                }
                m
            }
            Message::Tool {
                call_id, output, ..
            } => json!({"role": "tool", "tool_call_id": call_id, "content": output}),
        });
    }
    let mut body = json!({
        "model": settings.model,
        quirks.max_tokens_field.as_str(): req.max_tokens,
        "stream": true,
        "stream_options": {"include_usage": true},
        "messages": messages,
    });
    if let Some(t) = settings.options.temperature.filter(|_| quirks.temperature) {
        body["temperature"] = json!(t);
    }
    if !req.tools.is_empty() {
        body["tools"] = req
            .tools
            .iter()
            .map(|t| {
                json!({"type": "function", "function": {
                    "name": t.name, "description": t.description, "parameters": t.input_schema,
                }})
            })
            .collect();
    }
    body
}

/// Does the request body send reasoning back?
fn sends_reasoning(body: &Value) -> bool {
    body["messages"].as_array().is_some_and(|ms| {
        ms.iter()
            .any(|m| m.get("reasoning_content").is_some() || m.get("reasoning").is_some())
    })
}

/// Does a 4xx message say the endpoint does not accept the reasoning
/// fields as a property of a message (Groq: "property 'reasoning_content'
/// is unsupported"; strict schemas: "Extra inputs are not permitted",
/// "unknown field `reasoning`")? Anything vaguer is not taken as that
/// (a provider that needs the reasoning back must keep getting it).
fn refuses_reasoning(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    let names_the_field = [
        "'reasoning_content'",
        "'reasoning'",
        "`reasoning_content`",
        "`reasoning`",
        "\"reasoning_content\"",
        "\"reasoning\"",
        ".reasoning_content",
        ".reasoning",
    ]
    .iter()
    .any(|f| m.contains(f));
    names_the_field
        && [
            "is unsupported",
            "not supported",
            "unknown field",
            "unrecognized",
            "extra inputs are not permitted",
            "additional properties",
            "is not allowed",
        ]
        .iter()
        .any(|p| m.contains(p))
}

/// A tool call being streamed.
#[derive(Debug, Default)]
struct PartialCall {
    index: u64,
    id: String,
    name: String,
    arguments: String,
}

/// What the streamed chunks said so far.
#[derive(Debug, Default)]
struct StreamState {
    origin: String,
    model: String,
    text: String,
    refusal: String,
    /// (field, text), consecutive deltas of one field joined.
    reasoning: Vec<(&'static str, String)>,
    reasoning_capped: bool,
    calls: Vec<PartialCall>,
    usage: Usage,
    finish: Option<String>,
}

/// The reasoning of a delta or message: the first non-empty of
/// `reasoning_content` and `reasoning`.
fn reasoning_of(v: &Value) -> Option<(&'static str, &str)> {
    ["reasoning_content", "reasoning"]
        .into_iter()
        .find_map(|field| {
            v.get(field)
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(|t| (field, t))
        })
}

/// The most reasoning kept from one answer (it is shown as it streams).
const MAX_REASONING: usize = 4 << 20;

impl StreamState {
    fn new(origin: &str) -> Self {
        StreamState {
            origin: origin.to_string(),
            ..StreamState::default()
        }
    }

    fn push_reasoning(&mut self, field: &'static str, t: &str, sink: TextSink<'_>) {
        if t.is_empty() {
            return;
        }
        let kept: usize = self.reasoning.iter().map(|(_, r)| r.len()).sum();
        // Past the cap nothing more is kept (no text with a gap in it).
        if self.reasoning_capped || kept + t.len() > MAX_REASONING {
            self.reasoning_capped = true;
            return;
        }
        match self.reasoning.last_mut() {
            Some((f, r)) if *f == field => r.push_str(t),
            _ => self.reasoning.push((field, t.to_string())),
        }
        sink(Delta::Reasoning(t));
    }

    /// One SSE event; `true` at `[DONE]`.
    fn on_event(&mut self, event: &SseEvent, sink: TextSink<'_>) -> Result<bool, Failure> {
        let data = event.data.trim();
        if data == "[DONE]" {
            return Ok(true);
        }
        let chunk: Value = serde_json::from_str(data)
            .map_err(|e| ProviderError::Protocol(format!("invalid stream chunk: {e}")))?;
        if let Some(err) = chunk.get("error") {
            return Err(Described::from_json(None, err).classify(&self.model).into());
        }
        read_usage(&chunk, &mut self.usage);
        let Some(choice) = chunk.pointer("/choices/0") else {
            return Ok(false);
        };
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            self.finish = Some(reason.to_string());
        }
        let Some(delta) = choice.get("delta") else {
            return Ok(false);
        };
        // Some gateways send both names with the same text: one is taken.
        if let Some((field, t)) = reasoning_of(delta) {
            self.push_reasoning(field, t, sink);
        }
        if let Some(t) = delta.get("content").and_then(Value::as_str) {
            self.text.push_str(t);
            sink(Delta::Text(t));
        }
        // A refusal is not the answer: kept apart, shown as a refusal.
        if let Some(t) = delta.get("refusal").and_then(Value::as_str) {
            self.refusal.push_str(t);
        }
        for tc in delta
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            self.tool_call_delta(tc)?;
        }
        Ok(false)
    }

    fn tool_call_delta(&mut self, tc: &Value) -> Result<(), ProviderError> {
        let id = tc.get("id").and_then(Value::as_str).unwrap_or("");
        let index = match tc.get("index").and_then(Value::as_u64) {
            Some(i) => i,
            // No index (some servers): a new id starts a new call.
            None if !id.is_empty() && self.calls.iter().all(|c| c.id != id) => {
                self.calls.len() as u64
            }
            None => self.calls.last().map_or(0, |c| c.index),
        };
        let pos = match self.calls.iter().position(|c| c.index == index) {
            Some(pos) => pos,
            None if self.calls.len() >= super::MAX_TOOL_CALLS => {
                return Err(ProviderError::Protocol(format!(
                    "the model sent more than {} tool calls in one answer",
                    super::MAX_TOOL_CALLS
                )));
            }
            None => {
                self.calls.push(PartialCall {
                    index,
                    ..PartialCall::default()
                });
                self.calls.len() - 1
            }
        };
        let call = &mut self.calls[pos];
        if !id.is_empty() {
            call.id = id.to_string();
        }
        if let Some(f) = tc.get("function") {
            if let Some(name) = f.get("name").and_then(Value::as_str) {
                call.name.push_str(name);
            }
            if let Some(args) = f.get("arguments").and_then(Value::as_str) {
                call.arguments.push_str(args);
            }
        }
        Ok(())
    }

    fn into_completion(self) -> Completion {
        let tool_calls: Vec<ToolCall> = self
            .calls
            .into_iter()
            .enumerate()
            .map(|(i, c)| ToolCall {
                id: if c.id.is_empty() {
                    format!("call_{i}")
                } else {
                    c.id
                },
                name: c.name,
                arguments: c.arguments,
            })
            .collect();
        let refusal = Some(self.refusal).filter(|r| !r.is_empty());
        let stop = match refusal {
            Some(_) => StopReason::Refusal,
            None => stop_reason(self.finish.as_deref(), !tool_calls.is_empty()),
        };
        let origin = self.origin;
        let reasoning = self
            .reasoning
            .into_iter()
            .map(|(kind, text)| Reasoning {
                origin: origin.clone(),
                kind: kind.to_string(),
                text,
                signature: None,
                data: None,
            })
            .collect();
        Completion {
            text: self.text,
            tool_calls,
            usage: self.usage,
            stop,
            refusal,
            reasoning,
        }
    }
}

/// `usage`, with the cached part of the prompt where the provider says it:
/// `prompt_tokens_details.cached_tokens` (OpenAI, GLM, Qwen, OpenRouter),
/// `prompt_cache_hit_tokens` (DeepSeek), `cached_tokens` (Kimi); cache
/// writes where reported (`prompt_tokens_details.cache_write_tokens`).
/// `prompt_tokens` includes the cached tokens for all of them.
fn read_usage(json: &Value, usage: &mut Usage) {
    if let Some(u) = json.get("usage").filter(|u| u.is_object()) {
        let n = |p: &str| tokens(u.pointer(p));
        usage.input_tokens = n("/prompt_tokens").unwrap_or(usage.input_tokens);
        usage.output_tokens = n("/completion_tokens").unwrap_or(usage.output_tokens);
        let cached = [
            "/prompt_tokens_details/cached_tokens",
            "/prompt_cache_hit_tokens",
            "/cached_tokens",
        ]
        .iter()
        .filter_map(|p| n(p))
        .max();
        if let Some(c) = cached {
            usage.cache_read_tokens = c;
        }
        if let Some(w) = n("/prompt_tokens_details/cache_write_tokens") {
            usage.cache_write_tokens = w;
        }
        // Chunks may report apart: the parts never exceed the whole.
        usage.cache_read_tokens = usage.cache_read_tokens.min(usage.input_tokens);
        usage.cache_write_tokens = usage
            .cache_write_tokens
            .min(usage.input_tokens.saturating_sub(usage.cache_read_tokens));
    }
}

fn stop_reason(finish: Option<&str>, has_calls: bool) -> StopReason {
    match finish {
        Some("stop") | Some("end_turn") => StopReason::EndTurn,
        Some("tool_calls") | Some("function_call") => StopReason::ToolUse,
        Some("length") => StopReason::MaxTokens,
        Some("content_filter") => StopReason::ContentFilter,
        Some(other) => StopReason::Other(other.to_string()),
        None if has_calls => StopReason::ToolUse,
        None => StopReason::EndTurn,
    }
}

impl Answer for StreamState {
    fn event(&mut self, event: &SseEvent, sink: TextSink<'_>) -> Result<bool, Failure> {
        self.on_event(event, sink)
    }

    /// A non-streamed `chat.completion` object.
    fn whole(&mut self, json: &Value, sink: TextSink<'_>) -> Result<(), ProviderError> {
        if let Some(err) = json.get("error") {
            return Err(Described::from_json(None, err).classify(&self.model));
        }
        let message = json.pointer("/choices/0/message").ok_or_else(|| {
            ProviderError::Protocol("the answer has no choices[0].message".into())
        })?;
        if let Some((field, t)) = reasoning_of(message) {
            self.push_reasoning(field, t, sink);
        }
        if let Some(t) = message.get("content").and_then(Value::as_str) {
            self.text = t.to_string();
            sink(Delta::Text(t));
        }
        if let Some(t) = message.get("refusal").and_then(Value::as_str) {
            self.refusal = t.to_string();
        }
        for (i, tc) in message
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let mut tc = tc.clone();
            tc["index"] = json!(i);
            self.tool_call_delta(&tc)?;
        }
        self.finish = json
            .pointer("/choices/0/finish_reason")
            .and_then(Value::as_str)
            .map(str::to_string);
        read_usage(json, &mut self.usage);
        Ok(())
    }

    fn complete_without_end(&self) -> bool {
        self.finish.is_some()
    }
}

#[cfg(test)]
mod usage_tests {
    use super::*;

    #[test]
    fn cached_tokens_are_read_from_each_providers_field() {
        let cases = [
            // OpenAI, GLM, Qwen, OpenRouter.
            (
                json!({"prompt_tokens": 100, "completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": 64}}),
                64,
                0,
            ),
            // DeepSeek.
            (
                json!({"prompt_tokens": 100, "completion_tokens": 5, "prompt_cache_hit_tokens": 80, "prompt_cache_miss_tokens": 20}),
                80,
                0,
            ),
            // Kimi (Moonshot).
            (
                json!({"prompt_tokens": 100, "completion_tokens": 5, "cached_tokens": 32}),
                32,
                0,
            ),
            // OpenRouter with a cache write; a hostile count is capped.
            (
                json!({"prompt_tokens": 100, "completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": 10, "cache_write_tokens": 500}}),
                10,
                90,
            ),
            (
                json!({"prompt_tokens": 100, "completion_tokens": 5, "cached_tokens": 1000}),
                100,
                0,
            ),
            (json!({"prompt_tokens": 100, "completion_tokens": 5}), 0, 0),
        ];
        for (u, read, write) in cases {
            let mut usage = Usage::default();
            read_usage(&json!({ "usage": u }), &mut usage);
            assert_eq!(
                (
                    usage.input_tokens,
                    usage.cache_read_tokens,
                    usage.cache_write_tokens
                ),
                (100, read, write),
                "{u}"
            );
        }
    }
}
