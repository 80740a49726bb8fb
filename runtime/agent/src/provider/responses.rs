//! OpenAI's Responses API (`POST /responses`), stateless (`store: false`):
//! the request (`instructions`, input items: messages, `function_call`,
//! `function_call_output`, and the current turn's reasoning items sent back
//! with their encrypted content), and the streamed semantic events (text,
//! refusal and reasoning-summary deltas, function calls by output index,
//! `response.completed` / `incomplete` / `failed`, `error`) into one
//! [`Completion`]. Errors and retries are shared with the other providers.

use super::errors::Described;
use super::exchange::{self, Answer, Shown, bearer, check_listed, tokens};
use super::http::HttpClient;
use super::quirks::{MaxTokensField, Quirks};
use super::retry::{self, Failure, RetryPolicy};
use super::sse::SseEvent;
use super::{BoxFuture, ChatRequest, Delta, Provider, ProviderError, ProviderSettings, TextSink};
use crate::messages::{Completion, Message, Reasoning, StopReason, ToolCall, Usage};
use bytes::Bytes;
use serde_json::{Value, json};
use std::sync::atomic::AtomicBool;

/// A reasoning item kept whole (its JSON in `Reasoning::data`).
const REASONING_ITEM: &str = "reasoning_item";

/// The most reasoning (summaries and encrypted items) kept from one answer.
const MAX_REASONING: usize = 4 << 20;

/// A client for the Responses API of one endpoint and model.
/// (No `Debug`: the settings hold the API key.)
pub struct Responses {
    settings: ProviderSettings,
    client: HttpClient,
    policy: RetryPolicy,
    quirks: Quirks,
    origin: String,
}

impl Responses {
    /// Validate the base URL; nothing is sent yet.
    pub fn new(settings: ProviderSettings) -> Result<Self, ProviderError> {
        Ok(Responses {
            client: HttpClient::new(&settings.base_url, settings.timeout)?,
            policy: RetryPolicy::from_settings(&settings),
            quirks: settings.quirks(),
            origin: settings.origin(),
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
        let mut state = State {
            origin: self.origin.clone(),
            model: self.settings.model.clone(),
            ..State::default()
        };
        exchange::post(
            &self.client,
            exchange::Post {
                path: "/responses",
                headers: &headers,
                body,
                model: &self.settings.model,
                end: "response.completed",
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

impl Provider for Responses {
    fn model(&self) -> &str {
        &self.settings.model
    }

    fn describe(&self) -> String {
        format!(
            "OpenAI Responses API at {} (model {})",
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
            let body = request_body(&self.settings, &self.quirks, &self.origin, &req);
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
            check_listed(self.describe(), &self.settings.model, &ids, |id| {
                id == self.settings.model
            })
        })
    }
}

/// The request for `req`. Reasoning models (the quirks' reasoning family)
/// ask for their reasoning items' encrypted content, and get the current
/// turn's items back before the calls they led to: with `store: false`
/// that is how the model keeps its reasoning across tool steps.
pub fn request_body(
    settings: &ProviderSettings,
    quirks: &Quirks,
    origin: &str,
    req: &ChatRequest<'_>,
) -> Value {
    let reasoning_model = quirks.max_tokens_field == MaxTokensField::MaxCompletionTokens;
    let current = req
        .messages
        .iter()
        .rposition(|m| matches!(m, Message::User { .. }))
        .unwrap_or(0);
    let mut input = Vec::with_capacity(req.messages.len());
    for (i, m) in req.messages.iter().enumerate() {
        match m {
            Message::User { text } => input.push(json!({"role": "user", "content": text})),
            Message::Assistant {
                text,
                tool_calls,
                reasoning,
            } => {
                if i > current && quirks.echo_reasoning {
                    input.extend(
                        reasoning
                            .iter()
                            .filter(|r| r.origin == origin && r.kind == REASONING_ITEM)
                            .filter_map(|r| r.data.as_deref())
                            .filter_map(|d| serde_json::from_str::<Value>(d).ok()),
                    );
                }
                if !text.is_empty() {
                    input.push(json!({"role": "assistant", "content": text}));
                }
                for c in tool_calls {
                    input.push(json!({"type": "function_call", "call_id": c.id, "name": c.name, "arguments": c.arguments}));
                }
            }
            Message::Tool {
                call_id, output, ..
            } => input.push(
                json!({"type": "function_call_output", "call_id": call_id, "output": output}),
            ),
        }
    }
    let mut body = json!({
        "model": settings.model,
        "input": input,
        "max_output_tokens": req.max_tokens,
        "stream": true,
        "store": false,
    });
    if reasoning_model {
        body["include"] = json!(["reasoning.encrypted_content"]);
    }
    if !req.system.is_empty() {
        body["instructions"] = json!(req.system);
    }
    if let Some(t) = settings.options.temperature.filter(|_| quirks.temperature) {
        body["temperature"] = json!(t);
    }
    if !req.tools.is_empty() {
        body["tools"] = req
            .tools
            .iter()
            .map(|t| json!({"type": "function", "name": t.name, "description": t.description, "parameters": t.input_schema}))
            .collect();
    }
    body
}

impl Answer for State {
    fn event(&mut self, event: &SseEvent, sink: TextSink<'_>) -> Result<bool, Failure> {
        self.on_event(event, sink)
    }

    fn whole(&mut self, json: &Value, sink: TextSink<'_>) -> Result<(), ProviderError> {
        self.read_whole(json, sink)
    }
}

/// A function call being streamed, by output index.
#[derive(Debug, Default)]
struct Call {
    index: u64,
    call_id: String,
    name: String,
    arguments: String,
}

/// What the stream said so far.
#[derive(Debug, Default)]
struct State {
    origin: String,
    model: String,
    text: String,
    refusal: String,
    calls: Vec<Call>,
    /// Summary text and whole reasoning items, in order.
    reasoning: Vec<Reasoning>,
    kept: usize,
    usage: Usage,
    stop: Option<StopReason>,
}

impl State {
    /// One SSE event; `true` once the response ended (completed or
    /// incomplete).
    fn on_event(&mut self, event: &SseEvent, sink: TextSink<'_>) -> Result<bool, Failure> {
        let json: Value = serde_json::from_str(&event.data)
            .map_err(|e| ProviderError::Protocol(format!("invalid stream event: {e}")))?;
        let kind = json
            .get("type")
            .and_then(Value::as_str)
            .or(event.event.as_deref())
            .unwrap_or("");
        let str_of = |k: &str| json.get(k).and_then(Value::as_str).unwrap_or("");
        let index = json
            .get("output_index")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        match kind {
            "response.output_text.delta" => {
                let t = str_of("delta");
                self.text.push_str(t);
                sink(Delta::Text(t));
            }
            "response.refusal.delta" => self.refusal.push_str(str_of("delta")),
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                let t = str_of("delta");
                if self.kept + t.len() <= MAX_REASONING && !t.is_empty() {
                    self.kept += t.len();
                    sink(Delta::Reasoning(t));
                }
            }
            "response.output_item.added" => self.item(index, json.get("item"), false)?,
            "response.function_call_arguments.delta" => {
                if let Some(c) = self.calls.iter_mut().find(|c| c.index == index) {
                    c.arguments.push_str(str_of("delta"));
                }
            }
            "response.output_item.done" => self.item(index, json.get("item"), true)?,
            "response.completed" | "response.incomplete" | "response.failed" => {
                let response = json.get("response").unwrap_or(&Value::Null);
                self.finish_response(response)?;
                return Ok(true);
            }
            "error" => {
                return Err(Described::from_json(None, &json)
                    .classify(&self.model)
                    .into());
            }
            _ => {} // created, in_progress, content parts, *.done texts
        }
        Ok(false)
    }

    /// An output item started (`done: false`) or ended.
    fn item(&mut self, index: u64, item: Option<&Value>, done: bool) -> Result<(), ProviderError> {
        let Some(item) = item else { return Ok(()) };
        let str_of = |k: &str| item.get(k).and_then(Value::as_str).unwrap_or("");
        match str_of("type") {
            "function_call" => {
                let pos = match self.calls.iter().position(|c| c.index == index) {
                    Some(p) => p,
                    None if self.calls.len() >= super::MAX_TOOL_CALLS => {
                        return Err(ProviderError::Protocol(format!(
                            "the model sent more than {} tool calls in one answer",
                            super::MAX_TOOL_CALLS
                        )));
                    }
                    None => {
                        self.calls.push(Call {
                            index,
                            ..Call::default()
                        });
                        self.calls.len() - 1
                    }
                };
                let c = &mut self.calls[pos];
                c.call_id = str_of("call_id").to_string();
                c.name = str_of("name").to_string();
                // The finished item holds the whole arguments.
                if done || c.arguments.is_empty() {
                    c.arguments = str_of("arguments").to_string();
                }
            }
            "reasoning" if done => {
                let whole = item.to_string();
                let summary: String = item
                    .get("summary")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s.get("text").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join("\n");
                if self.kept + whole.len() <= MAX_REASONING {
                    self.kept += whole.len();
                    self.reasoning.push(Reasoning {
                        origin: self.origin.clone(),
                        kind: REASONING_ITEM.into(),
                        text: summary,
                        signature: None,
                        data: Some(whole),
                    });
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The final `response` object: status, usage, error.
    fn finish_response(&mut self, r: &Value) -> Result<(), ProviderError> {
        let n = |p: &str| tokens(r.pointer(p));
        self.usage.input_tokens = n("/usage/input_tokens").unwrap_or(0);
        self.usage.output_tokens = n("/usage/output_tokens").unwrap_or(0);
        self.usage.cache_read_tokens = n("/usage/input_tokens_details/cached_tokens")
            .unwrap_or(0)
            .min(self.usage.input_tokens);
        let status = r
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("completed");
        let why = r
            .pointer("/incomplete_details/reason")
            .and_then(Value::as_str)
            .unwrap_or("");
        self.stop = Some(match (status, why) {
            ("failed", _) => {
                let err = r.get("error").unwrap_or(r);
                return Err(Described::from_json(None, err).classify(&self.model));
            }
            ("incomplete", "max_output_tokens") => StopReason::MaxTokens,
            ("incomplete", "content_filter") => StopReason::ContentFilter,
            ("incomplete", other) => StopReason::Other(other.to_string()),
            _ if !self.calls.is_empty() => StopReason::ToolUse,
            _ => StopReason::EndTurn,
        });
        Ok(())
    }

    /// A non-streamed `response` object.
    fn read_whole(&mut self, r: &Value, sink: TextSink<'_>) -> Result<(), ProviderError> {
        // An error body without a status is no response at all.
        if r.get("status").is_none()
            && let Some(err) = r.get("error").filter(|e| !e.is_null())
        {
            return Err(Described::from_json(None, err).classify(&self.model));
        }
        for (i, item) in r
            .get("output")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            if item.get("type").and_then(Value::as_str) == Some("message") {
                for part in item
                    .get("content")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let str_of = |k: &str| part.get(k).and_then(Value::as_str).unwrap_or("");
                    match str_of("type") {
                        "output_text" => {
                            self.text.push_str(str_of("text"));
                            sink(Delta::Text(str_of("text")));
                        }
                        "refusal" => self.refusal.push_str(str_of("refusal")),
                        _ => {}
                    }
                }
            } else {
                self.item(i as u64, Some(item), true)?;
            }
        }
        self.finish_response(r)
    }

    fn into_completion(self) -> Completion {
        let refusal = Some(self.refusal).filter(|r| !r.is_empty());
        let tool_calls: Vec<ToolCall> = self
            .calls
            .into_iter()
            .enumerate()
            .map(|(i, c)| ToolCall {
                id: if c.call_id.is_empty() {
                    format!("call_{i}")
                } else {
                    c.call_id
                },
                name: c.name,
                arguments: c.arguments,
            })
            .collect();
        let stop = match (&refusal, self.stop) {
            (Some(_), _) => StopReason::Refusal,
            (None, Some(s)) => s,
            (None, None) if tool_calls.is_empty() => StopReason::EndTurn,
            (None, None) => StopReason::ToolUse,
        };
        Completion {
            text: self.text,
            tool_calls,
            usage: self.usage,
            stop,
            refusal,
            reasoning: self.reasoning,
        }
    }
}
