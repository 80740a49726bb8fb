//! Model providers behind one trait: OpenAI-compatible Chat Completions
//! ([`openai`]), Anthropic Messages ([`anthropic`]) and OpenAI's Responses
//! API ([`responses`]), all streamed (SSE,
//! [`sse`]) over a small HTTP client ([`http`]) with retries ([`retry`]);
//! their errors classified alike in and out of band ([`errors`]); what
//! each model family wants changed in a request ([`quirks`]).

pub mod anthropic;
pub mod errors;
mod exchange;
pub mod http;
pub mod openai;
pub mod quirks;
pub mod responses;
pub mod retry;
pub mod sse;

use crate::messages::{Completion, Message, ToolSpec};
pub use errors::ProviderError;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// Most tool calls accepted in one model answer (more is a protocol error).
pub const MAX_TOOL_CALLS: usize = 128;

/// A boxed future (the trait is object safe).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A piece of a streamed answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delta<'a> {
    /// Answer text.
    Text(&'a str),
    /// Reasoning text (`reasoning_content`, `reasoning`, thinking blocks).
    Reasoning(&'a str),
}

/// Receives the answer's pieces as they arrive.
pub type TextSink<'a> = &'a (dyn Fn(Delta<'_>) + Send + Sync);

/// One model call.
#[derive(Debug, Clone, Copy)]
pub struct ChatRequest<'a> {
    /// System prompt.
    pub system: &'a str,
    /// History, oldest first.
    pub messages: &'a [Message],
    /// Tools the model may call.
    pub tools: &'a [ToolSpec],
    /// Output token cap for this call.
    pub max_tokens: u32,
}

/// A model provider.
pub trait Provider: Send + Sync {
    /// For humans: kind, base URL and model.
    fn describe(&self) -> String;

    /// The model asked for (recorded with each call's usage).
    fn model(&self) -> &str {
        ""
    }

    /// Run one completion, streaming text to `text` as it arrives.
    fn complete<'a>(
        &'a self,
        req: ChatRequest<'a>,
        text: TextSink<'a>,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>>;

    /// Check the connection, key and model without spending tokens where the
    /// API allows (lists models); returns a one-line summary.
    fn check(&self) -> BoxFuture<'_, Result<String, ProviderError>>;
}

/// Which wire protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// OpenAI-compatible Chat Completions (OpenAI, OpenRouter, DeepSeek,
    /// Kimi, GLM, MiniMax, Qwen, Ollama, vLLM, llama.cpp, ...).
    Openai,
    /// Anthropic Messages.
    Anthropic,
    /// OpenAI's Responses API (`/responses`, stateless).
    Responses,
}

/// Everything needed to talk to a provider.
#[derive(Debug, Clone)]
pub struct ProviderSettings {
    /// Protocol.
    pub kind: ProviderKind,
    /// Base URL, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:11434/v1`.
    pub base_url: String,
    /// Model name.
    pub model: String,
    /// API key (None for local servers that need none).
    pub api_key: Option<String>,
    /// Per-request timeout to the first byte, and between streamed chunks.
    pub timeout: Duration,
    /// Retries on 429, 5xx, timeouts and connection errors.
    pub max_retries: u32,
    /// First backoff delay (doubles each retry; `Retry-After` wins if longer, capped).
    pub retry_base: Duration,
    /// What to ask for beyond the defaults.
    pub options: RequestOptions,
}

impl ProviderSettings {
    /// Who produced a piece of reasoning: it is sent back only to the same
    /// kind, endpoint and model.
    pub fn origin(&self) -> String {
        let kind = match self.kind {
            ProviderKind::Openai => "openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Responses => "responses",
        };
        format!("{kind} {} {}", self.base_url, self.model)
    }

    /// The quirks applied to this model (the table, then the overrides).
    pub fn quirks(&self) -> quirks::Quirks {
        quirks::Quirks::of(self)
    }
}

/// Optional request settings (`[provider]` in config.toml).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RequestOptions {
    /// Sampling temperature (omitted where the model family rejects one).
    pub temperature: Option<f32>,
    /// Anthropic: extended thinking with this many budget tokens.
    pub thinking_budget: Option<u32>,
    /// Anthropic: mark the stable prefix with `cache_control` (on unless
    /// turned off; OpenAI-compatible providers cache a stable prefix by
    /// themselves).
    pub no_prompt_cache: bool,
    /// The user's overrides of the quirks table.
    pub quirks: quirks::Overrides,
}

/// Build the provider for `settings`.
pub fn build(settings: ProviderSettings) -> Result<Box<dyn Provider>, ProviderError> {
    Ok(match settings.kind {
        ProviderKind::Openai => Box::new(openai::OpenAi::new(settings)?),
        ProviderKind::Anthropic => Box::new(anthropic::Anthropic::new(settings)?),
        ProviderKind::Responses => Box::new(responses::Responses::new(settings)?),
    })
}
