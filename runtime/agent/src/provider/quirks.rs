//! What a model family wants changed in a request: a small table of known
//! quirks, each overridable in config.toml (`[provider.quirks]`), so a new
//! model that behaves like a known family needs no new Chitin.
//!
//! | family                                  | quirk                                          |
//! |-----------------------------------------|------------------------------------------------|
//! | OpenAI gpt-5, o1, o3, o4 (`openai/` too) | `max_completion_tokens`; no `temperature`      |
//! | DeepSeek reasoner, Kimi thinking models | reasoning sent back with tool results          |
//! | Groq (api.groq.com)                     | never sends reasoning back (it answers 400)    |
//! | Anthropic with thinking on              | no `temperature` (the API requires the default) |

use super::{ProviderKind, ProviderSettings};
use serde::Deserialize;

/// `[provider.quirks]`: each unset value comes from the table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    /// The output limit's field: `max_tokens` or `max_completion_tokens`.
    pub max_tokens_field: Option<MaxTokensField>,
    /// Send `temperature` when one is configured.
    pub temperature: Option<bool>,
    /// Send reasoning back (on assistant messages with tool calls of the
    /// current turn) to the provider that produced it.
    pub echo_reasoning: Option<bool>,
}

/// The name of the output limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaxTokensField {
    /// `max_tokens` (every OpenAI-compatible server knows it; some only it).
    MaxTokens,
    /// `max_completion_tokens` (OpenAI's reasoning models require it).
    MaxCompletionTokens,
}

impl MaxTokensField {
    /// The JSON field name.
    pub fn as_str(self) -> &'static str {
        match self {
            MaxTokensField::MaxTokens => "max_tokens",
            MaxTokensField::MaxCompletionTokens => "max_completion_tokens",
        }
    }
}

/// The quirks applied to one provider and model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quirks {
    /// The output limit's field (OpenAI-compatible only).
    pub max_tokens_field: MaxTokensField,
    /// `temperature` may be sent.
    pub temperature: bool,
    /// Reasoning is sent back to this provider.
    pub echo_reasoning: bool,
}

impl Quirks {
    /// The table's quirks for `s`, then the user's overrides.
    pub fn of(s: &ProviderSettings) -> Self {
        let table = Self::table(s.kind, &s.base_url, &s.model, s.options.thinking_budget);
        let o = &s.options.quirks;
        Quirks {
            max_tokens_field: o.max_tokens_field.unwrap_or(table.max_tokens_field),
            temperature: o.temperature.unwrap_or(table.temperature),
            echo_reasoning: o.echo_reasoning.unwrap_or(table.echo_reasoning),
        }
    }

    /// The table alone.
    pub fn table(kind: ProviderKind, base_url: &str, model: &str, thinking: Option<u32>) -> Self {
        let family = model
            .rsplit('/')
            .next()
            .unwrap_or(model)
            .to_ascii_lowercase();
        let openai_reasoning = family.starts_with("gpt-5")
            || ["o1", "o3", "o4"]
                .iter()
                .any(|f| family == *f || family.starts_with(&format!("{f}-")));
        let host = base_url
            .split("://")
            .nth(1)
            .unwrap_or(base_url)
            .split(['/', ':'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let strict_host = host == "api.groq.com" || host.ends_with(".groq.com");
        match kind {
            ProviderKind::Openai | ProviderKind::Responses => Quirks {
                max_tokens_field: if openai_reasoning {
                    MaxTokensField::MaxCompletionTokens
                } else {
                    MaxTokensField::MaxTokens
                },
                temperature: !openai_reasoning,
                echo_reasoning: !strict_host,
            },
            ProviderKind::Anthropic => Quirks {
                max_tokens_field: MaxTokensField::MaxTokens,
                temperature: thinking.is_none(),
                echo_reasoning: true,
            },
        }
    }

    /// What these quirks change from a plain request, in words (for
    /// `chitin doctor`); empty when nothing.
    pub fn describe(&self, s: &ProviderSettings) -> Vec<String> {
        let mut out = Vec::new();
        if s.kind == ProviderKind::Openai
            && self.max_tokens_field == MaxTokensField::MaxCompletionTokens
        {
            out.push("the output limit is sent as `max_completion_tokens`".to_string());
        }
        if s.kind == ProviderKind::Responses
            && self.max_tokens_field == MaxTokensField::MaxCompletionTokens
        {
            out.push(
                "reasoning items are kept encrypted and sent back with the turn's tool results"
                    .to_string(),
            );
        }
        if !self.temperature {
            out.push(match s.options.temperature {
                Some(t) => format!("the configured temperature {t} is not sent"),
                None => "no temperature is sent".to_string(),
            });
        }
        if s.kind == ProviderKind::Openai && !self.echo_reasoning {
            out.push("reasoning is never sent back".to_string());
        }
        if let Some(budget) = s
            .options
            .thinking_budget
            .filter(|_| s.kind == ProviderKind::Anthropic)
        {
            out.push(format!(
                "extended thinking is on ({budget} budget tokens), its signed blocks sent back with tool results"
            ));
        }
        if s.kind == ProviderKind::Anthropic && !s.options.no_prompt_cache {
            out.push(
                "prompt caching: cache_control on the system prompt, the tools and the history's stable prefix".into(),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_knows_the_families() {
        let q = |kind, url: &str, m: &str| Quirks::table(kind, url, m, None);
        let oa = "https://api.openai.com/v1";
        for m in [
            "gpt-5",
            "gpt-5-mini",
            "openai/gpt-5.1",
            "o1",
            "o3-mini",
            "o4-mini-2025-04-16",
            "openai/o3",
        ] {
            let got = q(ProviderKind::Openai, oa, m);
            assert_eq!(
                got.max_tokens_field,
                MaxTokensField::MaxCompletionTokens,
                "{m}"
            );
            assert!(!got.temperature, "{m}");
        }
        for m in [
            "gpt-4o-mini",
            "deepseek-chat",
            "llama3.2",
            "o1x",
            "qwen/qwen3-coder",
            "solar-o3",
        ] {
            let got = q(ProviderKind::Openai, oa, m);
            assert_eq!(got.max_tokens_field, MaxTokensField::MaxTokens, "{m}");
            assert!(got.temperature && got.echo_reasoning, "{m}");
        }
        assert!(
            !q(
                ProviderKind::Openai,
                "https://api.groq.com/openai/v1",
                "qwen-qwq"
            )
            .echo_reasoning
        );
        assert!(
            q(
                ProviderKind::Openai,
                "https://api.deepseek.com",
                "deepseek-reasoner"
            )
            .echo_reasoning
        );
        assert!(!Quirks::table(ProviderKind::Anthropic, "x", "claude", Some(2048)).temperature);
    }
}
