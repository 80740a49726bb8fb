//! `[provider]`, its `[[provider.fallback]]`s and `[prices.MODEL]`: what
//! they resolve to (settings with the key from the secret store, a key
//! never carried to another server) and what they must hold.

use super::ConfigError;
use crate::provider::{ProviderKind, ProviderSettings, RequestOptions};
use serde::Deserialize;
use std::path::Path;
use std::time::Duration;
use thiserror::Error;

/// `[provider]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSection {
    /// `openai` or `anthropic`.
    pub kind: Option<ProviderKind>,
    /// Base URL.
    pub base_url: Option<String>,
    /// Model.
    pub model: Option<String>,
    /// Name of the API key in the secret store.
    pub api_key_secret: Option<String>,
    /// Request timeout.
    pub timeout_secs: Option<u64>,
    /// Retries.
    pub max_retries: Option<u32>,
    /// First retry delay in ms.
    pub retry_base_ms: Option<u64>,
    /// Sampling temperature.
    pub temperature: Option<f32>,
    /// Anthropic extended thinking budget (tokens).
    pub thinking_budget: Option<u32>,
    /// Anthropic prompt caching (default on).
    pub prompt_cache: Option<bool>,
    /// Overrides of the quirks table.
    #[serde(default)]
    pub quirks: crate::provider::quirks::Overrides,
    /// Providers to continue on, in order, when this one is down.
    #[serde(default)]
    pub fallback: Vec<FallbackSection>,
}

/// One `[[provider.fallback]]`: unset values come from `[provider]`, the
/// API key only when the base URL is the same (a key is never sent to
/// another server than the one it was configured for).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FallbackSection {
    /// `openai` or `anthropic`.
    pub kind: Option<ProviderKind>,
    /// Base URL.
    pub base_url: Option<String>,
    /// Model (required).
    pub model: Option<String>,
    /// Name of the API key in the secret store.
    pub api_key_secret: Option<String>,
    /// Anthropic extended thinking budget (tokens).
    pub thinking_budget: Option<u32>,
}

/// Prices of one model, USD per million tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    /// Uncached input.
    #[serde(default)]
    pub input: f64,
    /// Input read from the cache (the input price when unset).
    pub cached_input: Option<f64>,
    /// Input written to the cache (the input price when unset).
    pub cache_write: Option<f64>,
    /// Output.
    #[serde(default)]
    pub output: f64,
}

impl Prices {
    /// What `usage` cost, in USD.
    pub fn cost(&self, usage: &crate::messages::Usage) -> f64 {
        let per = |tokens: u64, price: f64| tokens as f64 * price / 1e6;
        per(usage.uncached_input(), self.input)
            + per(
                usage.cache_read_tokens,
                self.cached_input.unwrap_or(self.input),
            )
            + per(
                usage.cache_write_tokens,
                self.cache_write.unwrap_or(self.input),
            )
            + per(usage.output_tokens, self.output)
    }
}

/// The API a provider kind talks to when no base URL is configured.
pub fn default_base_url(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::Anthropic => "https://api.anthropic.com/v1",
        ProviderKind::Openai | ProviderKind::Responses => "https://api.openai.com/v1",
    }
}

/// Why no provider can be built, in words that say what to configure.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0}")]
pub struct NotConfigured(pub String);

impl ProviderSection {
    /// Resolve into settings. `key_lookup` reads a secret store entry.
    pub fn settings(
        &self,
        config_path: &Path,
        env_key: Option<&str>,
        key_lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ProviderSettings, NotConfigured> {
        let path = config_path.display();
        let kind = self.kind.ok_or_else(|| {
            NotConfigured(format!(
                "no model provider is configured: set [provider] kind (\"openai\" or \"anthropic\"), base_url and model in {path} (or CHITIN_PROVIDER, CHITIN_BASE_URL, CHITIN_MODEL)"
            ))
        })?;
        let base_url = match &self.base_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => default_base_url(kind).to_string(),
        };
        let model = self.model.clone().ok_or_else(|| {
            NotConfigured(format!(
                "no model is configured: set [provider] model in {path} (or CHITIN_MODEL)"
            ))
        })?;
        let api_key = match (env_key, &self.api_key_secret) {
            (Some(k), _) => Some(k.to_string()),
            (None, Some(name)) => Some(key_lookup(name).ok_or_else(|| {
                NotConfigured(format!(
                    "the API key secret `{name}` named in {path} is not in the secret store: store it with `chitin secret set {name}`"
                ))
            })?),
            (None, None) => None,
        };
        Ok(ProviderSettings {
            kind,
            base_url,
            model,
            api_key,
            timeout: Duration::from_secs(self.timeout_secs.unwrap_or(60).max(1)),
            max_retries: self.max_retries.unwrap_or(3),
            retry_base: Duration::from_millis(self.retry_base_ms.unwrap_or(500)),
            options: RequestOptions {
                temperature: self.temperature,
                thinking_budget: self.thinking_budget,
                no_prompt_cache: self.prompt_cache == Some(false),
                quirks: self.quirks.clone(),
            },
        })
    }

    /// The fallbacks' settings, in order, resolved against `primary`.
    pub fn fallbacks(
        &self,
        primary: &ProviderSettings,
        config_path: &Path,
        key_lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Vec<ProviderSettings>, NotConfigured> {
        let path = config_path.display();
        self.fallback
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let n = i + 1;
                let model = f.model.clone().ok_or_else(|| {
                    NotConfigured(format!(
                        "[[provider.fallback]] number {n} in {path} names no model"
                    ))
                })?;
                let kind = f.kind.unwrap_or(primary.kind);
                // Another kind without a base URL means that kind's own API.
                let base_url = match (&f.base_url, kind == primary.kind) {
                    (Some(u), _) => u.trim_end_matches('/').to_string(),
                    (None, true) => primary.base_url.clone(),
                    (None, false) => default_base_url(kind).to_string(),
                };
                let same_server = base_url == primary.base_url;
                let api_key = match &f.api_key_secret {
                    Some(name) => Some(key_lookup(name).ok_or_else(|| {
                        NotConfigured(format!(
                            "the API key secret `{name}` of [[provider.fallback]] number {n} in {path} is not in the secret store: store it with `chitin secret set {name}`"
                        ))
                    })?),
                    None if same_server => primary.api_key.clone(),
                    None => None,
                };
                let mut s = primary.clone();
                if !same_server || kind != primary.kind {
                    // The main provider's tuning is for its own models.
                    s.options = RequestOptions::default();
                }
                s.kind = kind;
                s.base_url = base_url;
                s.model = model;
                s.api_key = api_key;
                s.options.thinking_budget = f.thinking_budget;
                Ok(s)
            })
            .collect()
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let budgets = std::iter::once(self.thinking_budget)
            .chain(self.fallback.iter().map(|f| f.thinking_budget))
            .flatten();
        for b in budgets {
            if b < 1024 {
                return Err(ConfigError::Value {
                    key: "provider.thinking_budget".into(),
                    value: b.to_string(),
                    detail: "Anthropic's minimum is 1024 tokens".into(),
                });
            }
        }
        if let Some(t) = self.temperature.filter(|t| !(0.0..=2.0).contains(t)) {
            return Err(ConfigError::Value {
                key: "provider.temperature".into(),
                value: t.to_string(),
                detail: "expected a number from 0 to 2".into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use super::*;

    #[test]
    fn fallbacks_inherit_a_key_only_for_the_same_server() {
        let text = r#"
[provider]
kind = "openai"
base_url = "https://openrouter.ai/api/v1/"
model = "a"
api_key_secret = "OR"
thinking_budget = 2048

[[provider.fallback]]
model = "b"

[[provider.fallback]]
base_url = "https://openrouter.ai/api/v1"
model = "c"

[[provider.fallback]]
kind = "anthropic"
model = "d"

[[provider.fallback]]
base_url = "http://127.0.0.1:11434/v1"
model = "e"
api_key_secret = "LOCAL"
"#;
        let c = Config::parse(text, Path::new("c.toml")).unwrap();
        let lookup = |n: &str| Some(format!("key-{n}"));
        let main = c
            .provider
            .settings(Path::new("c.toml"), None, &lookup)
            .unwrap();
        let f = c
            .provider
            .fallbacks(&main, Path::new("c.toml"), &lookup)
            .unwrap();
        let got: Vec<(&str, &str, Option<&str>)> = f
            .iter()
            .map(|s| (s.base_url.as_str(), s.model.as_str(), s.api_key.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("https://openrouter.ai/api/v1", "b", Some("key-OR")),
                ("https://openrouter.ai/api/v1", "c", Some("key-OR")),
                // Another server: never the main key.
                ("https://api.anthropic.com/v1", "d", None),
                ("http://127.0.0.1:11434/v1", "e", Some("key-LOCAL")),
            ]
        );
        assert_eq!(f[2].kind, ProviderKind::Anthropic);
        assert_eq!(f[0].options.thinking_budget, None, "set per fallback");
        let bad = "[provider]\nkind = \"anthropic\"\nmodel = \"m\"\nthinking_budget = 100";
        let e = Config::parse(bad, Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("1024"), "{e}");
        let none = "[provider]\nkind = \"openai\"\nmodel = \"m\"\n[[provider.fallback]]\nkind = \"openai\"";
        let c = Config::parse(none, Path::new("c.toml")).unwrap();
        let main = c
            .provider
            .settings(Path::new("c.toml"), None, &lookup)
            .unwrap();
        let e = c
            .provider
            .fallbacks(&main, Path::new("c.toml"), &lookup)
            .unwrap_err();
        assert!(e.0.contains("names no model"), "{e}");
    }

    #[test]
    fn settings_say_what_is_missing() {
        let none = |_: &str| None;
        let mut p = ProviderSection::default();
        let e = p.settings(Path::new("c.toml"), None, &none).unwrap_err();
        assert!(e.0.contains("[provider] kind"), "{e}");
        p.kind = Some(ProviderKind::Openai);
        let e = p.settings(Path::new("c.toml"), None, &none).unwrap_err();
        assert!(e.0.contains("model"), "{e}");
        p.model = Some("m".into());
        p.api_key_secret = Some("KEY".into());
        let e = p.settings(Path::new("c.toml"), None, &none).unwrap_err();
        assert!(e.0.contains("chitin secret set KEY"), "{e}");
        let s = p
            .settings(Path::new("c.toml"), None, &|n| Some(format!("v-{n}")))
            .unwrap();
        assert_eq!(s.api_key.as_deref(), Some("v-KEY"));
        assert_eq!(s.base_url, "https://api.openai.com/v1");
        let s = p.settings(Path::new("c.toml"), Some("env"), &none).unwrap();
        assert_eq!(s.api_key.as_deref(), Some("env"));
    }
}
