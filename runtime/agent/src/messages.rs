//! The conversation, provider-neutral: what the loop keeps, the store
//! persists and each provider translates to its wire format.

use serde::{Deserialize, Serialize};

/// One message of a session's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Message {
    /// What the human said.
    User {
        /// The text.
        text: String,
    },
    /// What the model answered: text, tool calls, or both.
    Assistant {
        /// Text (may be empty when the model only calls tools).
        text: String,
        /// Tool calls, in the order the model made them.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<ToolCall>,
        /// The model's reasoning before this answer, in the order it came.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        reasoning: Vec<Reasoning>,
    },
    /// The result of one tool call, fed back to the model.
    Tool {
        /// The id of the call this answers.
        call_id: String,
        /// The (namespaced) tool name.
        name: String,
        /// Output or error text, as the model sees it.
        output: String,
        /// The call failed (denied, invalid input, unknown tool, ...).
        #[serde(default)]
        is_error: bool,
    },
}

/// A tool call requested by the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Provider-assigned id (echoed back with the result).
    pub id: String,
    /// Namespaced tool name, `skill__tool`.
    pub name: String,
    /// The arguments exactly as the model sent them (a JSON text, maybe invalid).
    pub arguments: String,
}

impl Message {
    /// An assistant message without reasoning.
    pub fn assistant(text: impl Into<String>, tool_calls: Vec<ToolCall>) -> Self {
        Message::Assistant {
            text: text.into(),
            tool_calls,
            reasoning: Vec::new(),
        }
    }
}

/// One piece of the model's reasoning: shown to the user, stored with the
/// answer, and sent back unchanged only to the provider that produced it
/// (some require it with tool results: DeepSeek's `reasoning_content`,
/// Anthropic's signed thinking blocks).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reasoning {
    /// The provider that produced it (see `ProviderSettings::origin`).
    pub origin: String,
    /// How it came: `reasoning_content` or `reasoning` (OpenAI-compatible
    /// fields), `thinking` or `redacted_thinking` (Anthropic blocks).
    pub kind: String,
    /// The reasoning text (empty when redacted).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
    /// Anthropic's signature of a thinking block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// The encrypted data of a redacted thinking block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

/// A tool as offered to the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// Namespaced name, `skill__tool` (fits every provider's name rules).
    pub name: String,
    /// Description for the model.
    pub description: String,
    /// JSON Schema of the input object.
    pub input_schema: serde_json::Value,
}

/// The most tokens one figure of a provider's usage report is taken to
/// say (a hostile or broken count cannot overflow the sums).
pub const MAX_REPORTED_TOKENS: u64 = 1 << 40;

/// Tokens used by one model call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens, cached ones included.
    pub input_tokens: u64,
    /// Completion tokens (reasoning included).
    pub output_tokens: u64,
    /// Of `input_tokens`, those read from the provider's prompt cache
    /// (billed at the cached price).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_read_tokens: u64,
    /// Of `input_tokens`, those written to the prompt cache (Anthropic
    /// bills them above the input price).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_write_tokens: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Usage {
    /// Input plus output.
    pub fn total(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }

    /// Add another call's usage.
    pub fn add(&mut self, other: Usage) {
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
        self.cache_read_tokens = self
            .cache_read_tokens
            .saturating_add(other.cache_read_tokens);
        self.cache_write_tokens = self
            .cache_write_tokens
            .saturating_add(other.cache_write_tokens);
    }

    /// Input tokens neither read from nor written to the cache.
    pub fn uncached_input(&self) -> u64 {
        self.input_tokens
            .saturating_sub(self.cache_read_tokens)
            .saturating_sub(self.cache_write_tokens)
    }
}

/// Why the model stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// A final answer.
    EndTurn,
    /// It wants tool results.
    ToolUse,
    /// It ran into its output token limit (the text or the last tool
    /// call may be cut short).
    MaxTokens,
    /// It declined to answer (`stop_reason: "refusal"`, OpenAI's `refusal`).
    Refusal,
    /// The provider's content filter stopped it (`content_filter`).
    ContentFilter,
    /// Anything else the provider said.
    Other(String),
}

/// One complete model response (after streaming).
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The text.
    pub text: String,
    /// Tool calls.
    pub tool_calls: Vec<ToolCall>,
    /// Tokens used (zero if the provider did not report them).
    pub usage: Usage,
    /// Why it stopped.
    pub stop: StopReason,
    /// The model's refusal message, when it sent one apart from its text
    /// (OpenAI's `refusal` field).
    pub refusal: Option<String>,
    /// The model's reasoning, in order.
    pub reasoning: Vec<Reasoning>,
}
