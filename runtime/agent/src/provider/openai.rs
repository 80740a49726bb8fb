//! OpenAI-compatible Chat Completions: the request body (system message
//! first, assistant `tool_calls`, `tool` results, function tools), the
//! streamed answer (text deltas, tool calls accumulated by index, finish
//! reason, usage) and a non-streamed JSON answer from servers that ignore
//! `stream`; `check()` lists `/models`.

use super::http::{HttpClient, MAX_BODY};
use super::retry::{self, Failure, RetryPolicy};
use super::sse::SseEvent;
use super::{BoxFuture, ChatRequest, Provider, ProviderError, ProviderSettings, TextSink};
use crate::messages::{Completion, Message, StopReason, ToolCall, Usage};
use bytes::Bytes;
use http::Method;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, Ordering};

/// A client for one OpenAI-compatible endpoint and model.
/// (No `Debug`: the settings hold the API key.)
pub struct OpenAi {
    settings: ProviderSettings,
    client: HttpClient,
    policy: RetryPolicy,
}

impl OpenAi {
    /// Validate the base URL; nothing is sent yet.
    pub fn new(settings: ProviderSettings) -> Result<Self, ProviderError> {
        Ok(OpenAi {
            client: HttpClient::new(&settings.base_url, settings.timeout)?,
            policy: RetryPolicy::from_settings(&settings),
            settings,
        })
    }

    fn auth(&self) -> Option<String> {
        self.settings
            .api_key
            .as_ref()
            .map(|k| format!("Bearer {k}"))
    }

    async fn attempt(&self, body: &Bytes, sink: TextSink<'_>) -> Result<Completion, Failure> {
        let auth = self.auth();
        let mut headers = vec![("accept", "text/event-stream")];
        if let Some(a) = &auth {
            headers.push(("authorization", a));
        }
        let resp = self
            .client
            .send(
                Method::POST,
                "/chat/completions",
                &headers,
                Some(body.clone()),
            )
            .await?;
        let mut resp = retry::check_status(resp, &self.settings.model).await?;
        if resp.content_type() == "application/json" {
            let body = resp.bytes(MAX_BODY).await?;
            let json: Value = serde_json::from_slice(&body)
                .map_err(|e| ProviderError::Protocol(format!("invalid JSON answer: {e}")))?;
            return Ok(parse_whole(&json, sink)?);
        }
        let mut state = StreamState::default();
        let complete = resp
            .events::<Failure, _>(|event| state.on_event(&event, sink))
            .await?;
        if !complete && state.finish.is_none() {
            return Err(resp
                .cut("the stream ended before the answer was complete".into())
                .into());
        }
        Ok(state.into_completion())
    }

    async fn list_models(&self) -> Result<Vec<String>, Failure> {
        let auth = self.auth();
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("authorization", a.as_str())).collect();
        let resp = self
            .client
            .send(Method::GET, "/models", &headers, None)
            .await?;
        let resp = retry::check_status(resp, &self.settings.model).await?;
        let body = resp.bytes(MAX_BODY).await?;
        Ok(model_ids(&body)?)
    }
}

/// The `id`s of a `{"data":[{"id":..}, ..]}` model list.
pub(super) fn model_ids(body: &[u8]) -> Result<Vec<String>, ProviderError> {
    let json: Value = serde_json::from_slice(body)
        .map_err(|e| ProviderError::Protocol(format!("the model list is not JSON: {e}")))?;
    let data = json
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| ProviderError::Protocol("the model list has no `data` array".into()))?;
    Ok(data
        .iter()
        .filter_map(|m| m.get("id").and_then(Value::as_str).map(str::to_string))
        .collect())
}

/// `check()`'s verdict: a summary when `listed` accepts one of `ids` (or the
/// list is empty, so nothing can be told), else `NotFound`.
pub(super) fn check_listed(
    describe: String,
    model: &str,
    ids: &[String],
    listed: impl Fn(&str) -> bool,
) -> Result<String, ProviderError> {
    if ids.is_empty() {
        Ok(format!("{describe}: reachable (it lists no models)"))
    } else if ids.iter().any(|id| listed(id)) {
        Ok(format!(
            "{describe}: reachable, model listed ({} models)",
            ids.len()
        ))
    } else {
        Err(ProviderError::NotFound {
            model: model.to_string(),
            message: format!("it is not among the {} models listed", ids.len()),
        })
    }
}

impl Provider for OpenAi {
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
            check_listed(self.describe(), &self.settings.model, &ids, |id| {
                id == self.settings.model
            })
        })
    }
}

/// The Chat Completions request for `req` (streamed, usage included).
pub fn request_body(model: &str, req: &ChatRequest<'_>) -> Value {
    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    if !req.system.is_empty() {
        messages.push(json!({"role": "system", "content": req.system}));
    }
    for m in req.messages {
        messages.push(match m {
            Message::User { text } => json!({"role": "user", "content": text}),
            Message::Assistant { text, tool_calls } if tool_calls.is_empty() => {
                json!({"role": "assistant", "content": text})
            }
            Message::Assistant { text, tool_calls } => json!({
                "role": "assistant",
                "content": if text.is_empty() { Value::Null } else { json!(text) },
                "tool_calls": tool_calls.iter().map(|c| json!({
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                })).collect::<Vec<_>>(),
            }),
            Message::Tool {
                call_id, output, ..
            } => json!({"role": "tool", "tool_call_id": call_id, "content": output}),
        });
    }
    let mut body = json!({
        "model": model,
        max_tokens_field(model): req.max_tokens,
        "stream": true,
        "stream_options": {"include_usage": true},
        "messages": messages,
    });
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

/// The name of the output limit for `model`: OpenAI's reasoning families
/// (gpt-5, o1, o3, o4, also behind a router's `openai/` prefix) refuse
/// `max_tokens` and want `max_completion_tokens`; every other
/// OpenAI-compatible server knows `max_tokens` (some only that).
pub fn max_tokens_field(model: &str) -> &'static str {
    let family = model
        .rsplit('/')
        .next()
        .unwrap_or(model)
        .to_ascii_lowercase();
    let reasoning = family.starts_with("gpt-5")
        || ["o1", "o3", "o4"]
            .iter()
            .any(|f| family == *f || family.starts_with(&format!("{f}-")));
    if reasoning {
        "max_completion_tokens"
    } else {
        "max_tokens"
    }
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
    text: String,
    refusal: String,
    calls: Vec<PartialCall>,
    usage: Usage,
    finish: Option<String>,
}

impl StreamState {
    /// One SSE event; `true` at `[DONE]`.
    fn on_event(&mut self, event: &SseEvent, sink: TextSink<'_>) -> Result<bool, Failure> {
        let data = event.data.trim();
        if data == "[DONE]" {
            return Ok(true);
        }
        let chunk: Value = serde_json::from_str(data)
            .map_err(|e| ProviderError::Protocol(format!("invalid stream chunk: {e}")))?;
        if let Some(err) = chunk.get("error") {
            return Err(stream_error(err).into());
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
        if let Some(t) = delta.get("content").and_then(Value::as_str) {
            self.text.push_str(t);
            sink(t);
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
        Completion {
            text: self.text,
            tool_calls,
            usage: self.usage,
            stop,
            refusal,
        }
    }
}

fn read_usage(json: &Value, usage: &mut Usage) {
    if let Some(u) = json.get("usage").filter(|u| u.is_object()) {
        let n = |k: &str| u.get(k).and_then(Value::as_u64);
        usage.input_tokens = n("prompt_tokens").unwrap_or(usage.input_tokens);
        usage.output_tokens = n("completion_tokens").unwrap_or(usage.output_tokens);
    }
}

fn stop_reason(finish: Option<&str>, has_calls: bool) -> StopReason {
    match finish {
        Some("stop") | Some("end_turn") => StopReason::EndTurn,
        Some("tool_calls") | Some("function_call") => StopReason::ToolUse,
        Some("length") => StopReason::MaxTokens,
        Some(other) => StopReason::Other(other.to_string()),
        None if has_calls => StopReason::ToolUse,
        None => StopReason::EndTurn,
    }
}

/// An `error` object inside a stream (e.g. OpenRouter's mid-stream errors).
fn stream_error(err: &Value) -> ProviderError {
    let message = err
        .get("message")
        .and_then(Value::as_str)
        .map_or_else(|| err.to_string(), str::to_string);
    match err.get("code").and_then(Value::as_u64) {
        Some(code @ (429 | 500..=599)) => ProviderError::Unavailable {
            status: code as u16,
            attempts: 1,
            message,
        },
        _ => ProviderError::Protocol(format!("the stream reported an error: {message}")),
    }
}

/// A non-streamed `chat.completion` object.
fn parse_whole(json: &Value, sink: TextSink<'_>) -> Result<Completion, ProviderError> {
    if let Some(err) = json.get("error") {
        return Err(stream_error(err));
    }
    let message = json
        .pointer("/choices/0/message")
        .ok_or_else(|| ProviderError::Protocol("the answer has no choices[0].message".into()))?;
    let mut state = StreamState::default();
    if let Some(t) = message.get("content").and_then(Value::as_str) {
        state.text = t.to_string();
        sink(t);
    }
    if let Some(t) = message.get("refusal").and_then(Value::as_str) {
        state.refusal = t.to_string();
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
        state.tool_call_delta(&tc)?;
    }
    state.finish = json
        .pointer("/choices/0/finish_reason")
        .and_then(Value::as_str)
        .map(str::to_string);
    read_usage(json, &mut state.usage);
    Ok(state.into_completion())
}

#[cfg(test)]
mod family_tests {
    use super::max_tokens_field;

    #[test]
    fn reasoning_families_get_max_completion_tokens() {
        for m in [
            "gpt-5",
            "gpt-5-mini",
            "openai/gpt-5.1",
            "o1",
            "o3-mini",
            "o4-mini-2025-04-16",
            "openai/o3",
        ] {
            assert_eq!(max_tokens_field(m), "max_completion_tokens", "{m}");
        }
        for m in [
            "gpt-4o-mini",
            "deepseek-chat",
            "llama3.2",
            "o1x",
            "qwen/qwen3-coder",
            "solar-o3",
        ] {
            assert_eq!(max_tokens_field(m), "max_tokens", "{m}");
        }
    }
}
