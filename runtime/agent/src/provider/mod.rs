//! Model providers behind one trait: OpenAI-compatible Chat Completions
//! ([`openai`]) and Anthropic Messages ([`anthropic`]), both streamed (SSE,
//! [`sse`]) over a small HTTP client ([`http`]) with retries ([`retry`]).

pub mod anthropic;
pub mod http;
pub mod openai;
pub mod retry;
pub mod sse;

use crate::messages::{Completion, Message, ToolSpec};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use thiserror::Error;

/// Most tool calls accepted in one model answer (more is a protocol error).
pub const MAX_TOOL_CALLS: usize = 128;

/// A boxed future (the trait is object safe).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Receives streamed text as it arrives.
pub type TextSink<'a> = &'a (dyn Fn(&str) + Send + Sync);

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
}

/// Build the provider for `settings`.
pub fn build(settings: ProviderSettings) -> Result<Box<dyn Provider>, ProviderError> {
    Ok(match settings.kind {
        ProviderKind::Openai => Box::new(openai::OpenAi::new(settings)?),
        ProviderKind::Anthropic => Box::new(anthropic::Anthropic::new(settings)?),
    })
}

/// A provider call failed (after any retries).
#[derive(Debug, Error)]
pub enum ProviderError {
    /// The base URL is unusable.
    #[error("provider base URL `{url}` is invalid: {detail}")]
    BadUrl {
        /// The URL.
        url: String,
        /// Why.
        detail: String,
    },
    /// 401/403: the key is missing, wrong or lacks access.
    #[error(
        "the provider rejected the API key ({status}): {message}; set the key with `chitin secret set <NAME>` and name it in config.toml [provider] api_key_secret (or set CHITIN_API_KEY)"
    )]
    Auth {
        /// HTTP status.
        status: u16,
        /// The provider's message.
        message: String,
    },
    /// 404, or a model the provider does not know.
    #[error(
        "the provider does not know model `{model}` or the endpoint ({message}); check [provider] model and base_url in config.toml"
    )]
    NotFound {
        /// The configured model.
        model: String,
        /// The provider's message.
        message: String,
    },
    /// Other 4xx: the request was refused.
    #[error("the provider refused the request ({status}): {message}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The provider's message.
        message: String,
    },
    /// 429 or 5xx, still failing after the retries.
    #[error("the provider is unavailable ({status}){}: {message}", tries(.attempts))]
    Unavailable {
        /// HTTP status.
        status: u16,
        /// Attempts made.
        attempts: u32,
        /// The provider's message.
        message: String,
    },
    /// No connection or no answer in time, after the retries.
    #[error("cannot reach the provider at {url}{}: {detail}", tries(.attempts))]
    Unreachable {
        /// The URL.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// What happened.
        detail: String,
    },
    /// The provider answered, but its stream broke or stalled before the
    /// answer was complete (after the retries, when nothing was shown yet).
    #[error("the provider's answer from {url} was cut off{}: {detail}", tries(.attempts))]
    Cut {
        /// The URL.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// What happened.
        detail: String,
    },
    /// The response did not follow the protocol.
    #[error("the provider's response is malformed: {0}")]
    Protocol(String),
}

impl ProviderError {
    /// Worth retrying (before any output was streamed).
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            ProviderError::Unavailable { .. }
                | ProviderError::Unreachable { .. }
                | ProviderError::Cut { .. }
        )
    }
}

/// ` (3 attempts)` after a retried failure; nothing after a single one.
fn tries(attempts: &u32) -> String {
    if *attempts > 1 {
        format!(" ({attempts} attempts)")
    } else {
        String::new()
    }
}
