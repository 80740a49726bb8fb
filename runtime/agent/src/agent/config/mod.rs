//! `config.toml`: the provider, the agent's limits and the daemon's address.
//! Created with comments on first use; flags and `CHITIN_*` environment
//! variables override it. API keys are never read from this file: it names a
//! secret in the secret store instead (or `CHITIN_API_KEY` supplies one).

use crate::provider::ProviderKind;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The daemon's default address: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7878";

mod channels;
mod heartbeat;
mod interpreter;
mod mcp;
mod memory;
mod provider;

pub use channels::{
    ChannelsSection, DiscordSection, SlackSection, TelegramSection, WebhookSection,
};
pub use heartbeat::{HeartbeatSection, MIN_HEARTBEAT_MINUTES};
pub use interpreter::InterpreterSection;
pub use mcp::{McpSection, McpServerSection};
pub use memory::MemorySection;
pub use provider::{FallbackSection, NotConfigured, Prices, ProviderSection, default_base_url};

/// The file written on first use.
pub const TEMPLATE: &str = r#"# Chitin configuration.
# Flags and environment variables override these values:
#   CHITIN_PROVIDER, CHITIN_BASE_URL, CHITIN_MODEL, CHITIN_API_KEY, CHITIN_LISTEN.
# API keys never go in this file: store one with `chitin secret set NAME`
# and name it in `api_key_secret` below.

[provider]
# "openai" speaks OpenAI-compatible Chat Completions: OpenAI, OpenRouter,
# DeepSeek, Kimi, GLM, MiniMax, Qwen, Ollama, vLLM, llama.cpp ...
# "anthropic" speaks the Anthropic Messages API; "responses" OpenAI's
# Responses API (stateless; reasoning models keep their reasoning across
# tool steps).
# kind = "openai"
# base_url = "https://api.openai.com/v1"    # Ollama: "http://127.0.0.1:11434/v1"
# model = "gpt-4o-mini"
# api_key_secret = "OPENAI_API_KEY"        # a name in the secret store
# timeout_secs = 60
# max_retries = 3
# temperature = 0.7                       # not sent to models that reject one
# thinking_budget = 4096                  # Anthropic: extended thinking (at least 1024)
# prompt_cache = true                     # Anthropic: cache_control on the stable prefix
#
# Known model-family quirks are applied (see `chitin doctor`); override them:
# [provider.quirks]
# max_tokens_field = "max_completion_tokens"   # or "max_tokens"
# temperature = false                          # never send a temperature
# echo_reasoning = false                       # never send reasoning back
#
# When the provider is down or overloaded after its retries, the turn goes
# on with the next of these (in order); each names its own key, or inherits
# the one above when it keeps the same base_url:
# [[provider.fallback]]
# model = "gpt-4o-mini"                        # same provider, another model
# [[provider.fallback]]
# kind = "anthropic"
# base_url = "https://api.anthropic.com/v1"
# model = "claude-sonnet-4-5"
# api_key_secret = "ANTHROPIC_API_KEY"

# Prices in USD per million tokens, per model, for `chitin usage`:
# [prices."claude-sonnet-4-5"]
# input = 3.0
# cached_input = 0.3
# cache_write = 3.75
# output = 15.0

[agent]
# max_steps = 12                     # model calls per turn
# max_tokens_per_turn = 200000
# max_tokens_per_day = 2000000       # all sessions, UTC day
# max_usd_per_turn = 0.50            # spend caps in USD (need [prices.MODEL])
# max_usd_per_day = 5.00
# max_output_tokens = 4096           # per model call
# context_tokens = 100000            # compact the history near this (estimated)
# summarize = true                   # compaction: a model-written summary (after a memory flush)
# tool_output_max_bytes = 16384      # longer tool outputs are truncated for the model
# approval_timeout_secs = 120        # an unanswered approval denies
# system_prompt = "You are a helpful assistant ..."

[daemon]
# listen = "127.0.0.1:7878"          # non-loopback needs `chitin daemon --allow-remote`

# The sandboxed code interpreter (`python` and `js` tools; install the
# interpreters with `chitin interpreter install`). The model's code runs in
# a WebAssembly interpreter with a scratch directory per session, no
# network unless listed here, and these limits (which an Agent Skill's
# scripts also get at least):
[interpreter]
# enabled = true
# memory_mib = 256
# cpu_ms = 10000
# timeout_ms = 30000
# scratch_mib = 256                  # per session
# allow_net = []                     # e.g. ["https://api.example.com"]

# Memory: Markdown files you can read and edit (DATA/memory/profile.md,
# notes.md, daily/YYYY-MM-DD.md; `chitin memory show|search|edit`). The
# agent saves with `memory_save`, finds with `memory_search`, and is offered
# what matches at the start of each session.
[memory]
# enabled = true
# recall_tokens = 1000               # 0: no recall at session start

# The heartbeat: every few minutes a turn reads your checklist
# (data/HEARTBEAT.md) and tells you only when something needs you
# (scheduled jobs themselves are managed with `chitin cron`).
[heartbeat]
# enabled = false
# every_minutes = 30                 # at least 5
# deliver = "telegram:CHAT"          # or "web" (the Heartbeat session)
# file = "/path/to/HEARTBEAT.md"

# Remote MCP servers (Streamable HTTP) whose tools the agent may use; add
# one with `chitin mcp add NAME URL --secret SECRET` (it pins the tools'
# descriptions; a changed one waits for `chitin mcp accept NAME`):
# [[mcp.servers]]
# name = "docs"
# url = "https://mcp.example.com/mcp"
# secret = "DOCS_MCP_TOKEN"          # a name in the secret store
# header = "Authorization"           # sent as "Bearer <secret>"
"#;

/// The default system prompt.
pub const DEFAULT_SYSTEM_PROMPT: &str = "You are Chitin, a helpful assistant. You can use the tools provided; each runs in a sandbox with only the capabilities the user granted it. If a tool is denied something, say so plainly instead of trying to work around it. Be concise.";

/// Configuration problems.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file cannot be read or created.
    #[error("config file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file does not parse.
    #[error("config file {path} is invalid: {detail}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A value (from the file, a flag or the environment) is wrong.
    #[error("{key} = `{value}` is invalid: {detail}")]
    Value {
        /// The setting.
        key: String,
        /// The value.
        value: String,
        /// What is expected.
        detail: String,
    },
}

/// `[agent]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentSection {
    /// Model calls per turn.
    pub max_steps: u32,
    /// Token budget per turn.
    pub max_tokens_per_turn: u64,
    /// Token budget per UTC day, all sessions.
    pub max_tokens_per_day: u64,
    /// Output cap per model call.
    pub max_output_tokens: u32,
    /// Estimated context size above which the history is compacted.
    pub context_tokens: u64,
    /// Tool outputs longer than this are truncated for the model.
    pub tool_output_max_bytes: usize,
    /// Seconds before an unanswered approval denies.
    pub approval_timeout_secs: u64,
    /// The system prompt.
    pub system_prompt: String,
    /// USD a turn may spend (priced models; see `[prices.MODEL]`).
    pub max_usd_per_turn: Option<f64>,
    /// USD all sessions may spend per UTC day (priced models).
    pub max_usd_per_day: Option<f64>,
    /// Replace old exchanges by a model-written summary when the history
    /// nears `context_tokens` (else only elide and drop them).
    pub summarize: bool,
}

impl Default for AgentSection {
    fn default() -> Self {
        AgentSection {
            max_steps: 12,
            max_tokens_per_turn: 200_000,
            max_tokens_per_day: 2_000_000,
            max_output_tokens: 4096,
            context_tokens: 100_000,
            tool_output_max_bytes: 16 * 1024,
            approval_timeout_secs: 120,
            system_prompt: DEFAULT_SYSTEM_PROMPT.to_string(),
            max_usd_per_turn: None,
            max_usd_per_day: None,
            summarize: true,
        }
    }
}

/// `[daemon]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonSection {
    /// Listen address.
    pub listen: Option<String>,
}

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[provider]`.
    #[serde(default)]
    pub provider: ProviderSection,
    /// `[agent]`.
    #[serde(default)]
    pub agent: AgentSection,
    /// `[daemon]`.
    #[serde(default)]
    pub daemon: DaemonSection,
    /// `[prices.MODEL]`.
    #[serde(default)]
    pub prices: std::collections::BTreeMap<String, Prices>,
    /// `[mcp]`: remote MCP servers.
    #[serde(default)]
    pub mcp: McpSection,
    /// `[channels]`: chat apps and webhooks.
    #[serde(default)]
    pub channels: ChannelsSection,
    /// `[interpreter]`: the sandboxed code interpreter.
    #[serde(default)]
    pub interpreter: InterpreterSection,
    /// `[memory]`: the memory files and their tools.
    #[serde(default)]
    pub memory: MemorySection,
    /// `[heartbeat]`: the periodic checklist turn.
    #[serde(default)]
    pub heartbeat: HeartbeatSection,
}

/// Overrides from flags or the environment (flags win; the CLI merges them).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Provider kind.
    pub provider: Option<String>,
    /// Base URL.
    pub base_url: Option<String>,
    /// Model.
    pub model: Option<String>,
    /// The API key itself (from `CHITIN_API_KEY`).
    pub api_key: Option<String>,
    /// Listen address.
    pub listen: Option<String>,
}

impl Overrides {
    /// Read `CHITIN_PROVIDER`, `CHITIN_BASE_URL`, `CHITIN_MODEL`,
    /// `CHITIN_API_KEY`, `CHITIN_LISTEN`.
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Overrides {
            provider: var("CHITIN_PROVIDER"),
            base_url: var("CHITIN_BASE_URL"),
            model: var("CHITIN_MODEL"),
            api_key: var("CHITIN_API_KEY"),
            listen: var("CHITIN_LISTEN"),
        }
    }
}

impl Config {
    /// Load `path`, creating it from [`TEMPLATE`] if it does not exist.
    pub fn load_or_create(path: &Path) -> Result<Self, ConfigError> {
        let io = |source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        };
        if !path.exists() {
            if let Some(dir) = path.parent() {
                chitin_sandbox::capabilities::secrets::create_private_dir(dir).map_err(io)?;
            }
            std::fs::write(path, TEMPLATE).map_err(io)?;
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        Self::parse(&text, path)
    }

    /// Parse the text of `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Invalid {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
        config.agent.validate()?;
        config.provider.validate()?;
        let mut problems = config.channels.problems();
        problems.extend(config.interpreter.problems());
        problems.extend(config.memory.problems());
        problems.extend(config.heartbeat.problems());
        if !problems.is_empty() {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                detail: problems.join("; "),
            });
        }
        Ok(config)
    }

    /// Apply overrides.
    pub fn apply(&mut self, o: &Overrides) -> Result<(), ConfigError> {
        if let Some(p) = &o.provider {
            self.provider.kind = Some(parse_kind(p)?);
        }
        if let Some(u) = &o.base_url {
            self.provider.base_url = Some(u.clone());
        }
        if let Some(m) = &o.model {
            self.provider.model = Some(m.clone());
        }
        if let Some(l) = &o.listen {
            self.daemon.listen = Some(l.clone());
        }
        Ok(())
    }

    /// The daemon's address.
    pub fn listen(&self) -> Result<SocketAddr, ConfigError> {
        let text = self.daemon.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        text.parse().map_err(|_| ConfigError::Value {
            key: "daemon.listen".into(),
            value: text.into(),
            detail: "expected IP:PORT, e.g. 127.0.0.1:7878".into(),
        })
    }
}

impl AgentSection {
    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, value: String| ConfigError::Value {
            key: format!("agent.{key}"),
            value,
            detail: "must be at least 1".into(),
        };
        if self.max_steps == 0 {
            return Err(bad("max_steps", "0".into()));
        }
        if self.max_output_tokens == 0 {
            return Err(bad("max_output_tokens", "0".into()));
        }
        for (key, v) in [
            ("max_usd_per_turn", self.max_usd_per_turn),
            ("max_usd_per_day", self.max_usd_per_day),
        ] {
            if let Some(v) = v
                && !(v.is_finite() && v > 0.0)
            {
                return Err(ConfigError::Value {
                    key: format!("agent.{key}"),
                    value: v.to_string(),
                    detail: "must be a positive amount of USD".into(),
                });
            }
        }
        if self.tool_output_max_bytes < 256 {
            return Err(ConfigError::Value {
                key: "agent.tool_output_max_bytes".into(),
                value: self.tool_output_max_bytes.to_string(),
                detail: "must be at least 256".into(),
            });
        }
        Ok(())
    }
}

fn parse_kind(text: &str) -> Result<ProviderKind, ConfigError> {
    match text {
        "openai" => Ok(ProviderKind::Openai),
        "anthropic" => Ok(ProviderKind::Anthropic),
        "responses" => Ok(ProviderKind::Responses),
        _ => Err(ConfigError::Value {
            key: "provider.kind".into(),
            value: text.into(),
            detail: "expected `openai` (any OpenAI-compatible API), `anthropic` or `responses` (OpenAI's Responses API)".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_parses_to_defaults() {
        let c = Config::parse(TEMPLATE, Path::new("c.toml")).unwrap();
        assert!(c.provider.kind.is_none());
        assert_eq!(c.agent.max_steps, 12);
        assert_eq!(c.listen().unwrap().to_string(), DEFAULT_LISTEN);
    }

    #[test]
    fn bad_files_are_refused_with_the_key() {
        for (text, needle) in [
            ("[provider]\nkind = \"foo\"", "kind"),
            ("[provider]\napi_key = \"sk-1\"", "api_key"),
            ("[agent]\nmax_steps = 0", "agent.max_steps"),
            ("[daemon]\nport = 1", "port"),
        ] {
            let e = Config::parse(text, Path::new("c.toml"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }
}
